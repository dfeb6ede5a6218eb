package auth

import (
	"testing"
)

// The SASL parsers take bytes from unauthenticated clients: they must
// never panic, whatever arrives.

func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00secret"))
	f.Add([]byte("a\x00a\x00b"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, p, err := ParsePlain(b)
		if err == nil && (u == "" || p == "") {
			t.Fatal("empty user or password accepted")
		}
	})
}

func FuzzScramExchange(f *testing.F) {
	f.Add("n,,n=user,r=abc", "c=biws,r=abcdef,p=AAAA")
	f.Add("n,a=u,n=u,r=x,tokenauth=true", "c=biws,r=x,p=")
	cred, _ := NewScramCredential(MechScramSHA256, "pw", 4096)
	f.Fuzz(func(t *testing.T, first, final string) {
		s := newScramSession(MechScramSHA256, func(string, string) (ScramCredential, bool) { return cred, true })
		if _, _, err := s.Step([]byte(first)); err != nil {
			return
		}
		if _, done, err := s.Step([]byte(final)); err == nil || done {
			t.Fatalf("random proof accepted: %q %q", first, final)
		}
	})
}

func FuzzParseScramClientFinal(f *testing.F) {
	f.Add("c=biws,r=abc,p=dGVzdA==")
	f.Fuzz(func(t *testing.T, s string) {
		ParseScramClientFinal(s)
	})
}

func FuzzOAuthBearer(f *testing.F) {
	f.Add([]byte("n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &oauthSession{}
		s.Step(b)
	})
}

func FuzzParseJAAS(f *testing.F) {
	f.Add(`org.apache.kafka.common.security.plain.PlainLoginModule required user_a="b";`)
	f.Fuzz(func(t *testing.T, s string) {
		ParseJAAS(s)
	})
}
