package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// OAUTHBEARER (RFC 7628) with unsecured JWS tokens (alg "none"), like
// Kafka's OAuthBearerUnsecuredValidatorCallbackHandler: for development
// only. The token's "sub" claim is the principal; "exp", when present,
// must lie in the future. Nothing is signed or verified.

type oauthSession struct {
	principal string
}

func (s *oauthSession) Principal() string { return s.principal }

func (s *oauthSession) Step(in []byte) ([]byte, bool, error) {
	tok, err := ParseOAuthBearer(in)
	if err != nil {
		return nil, false, err
	}
	sub, err := unsecuredSubject(tok, time.Now())
	if err != nil {
		return nil, false, err
	}
	s.principal = UserPrincipal(sub)
	return nil, true, nil
}

// ParseOAuthBearer extracts the token from a client's initial response:
// gs2-header \x01 auth=Bearer <token> \x01 [key=value \x01]* \x01.
func ParseOAuthBearer(msg []byte) (string, error) {
	parts := bytes.Split(msg, []byte{1})
	if len(parts) < 3 || len(parts[len(parts)-1]) != 0 || len(parts[len(parts)-2]) != 0 {
		return "", fmt.Errorf("%w: OAUTHBEARER message is not gs2-header^Aauth=Bearer token^A^A", ErrBadMessage)
	}
	if !bytes.HasPrefix(parts[0], []byte("n,")) && !bytes.HasPrefix(parts[0], []byte("y,")) {
		return "", fmt.Errorf("%w: OAUTHBEARER bad GS2 header", ErrBadMessage)
	}
	for _, kv := range parts[1 : len(parts)-2] {
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok {
			return "", fmt.Errorf("%w: OAUTHBEARER bad key=value", ErrBadMessage)
		}
		if string(k) == "auth" {
			tok, ok := strings.CutPrefix(string(v), "Bearer ")
			if !ok || tok == "" {
				return "", fmt.Errorf("%w: OAUTHBEARER auth is not \"Bearer <token>\"", ErrBadMessage)
			}
			return tok, nil
		}
	}
	return "", fmt.Errorf("%w: OAUTHBEARER message has no auth=", ErrBadMessage)
}

func unsecuredSubject(tok string, now time.Time) (string, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: token is not a JWS (header.payload.signature)", ErrAuthFailed)
	}
	var hdr struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Sub string   `json:"sub"`
		Exp *float64 `json:"exp"`
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[0], "="))
	pb, err2 := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &hdr) != nil || json.Unmarshal(pb, &claims) != nil {
		return "", fmt.Errorf("%w: token header or claims do not decode", ErrAuthFailed)
	}
	if hdr.Alg != "none" {
		return "", fmt.Errorf("%w: only unsecured tokens (alg none) are accepted", ErrAuthFailed)
	}
	if claims.Sub == "" {
		return "", fmt.Errorf("%w: token has no sub claim", ErrAuthFailed)
	}
	if claims.Exp != nil && float64(now.Unix()) >= *claims.Exp {
		return "", fmt.Errorf("%w: token expired", ErrAuthFailed)
	}
	return claims.Sub, nil
}
