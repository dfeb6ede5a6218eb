package auth

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"strings"
	"testing"
)

// rfcVector runs the SCRAM example exchange of an RFC through the server
// side, with the RFC's server nonce.
func rfcVector(t *testing.T, h func() hash.Hash, saltB64 string, clientFirst, serverFirst, clientFinal, serverFinal string) {
	t.Helper()
	salt, _ := base64.StdEncoding.DecodeString(saltB64)
	salted, err := pbkdf2Key(h, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cred := scramFromSalted(h, salt, salted, 4096)
	f, err := ParseScramClientFirst(clientFirst)
	if err != nil {
		t.Fatal(err)
	}
	snonce := strings.TrimPrefix(strings.SplitN(serverFirst, ",", 2)[0], "r="+f.Nonce)
	s := &scramSession{mechanism: "test", h: h, nonce: func() string { return snonce },
		lookup: func(_, user string) (ScramCredential, bool) { return cred, user == "user" }}
	out, done, err := s.Step([]byte(clientFirst))
	if err != nil || done || string(out) != serverFirst {
		t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, serverFirst)
	}
	out, done, err = s.Step([]byte(clientFinal))
	if err != nil || !done || string(out) != serverFinal {
		t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, serverFinal)
	}
	if s.Principal() != "User:user" {
		t.Errorf("principal %q", s.Principal())
	}
}

// RFC 5802 section 5 (SCRAM-SHA-1): the algorithm is the same for every
// hash, so the SHA-1 example checks the shared code.
func TestScramRFC5802Example(t *testing.T) {
	rfcVector(t, sha1.New, "QSXCR+Q6sek8bf92",
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
}

// RFC 7677 section 3 (SCRAM-SHA-256).
func TestScramRFC7677Example(t *testing.T) {
	rfcVector(t, sha256.New, "W22ZaJ0SNY7soEsUEjb6gQ==",
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
}

// scramClient is a minimal client for round trips in tests.
func scramClient(t *testing.T, mech, user, password string, s Session) error {
	t.Helper()
	cnonce := "clientnonce123"
	bare := "n=" + ScramEscape(user) + ",r=" + cnonce
	out, _, err := s.Step([]byte("n,," + bare))
	if err != nil {
		return err
	}
	var nonce, saltB64 string
	iters := 0
	for _, kv := range strings.Split(string(out), ",") {
		switch kv[:2] {
		case "r=":
			nonce = kv[2:]
		case "s=":
			saltB64 = kv[2:]
		case "i=":
			for _, c := range kv[2:] {
				iters = iters*10 + int(c-'0')
			}
		}
	}
	salt, _ := base64.StdEncoding.DecodeString(saltB64)
	salted, err := SaltPassword(mech, password, salt, iters)
	if err != nil {
		t.Fatal(err)
	}
	h := scramHash(mech)
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	sk := h()
	sk.Write(clientKey)
	without := "c=biws,r=" + nonce
	sig := hmacSum(h, sk.Sum(nil), []byte(bare+","+string(out)+","+without))
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	final, done, err := s.Step([]byte(without + ",p=" + base64.StdEncoding.EncodeToString(clientKey)))
	if err != nil {
		return err
	}
	serverSig := hmacSum(h, hmacSum(h, salted, []byte("Server Key")), []byte(bare+","+string(out)+","+without))
	if !done || string(final) != "v="+base64.StdEncoding.EncodeToString(serverSig) {
		t.Fatalf("server final %q done %v", final, done)
	}
	return nil
}

func TestScramRoundTrip(t *testing.T) {
	for _, mech := range []string{MechScramSHA256, MechScramSHA512} {
		cred, err := NewScramCredential(mech, "s3cret", 4096)
		if err != nil {
			t.Fatal(err)
		}
		m := &Mechanisms{Enabled: []string{mech}, Scram: func(m, u string) (ScramCredential, bool) {
			return cred, m == mech && u == "a,b=c"
		}}
		s, _ := m.Start(mech)
		if err := scramClient(t, mech, "a,b=c", "s3cret", s); err != nil {
			t.Fatalf("%s: %v", mech, err)
		}
		if s.Principal() != "User:a,b=c" {
			t.Errorf("principal %q", s.Principal())
		}
		s, _ = m.Start(mech)
		if err := scramClient(t, mech, "a,b=c", "wrong", s); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s wrong password: %v", mech, err)
		}
		s, _ = m.Start(mech)
		if _, _, err := s.Step([]byte("n,,n=nobody,r=abc")); !errors.Is(err, ErrAuthFailed) {
			t.Errorf("%s unknown user: %v", mech, err)
		}
	}
}

func TestParseScramClientFirst(t *testing.T) {
	for _, c := range []struct {
		in   string
		user string
		ok   bool
	}{
		{"n,,n=user,r=abc", "user", true},
		{"y,,n=user,r=abc", "user", true},
		{"n,a=user,n=user,r=abc", "user", true},
		{"n,a=other,n=user,r=abc", "", false},
		{"p=tls-unique,,n=user,r=abc", "", false},
		{"n,,n=us=2Cer=3D,r=abc", "us,er=", true},
		{"n,,n=us=41r,r=abc", "", false},
		{"n,,m=x,n=user,r=abc", "", false},
		{"n,,n=user", "", false},
		{"n,,r=abc,n=user", "", false},
		{"n,,n=,r=abc", "", false},
		{"n,,n=user,r=abc,tokenauth=true", "user", true},
		{"", "", false},
	} {
		f, err := ParseScramClientFirst(c.in)
		if (err == nil) != c.ok || f.User != c.user {
			t.Errorf("%q: user %q err %v, want user %q ok %v", c.in, f.User, err, c.user, c.ok)
		}
	}
}

func TestScramRejectsTokenAuthAndBadFinal(t *testing.T) {
	cred, _ := NewScramCredential(MechScramSHA256, "pw", 4096)
	lookup := func(string, string) (ScramCredential, bool) { return cred, true }
	s := newScramSession(MechScramSHA256, lookup)
	if _, _, err := s.Step([]byte("n,,n=u,r=abc,tokenauth=true")); err == nil {
		t.Error("tokenauth accepted")
	}
	s = newScramSession(MechScramSHA256, lookup)
	if _, _, err := s.Step([]byte("n,,n=u,r=abc")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Step([]byte("c=biws,r=wrongnonce,p=AAAA")); err == nil {
		t.Error("wrong nonce accepted")
	}
	if _, _, err := s.Step([]byte("anything")); err == nil {
		t.Error("step after the end accepted")
	}
}
