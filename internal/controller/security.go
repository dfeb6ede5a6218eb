package controller

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// CreateACLs adds ACLs; ACLs that exist already are left as they are.
// Validation (codes, names) is the caller's.
func (c *Controller) CreateACLs(acls []metadata.ACL) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	var recs []metadata.Record
	var added []metadata.ACL
	for _, a := range acls {
		if slices.Contains(img.ACLs, a) || slices.Contains(added, a) {
			continue
		}
		added = append(added, a)
		recs = append(recs, metadata.Record{ACL: &metadata.ACLRecord{ACL: a}})
	}
	if err := c.commit(recs); err != nil {
		return fail(kerr.UnknownServerError, "%v", err)
	}
	if len(recs) > 0 {
		c.log.Info("ACLs created", "count", len(recs))
	}
	return nil
}

// DeleteACLs removes, for each filter, the ACLs it matches, and returns
// them per filter (an ACL matched by two filters is listed under both, as
// in Kafka).
func (c *Controller) DeleteACLs(filters []func(metadata.ACL) bool) ([][]metadata.ACL, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	out := make([][]metadata.ACL, len(filters))
	var recs []metadata.Record
	removed := map[metadata.ACL]bool{}
	for i, f := range filters {
		for _, a := range img.ACLs {
			if !f(a) {
				continue
			}
			out[i] = append(out[i], a)
			if !removed[a] {
				removed[a] = true
				recs = append(recs, metadata.Record{RemoveACL: &metadata.RemoveACLRecord{ACL: a}})
			}
		}
	}
	if err := c.commit(recs); err != nil {
		return nil, fail(kerr.UnknownServerError, "%v", err)
	}
	if len(recs) > 0 {
		c.log.Info("ACLs deleted", "count", len(recs))
	}
	return out, nil
}

// ScramChange sets (Credential != nil) or deletes a user's SCRAM
// credential for one mechanism.
type ScramChange struct {
	User       string
	Mechanism  string
	Credential *metadata.ScramCredential
}

// AlterScram applies SCRAM credential changes; each result is nil or an
// *Error (deleting a credential that does not exist is
// RESOURCE_NOT_FOUND, as in Kafka).
func (c *Controller) AlterScram(changes []ScramChange) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	errs := make([]error, len(changes))
	var recs []metadata.Record
	var idx []int
	for i, ch := range changes {
		k := metadata.ScramKey{User: ch.User, Mechanism: ch.Mechanism}
		if ch.Credential == nil {
			if _, ok := img.Scram[k]; !ok {
				errs[i] = fail(kerr.ResourceNotFound, "user %q has no %s credential", ch.User, ch.Mechanism)
				continue
			}
			recs = append(recs, metadata.Record{RemoveScram: &metadata.RemoveScramRecord{User: ch.User, Mechanism: ch.Mechanism}})
		} else {
			cr := ch.Credential
			recs = append(recs, metadata.Record{Scram: &metadata.ScramRecord{
				User: ch.User, Mechanism: ch.Mechanism, Salt: cr.Salt, StoredKey: cr.StoredKey, ServerKey: cr.ServerKey, Iterations: cr.Iterations}})
		}
		idx = append(idx, i)
	}
	if err := c.commit(recs); err != nil {
		for _, i := range idx {
			errs[i] = fail(kerr.UnknownServerError, "%v", err)
		}
		return errs
	}
	if len(recs) > 0 {
		c.log.Info("SCRAM credentials altered", "count", len(recs))
	}
	return errs
}
