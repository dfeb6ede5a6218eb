package auth

import (
	"errors"
	"fmt"
	"slices"
)

// SASL mechanism names, as clients send them in SaslHandshake.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
	MechOAuthBearer = "OAUTHBEARER"
)

// ErrAuthFailed is returned by Step for wrong credentials; the broker
// answers SASL_AUTHENTICATION_FAILED and closes the connection. Its
// message is safe to send to the client (it does not say which part was
// wrong).
var ErrAuthFailed = errors.New("authentication failed: invalid credentials")

// ErrBadMessage is returned for a malformed SASL message.
var ErrBadMessage = errors.New("malformed SASL message")

// Session is one authentication exchange on one connection.
type Session interface {
	// Step consumes the client's next message and returns the server's
	// answer. done is true once the client is authenticated; after an
	// error the session is over.
	Step(in []byte) (out []byte, done bool, err error)
	// Principal is the authenticated principal, valid once done.
	Principal() string
}

// ScramLookup returns a user's stored credential for a SCRAM mechanism.
type ScramLookup func(mechanism, user string) (ScramCredential, bool)

// Mechanisms is what a SASL listener offers.
type Mechanisms struct {
	// Enabled lists the mechanism names in the order they are offered.
	Enabled []string
	// PlainUsers maps PLAIN user names to passwords (from a JAAS-style
	// config, see ParseJAASUsers).
	PlainUsers map[string]string
	// Scram finds SCRAM credentials (stored salted in the metadata).
	Scram ScramLookup
}

// Start begins an exchange with a mechanism, or fails if the mechanism is
// not enabled.
func (m *Mechanisms) Start(mechanism string) (Session, error) {
	if !slices.Contains(m.Enabled, mechanism) {
		return nil, fmt.Errorf("unsupported SASL mechanism %q", mechanism)
	}
	switch mechanism {
	case MechPlain:
		return &plainSession{users: m.PlainUsers}, nil
	case MechScramSHA256, MechScramSHA512:
		lookup := m.Scram
		if lookup == nil {
			lookup = func(string, string) (ScramCredential, bool) { return ScramCredential{}, false }
		}
		return newScramSession(mechanism, lookup), nil
	case MechOAuthBearer:
		return &oauthSession{}, nil
	}
	return nil, fmt.Errorf("unsupported SASL mechanism %q", mechanism)
}
