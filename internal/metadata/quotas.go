package metadata

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// QuotaEntity is one part of a client quota entity: Type is "user",
// "client-id" or "ip"; a nil Name is the default entity of that type.
type QuotaEntity struct {
	Type string  `json:"type"`
	Name *string `json:"name"`
}

// ClientQuotaRecord sets (Value != nil) or removes one quota value of an
// entity, such as producer_byte_rate of user=alice.
type ClientQuotaRecord struct {
	Entity []QuotaEntity `json:"entity"`
	Key    string        `json:"key"`
	Value  *float64      `json:"value"`
}

// ClientQuota is an entity's quota values.
type ClientQuota struct {
	Entity []QuotaEntity // sorted by type
	Values map[string]float64
}

// QuotaKey is the canonical form of an entity, used as the key of
// Image.Quotas: "type=name" parts sorted by type, "type" alone for the
// default entity.
func QuotaKey(entity []QuotaEntity) string {
	parts := make([]string, len(entity))
	for i, e := range entity {
		if e.Name == nil {
			parts[i] = e.Type
		} else {
			parts[i] = e.Type + "=" + *e.Name
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, "\x00")
}

func (b *Builder) applyQuota(r *ClientQuotaRecord) error {
	if len(r.Entity) == 0 || r.Key == "" {
		return fmt.Errorf("metadata: client quota without entity or key")
	}
	k := QuotaKey(r.Entity)
	m := maps.Clone(b.img.Quotas)
	if m == nil {
		m = map[string]ClientQuota{}
	}
	q, ok := m[k]
	if !ok {
		ent := slices.Clone(r.Entity)
		slices.SortFunc(ent, func(a, b QuotaEntity) int { return strings.Compare(a.Type, b.Type) })
		q = ClientQuota{Entity: ent}
	}
	q.Values = maps.Clone(q.Values)
	if q.Values == nil {
		q.Values = map[string]float64{}
	}
	if r.Value == nil {
		delete(q.Values, r.Key)
	} else {
		q.Values[r.Key] = *r.Value
	}
	if len(q.Values) == 0 {
		delete(m, k)
	} else {
		m[k] = q
	}
	b.img.Quotas = m
	return nil
}
