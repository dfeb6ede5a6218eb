package auth

import (
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestParsePlain(t *testing.T) {
	for _, c := range []struct {
		in       string
		user, pw string
		ok       bool
	}{
		{"\x00alice\x00secret", "alice", "secret", true},
		{"alice\x00alice\x00secret", "alice", "secret", true},
		{"bob\x00alice\x00secret", "", "", false},
		{"\x00\x00secret", "", "", false},
		{"\x00alice\x00", "", "", false},
		{"alice\x00secret", "", "", false},
		{"\x00a\x00b\x00c", "", "", false},
	} {
		u, p, err := ParsePlain([]byte(c.in))
		if (err == nil) != c.ok || u != c.user || p != c.pw {
			t.Errorf("%q: %q %q %v", c.in, u, p, err)
		}
	}
}

func TestPlainSession(t *testing.T) {
	m := &Mechanisms{Enabled: []string{MechPlain}, PlainUsers: map[string]string{"alice": "secret"}}
	s, err := m.Start(MechPlain)
	if err != nil {
		t.Fatal(err)
	}
	if _, done, err := s.Step([]byte("\x00alice\x00secret")); err != nil || !done || s.Principal() != "User:alice" {
		t.Errorf("good password: %v %v %q", done, err, s.Principal())
	}
	for _, msg := range []string{"\x00alice\x00wrong", "\x00mallory\x00secret", "\x00mallory\x00"} {
		s, _ = m.Start(MechPlain)
		if _, _, err := s.Step([]byte(msg)); err == nil {
			t.Errorf("%q accepted", msg)
		}
	}
	if _, err := m.Start(MechScramSHA256); err == nil {
		t.Error("mechanism that is not enabled started")
	}
}

func TestParseJAAS(t *testing.T) {
	users, err := ParseJAASUsers(`org.apache.kafka.common.security.plain.PlainLoginModule required
		username="admin" password="admin-secret"
		user_admin="admin-secret" user_alice="al\"ice" user_bob=bare;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 || users["admin"] != "admin-secret" || users["alice"] != `al"ice` || users["bob"] != "bare" {
		t.Errorf("users = %v", users)
	}
	for _, bad := range []string{
		"",
		"Module",
		"Module required user_a=\"x\"",
		"Module maybe;",
		"Module required user_a=\"x;",
		"Module required user_a;",
		"Module required; Other required;",
	} {
		if _, err := ParseJAAS(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func unsecuredToken(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(claims)) + "."
}

func TestOAuthBearerUnsecured(t *testing.T) {
	m := &Mechanisms{Enabled: []string{MechOAuthBearer}}
	msg := func(tok string) []byte { return []byte("n,,\x01auth=Bearer " + tok + "\x01\x01") }
	s, _ := m.Start(MechOAuthBearer)
	if _, done, err := s.Step(msg(unsecuredToken(`{"sub":"carol"}`))); err != nil || !done || s.Principal() != "User:carol" {
		t.Errorf("valid token: %v %v %q", done, err, s.Principal())
	}
	exp := time.Now().Add(-time.Minute).Unix()
	for _, tok := range []string{
		unsecuredToken(`{"sub":"carol","exp":` + strconv.FormatInt(exp, 10) + `}`),
		unsecuredToken(`{"nosub":1}`),
		"abc",
		base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x"}`)) + ".sig",
	} {
		s, _ = m.Start(MechOAuthBearer)
		if _, _, err := s.Step(msg(tok)); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("token %q: %v", tok, err)
		}
	}
	for _, bad := range []string{"", "n,,", "n,,\x01auth=Basic x\x01\x01", "x,,\x01auth=Bearer a\x01\x01"} {
		if _, err := ParseOAuthBearer([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
