package metadata

import (
	"fmt"
	"maps"
	"slices"
)

// ACL is one access control entry, with Kafka's numeric codes: resource
// type (2 topic, 3 group, 4 cluster, 5 transactional id, 6 delegation
// token, 7 user), pattern type (3 literal, 4 prefixed), operation (2 all,
// 3 read, 4 write, 5 create, 6 delete, 7 alter, 8 describe, 9 cluster
// action, 10 describe configs, 11 alter configs, 12 idempotent write, ...)
// and permission (2 deny, 3 allow).
type ACL struct {
	ResourceType int8   `json:"resourceType"`
	ResourceName string `json:"resourceName"`
	PatternType  int8   `json:"patternType"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

// ACLRecord adds an ACL (a no-op if the same ACL exists).
type ACLRecord struct {
	ACL
}

// RemoveACLRecord removes an ACL equal to the given one.
type RemoveACLRecord struct {
	ACL
}

// ScramKey names one SCRAM credential.
type ScramKey struct {
	User      string
	Mechanism string // SCRAM-SHA-256 or SCRAM-SHA-512
}

// ScramCredential is a user's salted SCRAM credential (RFC 5802): never
// the password.
type ScramCredential struct {
	Salt       []byte
	StoredKey  []byte
	ServerKey  []byte
	Iterations int32
}

// ScramRecord sets a user's credential for one mechanism.
type ScramRecord struct {
	User       string `json:"user"`
	Mechanism  string `json:"mechanism"`
	Salt       []byte `json:"salt"`
	StoredKey  []byte `json:"storedKey"`
	ServerKey  []byte `json:"serverKey"`
	Iterations int32  `json:"iterations"`
}

// RemoveScramRecord deletes a user's credential for one mechanism.
type RemoveScramRecord struct {
	User      string `json:"user"`
	Mechanism string `json:"mechanism"`
}

// applySecurity applies the ACL and SCRAM records. Image.ACLs and
// Image.Scram are shared with the base image, so they are replaced, never
// modified in place.
func (b *Builder) applySecurity(r Record) error {
	img := b.img
	switch {
	case r.ACL != nil:
		if !slices.Contains(img.ACLs, r.ACL.ACL) {
			img.ACLs = append(slices.Clip(img.ACLs), r.ACL.ACL)
		}
	case r.RemoveACL != nil:
		i := slices.Index(img.ACLs, r.RemoveACL.ACL)
		if i < 0 {
			return fmt.Errorf("metadata: remove of unknown ACL %+v", r.RemoveACL.ACL)
		}
		img.ACLs = slices.Delete(slices.Clone(img.ACLs), i, i+1)
	case r.Scram != nil:
		s := r.Scram
		if s.User == "" || s.Mechanism == "" {
			return fmt.Errorf("metadata: SCRAM credential without user or mechanism")
		}
		m := maps.Clone(img.Scram)
		if m == nil {
			m = map[ScramKey]ScramCredential{}
		}
		m[ScramKey{s.User, s.Mechanism}] = ScramCredential{Salt: s.Salt, StoredKey: s.StoredKey, ServerKey: s.ServerKey, Iterations: s.Iterations}
		img.Scram = m
	case r.RemoveScram != nil:
		k := ScramKey{r.RemoveScram.User, r.RemoveScram.Mechanism}
		if _, ok := img.Scram[k]; !ok {
			return fmt.Errorf("metadata: remove of unknown SCRAM credential %s/%s", k.User, k.Mechanism)
		}
		m := maps.Clone(img.Scram)
		delete(m, k)
		img.Scram = m
	case r.ClientQuota != nil:
		return b.applyQuota(r.ClientQuota)
	default:
		return ErrUnknownRecord
	}
	return nil
}

func (r Record) isSecurity() bool {
	return r.ACL != nil || r.RemoveACL != nil || r.Scram != nil || r.RemoveScram != nil || r.ClientQuota != nil
}
