package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SCRAM iteration bounds, as Kafka enforces them for stored credentials.
const (
	ScramMinIterations = 4096
	ScramMaxIterations = 16384
)

// ScramMechanismNumber is the mechanism's number in the SCRAM credential
// APIs (1 = SCRAM-SHA-256, 2 = SCRAM-SHA-512); 0 for unknown names.
func ScramMechanismNumber(name string) int8 {
	switch name {
	case MechScramSHA256:
		return 1
	case MechScramSHA512:
		return 2
	}
	return 0
}

// ScramMechanismName is the inverse of ScramMechanismNumber ("" if unknown).
func ScramMechanismName(n int8) string {
	switch n {
	case 1:
		return MechScramSHA256
	case 2:
		return MechScramSHA512
	}
	return ""
}

func scramHash(mechanism string) func() hash.Hash {
	switch mechanism {
	case MechScramSHA256:
		return sha256.New
	case MechScramSHA512:
		return sha512.New
	}
	return nil
}

// ScramCredential is what the broker stores for a SCRAM user (RFC 5802
// section 3): never the password, only values derived from the salted
// password.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// ScramFromSaltedPassword derives the stored credential from a salted
// password, as AlterUserScramCredentials sends it.
func ScramFromSaltedPassword(mechanism string, salt, salted []byte, iterations int32) (ScramCredential, error) {
	h := scramHash(mechanism)
	if h == nil {
		return ScramCredential{}, fmt.Errorf("unknown SCRAM mechanism %q", mechanism)
	}
	return scramFromSalted(h, salt, salted, iterations), nil
}

func scramFromSalted(h func() hash.Hash, salt, salted []byte, iterations int32) ScramCredential {
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{
		Salt:       bytes.Clone(salt),
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, []byte("Server Key")),
		Iterations: iterations,
	}
}

// SaltPassword is Hi(password, salt, i) of RFC 5802.
func SaltPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h := scramHash(mechanism)
	if h == nil {
		return nil, fmt.Errorf("unknown SCRAM mechanism %q", mechanism)
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// NewScramCredential salts a password with a random salt.
func NewScramCredential(mechanism, password string, iterations int) (ScramCredential, error) {
	salt := make([]byte, 32)
	rand.Read(salt)
	salted, err := SaltPassword(mechanism, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return ScramFromSaltedPassword(mechanism, salt, salted, int32(iterations))
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// ScramClientFirst is a parsed client-first-message.
type ScramClientFirst struct {
	GS2Header string // "n,," or "y,," with an optional a=authzid
	User      string
	Nonce     string
	Bare      string // client-first-message-bare, for the AuthMessage
	TokenAuth bool   // Kafka's delegation-token extension
}

// ParseScramClientFirst parses "n,[a=authzid],n=user,r=nonce[,ext...]".
// Channel binding ("p=") is refused: Kafka does not support it either.
func ParseScramClientFirst(msg string) (ScramClientFirst, error) {
	var f ScramClientFirst
	bad := func(why string) (ScramClientFirst, error) {
		return ScramClientFirst{}, fmt.Errorf("%w: SCRAM client-first-message: %s", ErrBadMessage, why)
	}
	cbind, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return bad("no GS2 header")
	}
	switch {
	case cbind == "n" || cbind == "y":
	case strings.HasPrefix(cbind, "p="):
		return bad("channel binding is not supported")
	default:
		return bad("bad channel binding flag")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return bad("no GS2 header")
	}
	if authz != "" && !strings.HasPrefix(authz, "a=") {
		return bad("bad authorization id")
	}
	f.GS2Header = cbind + "," + authz + ","
	f.Bare = bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 {
		return bad("want n=user,r=nonce")
	}
	if strings.HasPrefix(attrs[0], "m=") {
		return bad("mandatory extensions are not supported")
	}
	u, ok := strings.CutPrefix(attrs[0], "n=")
	if !ok {
		return bad("want n=user first")
	}
	user, err := scramUnescape(u)
	if err != nil || user == "" {
		return bad("bad user name")
	}
	f.User = user
	if f.Nonce, ok = strings.CutPrefix(attrs[1], "r="); !ok || f.Nonce == "" || !printableNonce(f.Nonce) {
		return bad("want r=nonce second")
	}
	for _, ext := range attrs[2:] {
		k, v, ok := strings.Cut(ext, "=")
		if !ok || k == "" {
			return bad("bad extension")
		}
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			f.TokenAuth = true
		}
	}
	if authz != "" {
		az, err := scramUnescape(authz[2:])
		if err != nil || az != user {
			return bad("authorization id differs from the user name")
		}
	}
	return f, nil
}

func printableNonce(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

// scramUnescape decodes a saslname: "=2C" is ',' and "=3D" is '='; any
// other '=' is an error.
func scramUnescape(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("bad escape in %q", s)
		}
		i += 2
	}
	return b.String(), nil
}

