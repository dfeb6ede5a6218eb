package auth

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"strings"
	"unicode"
)

// ParsePlain splits a PLAIN message (RFC 4616): authzid NUL authcid NUL
// passwd. A non-empty authzid must equal the user name, as in Kafka.
func ParsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN wants authzid NUL user NUL password", ErrBadMessage)
	}
	authz, u, p := string(parts[0]), string(parts[1]), string(parts[2])
	if u == "" {
		return "", "", fmt.Errorf("%w: PLAIN user name is empty", ErrBadMessage)
	}
	if p == "" {
		return "", "", fmt.Errorf("%w: PLAIN password is empty", ErrBadMessage)
	}
	if authz != "" && authz != u {
		return "", "", fmt.Errorf("%w: authorization id %q differs from user %q", ErrAuthFailed, authz, u)
	}
	return u, p, nil
}

type plainSession struct {
	users     map[string]string
	principal string
}

func (s *plainSession) Step(in []byte) ([]byte, bool, error) {
	u, p, err := ParsePlain(in)
	if err != nil {
		return nil, false, err
	}
	want, ok := s.users[u]
	// Compare even for unknown users, so timing does not tell them apart.
	if subtle.ConstantTimeCompare([]byte(want), []byte(p)) != 1 || !ok {
		return nil, false, ErrAuthFailed
	}
	s.principal = UserPrincipal(u)
	return nil, true, nil
}

func (s *plainSession) Principal() string { return s.principal }

// JAAS is one login module entry of a sasl.jaas.config value:
//
//	org.apache.kafka.common.security.plain.PlainLoginModule required
//	    username="admin" password="admin-secret"
//	    user_admin="admin-secret" user_alice="alice-secret";
type JAAS struct {
	Module  string
	Flag    string
	Options map[string]string
}

// ParseJAAS parses a sasl.jaas.config value holding one login module.
// Option values may be quoted ("..." with \" and \\ escapes) or bare.
func ParseJAAS(s string) (JAAS, error) {
	var j JAAS
	p := &jaasLexer{s: s}
	if j.Module = p.word(); j.Module == "" {
		return j, fmt.Errorf("sasl.jaas.config: missing login module class name")
	}
	if j.Flag = p.word(); j.Flag == "" {
		return j, fmt.Errorf("sasl.jaas.config: missing control flag after %s", j.Module)
	}
	switch j.Flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return j, fmt.Errorf("sasl.jaas.config: control flag %q is not required, requisite, sufficient or optional", j.Flag)
	}
	j.Options = map[string]string{}
	for {
		p.space()
		if p.eof() {
			return j, fmt.Errorf("sasl.jaas.config: missing ';' at the end")
		}
		if p.peek() == ';' {
			p.i++
			p.space()
			if !p.eof() {
				return j, fmt.Errorf("sasl.jaas.config: only one login module is supported")
			}
			return j, nil
		}
		k := p.word()
		if k == "" || p.eof() || p.peek() != '=' {
			return j, fmt.Errorf("sasl.jaas.config: option %q is not key=value", k)
		}
		p.i++
		v, err := p.value()
		if err != nil {
			return j, err
		}
		j.Options[k] = v
	}
}

type jaasLexer struct {
	s string
	i int
}

func (p *jaasLexer) eof() bool  { return p.i >= len(p.s) }
func (p *jaasLexer) peek() byte { return p.s[p.i] }
func (p *jaasLexer) space() {
	for !p.eof() && unicode.IsSpace(rune(p.peek())) {
		p.i++
	}
}

func (p *jaasLexer) word() string {
	p.space()
	start := p.i
	for !p.eof() && !unicode.IsSpace(rune(p.peek())) && p.peek() != '=' && p.peek() != ';' && p.peek() != '"' {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *jaasLexer) value() (string, error) {
	if p.eof() {
		return "", fmt.Errorf("sasl.jaas.config: missing value at the end")
	}
	if p.peek() != '"' {
		return p.word(), nil
	}
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.eof() {
				return "", fmt.Errorf("sasl.jaas.config: unterminated escape")
			}
			b.WriteByte(p.peek())
			p.i++
		default:
			b.WriteByte(c)
		}
	}
	return "", fmt.Errorf("sasl.jaas.config: unterminated quoted value")
}

// PlainLoginModule is the class name Kafka's PLAIN login module has.
const PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"

// ParseJAASUsers returns the PLAIN users of a PlainLoginModule entry: its
// user_<name>="<password>" options, as Kafka's broker-side PLAIN server
// reads them.
func ParseJAASUsers(s string) (map[string]string, error) {
	j, err := ParseJAAS(s)
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	for k, v := range j.Options {
		if name, ok := strings.CutPrefix(k, "user_"); ok && name != "" {
			users[name] = v
		}
	}
	return users, nil
}
