package controller

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// QuotaChange sets (Value != nil) or removes one quota value of an entity.
// Validation (entity types, keys, values) is the caller's.
type QuotaChange struct {
	Entity []metadata.QuotaEntity
	Key    string
	Value  *float64
}

// AlterClientQuotas applies quota changes as one metadata change.
func (c *Controller) AlterClientQuotas(changes []QuotaChange) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	var recs []metadata.Record
	for _, ch := range changes {
		cur, ok := img.Quotas[metadata.QuotaKey(ch.Entity)].Values[ch.Key]
		if ch.Value == nil && !ok || ch.Value != nil && ok && cur == *ch.Value {
			continue
		}
		recs = append(recs, metadata.Record{ClientQuota: &metadata.ClientQuotaRecord{Entity: ch.Entity, Key: ch.Key, Value: ch.Value}})
	}
	if err := c.commit(recs); err != nil {
		return fail(kerr.UnknownServerError, "%v", err)
	}
	if len(recs) > 0 {
		c.log.Info("client quotas altered", "changes", len(recs))
	}
	return nil
}