// ScramEscape encodes a user name as a saslname.
func ScramEscape(s string) string {
	return strings.NewReplacer("=", "=3D", ",", "=2C").Replace(s)
}

// ScramClientFinal is a parsed client-final-message.
type ScramClientFinal struct {
	ChannelBinding string // base64 of the GS2 header
	Nonce          string
	Proof          []byte
	WithoutProof   string
}

// ParseScramClientFinal parses "c=...,r=...[,ext...],p=...".
func ParseScramClientFinal(msg string) (ScramClientFinal, error) {
	var f ScramClientFinal
	bad := func(why string) (ScramClientFinal, error) {
		return ScramClientFinal{}, fmt.Errorf("%w: SCRAM client-final-message: %s", ErrBadMessage, why)
	}
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return bad("no proof")
	}
	f.WithoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) == 0 {
		return bad("bad proof")
	}
	f.Proof = proof
	attrs := strings.Split(f.WithoutProof, ",")
	if len(attrs) < 2 {
		return bad("want c=...,r=...")
	}
	var ok bool
	if f.ChannelBinding, ok = strings.CutPrefix(attrs[0], "c="); !ok {
		return bad("want c= first")
	}
	if f.Nonce, ok = strings.CutPrefix(attrs[1], "r="); !ok {
		return bad("want r= second")
	}
	return f, nil
}

type scramState int

const (
	scramWantFirst scramState = iota
	scramWantFinal
	scramDone
)

type scramSession struct {
	mechanism string
	h         func() hash.Hash
	lookup    ScramLookup
	nonce     func() string // server nonce; random unless a test sets it

	state       scramState
	first       ScramClientFirst
	serverFirst string
	cred        ScramCredential
	principal   string
}

func newScramSession(mechanism string, lookup ScramLookup) *scramSession {
	return &scramSession{mechanism: mechanism, h: scramHash(mechanism), lookup: lookup, nonce: randomNonce}
}

func randomNonce() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

func (s *scramSession) Principal() string { return s.principal }

// nonceValue is the r= value of the server-first-message.
func (s *scramSession) nonceValue() string {
	v, _, _ := strings.Cut(strings.TrimPrefix(s.serverFirst, "r="), ",")
	return v
}

func (s *scramSession) Step(in []byte) ([]byte, bool, error) {
	switch s.state {
	case scramWantFirst:
		f, err := ParseScramClientFirst(string(in))
		if err != nil {
			return nil, false, err
		}
		if f.TokenAuth {
			return nil, false, fmt.Errorf("%w: delegation tokens are not supported", ErrAuthFailed)
		}
		cred, ok := s.lookup(s.mechanism, f.User)
		if !ok {
			return nil, false, ErrAuthFailed
		}
		s.first, s.cred = f, cred
		s.serverFirst = "r=" + f.Nonce + s.nonce() +
			",s=" + base64.StdEncoding.EncodeToString(cred.Salt) +
			",i=" + strconv.Itoa(int(cred.Iterations))
		s.state = scramWantFinal
		return []byte(s.serverFirst), false, nil
	case scramWantFinal:
		s.state = scramDone
		f, err := ParseScramClientFinal(string(in))
		if err != nil {
			return nil, false, err
		}
		if f.ChannelBinding != base64.StdEncoding.EncodeToString([]byte(s.first.GS2Header)) {
			return nil, false, fmt.Errorf("%w: SCRAM channel binding does not match the GS2 header", ErrBadMessage)
		}
		// Kafka accepts a final nonce that merely ends with the server's
		// (client nonce + server nonce): librdkafka before 2.1 sends the
		// client nonce twice.
		if !strings.HasSuffix(f.Nonce, s.nonceValue()) {
			return nil, false, fmt.Errorf("%w: SCRAM nonce does not match", ErrBadMessage)
		}
		authMsg := []byte(s.first.Bare + "," + s.serverFirst + "," + f.WithoutProof)
		sig := hmacSum(s.h, s.cred.StoredKey, authMsg)
		if len(f.Proof) != len(sig) {
			return nil, false, ErrAuthFailed
		}
		clientKey := make([]byte, len(sig))
		for i := range sig {
			clientKey[i] = f.Proof[i] ^ sig[i]
		}
		hk := s.h()
		hk.Write(clientKey)
		if subtle.ConstantTimeCompare(hk.Sum(nil), s.cred.StoredKey) != 1 {
			return nil, false, ErrAuthFailed
		}
		s.principal = UserPrincipal(s.first.User)
		serverSig := hmacSum(s.h, s.cred.ServerKey, authMsg)
		return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), true, nil
	}
	return nil, false, fmt.Errorf("%w: SCRAM exchange is over", ErrBadMessage)
}
