// Package metadata owns the cluster metadata image: topics with their IDs,
// partitions, replica assignments, leaders and ISR; topic and broker config
// overrides; registered brokers; the cluster id. It is plain data.
//
// The image changes only by applying Records, in order, from the metadata
// log that the controller writes. A published *Image is immutable: Apply works
// on a copy (see Builder), so readers hold an image without locks.
package metadata

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// UUID is a Kafka UUID (topic ids, cluster ids). The zero UUID means none.
type UUID [16]byte

// NewUUID returns a random version-4 UUID that Kafka would accept: never
// zero, and never starting with '-' once base64url-encoded.
func NewUUID() UUID {
	for {
		var u UUID
		if _, err := rand.Read(u[:]); err != nil {
			panic(err)
		}
		u[6] = (u[6] & 0x0f) | 0x40
		u[8] = (u[8] & 0x3f) | 0x80
		if s := u.String(); u != (UUID{}) && s[0] != '-' {
			return u
		}
	}
}

// String is the base64url (no padding) form Kafka prints.
func (u UUID) String() string { return base64.RawURLEncoding.EncodeToString(u[:]) }

// ParseUUID parses the base64url form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("metadata: bad uuid %q", s)
	}
	copy(u[:], b)
	return u, nil
}

// Partition is one partition's assignment and leadership.
type Partition struct {
	ID             int32
	Replicas       []int32
	ISR            []int32
	Leader         int32 // -1: none
	LeaderEpoch    int32
	PartitionEpoch int32
	// An in-flight reassignment (KIP-455, reassign.go): Replicas is the
	// union of the original and the target replicas.
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Topic is a topic and its partitions; Partitions[i].ID == i.
type Topic struct {
	Name       string
	ID         UUID
	Internal   bool
	Partitions []Partition
	Configs    map[string]string // topic-level overrides only
}

// Broker is a registered broker.
type Broker struct {
	ID int32
	// Host and Port are the first advertised listener's address (what
	// every broker registered before Endpoints existed).
	Host string
	Port int32
	Rack string
	// Endpoints are every advertised listener (endpoints.go); empty in
	// registrations written before they were recorded.
	Endpoints []Endpoint
	// Cluster mode (cluster.go): Epoch changes at every registration of a
	// new broker process; a fenced broker leads nothing and is in no ISR.
	Epoch       int64
	Incarnation string
	Fenced      bool
}

// Image is one version of the cluster metadata.
type Image struct {
	ClusterID     string
	Offset        int64 // metadata log offset of the last applied record
	Topics        map[string]*Topic
	TopicIDs      map[UUID]*Topic
	Brokers       map[int32]*Broker
	BrokerConfigs map[string]string // dynamic cluster-wide broker configs
	// NextProducerID is the first producer id not yet handed out.
	NextProducerID int64
	// ACLs and SCRAM credentials (security.go); replaced, never
	// modified, when they change.
	ACLs  []ACL
	Scram map[ScramKey]ScramCredential
	// Quotas are the client quotas by QuotaKey (quotas.go).
	Quotas map[string]ClientQuota
}

// Empty returns an image with no topics.
func Empty() *Image {
	return &Image{
		Topics:        map[string]*Topic{},
		TopicIDs:      map[UUID]*Topic{},
		Brokers:       map[int32]*Broker{},
		BrokerConfigs: map[string]string{},
	}
}

// SortedTopics returns the topics ordered by name.
func (im *Image) SortedTopics() []*Topic {
	out := make([]*Topic, 0, len(im.Topics))
	for _, t := range im.Topics {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b *Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// SortedBrokers returns the brokers ordered by id.
func (im *Image) SortedBrokers() []*Broker {
	out := make([]*Broker, 0, len(im.Brokers))
	for _, b := range im.Brokers {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b *Broker) int { return int(a.ID - b.ID) })
	return out
}

// Builder applies records to a copy of an image. Topics are copied when
// first changed, so the base image stays untouched.
type Builder struct {
	base    *Image
	img     *Image
	touched map[string]bool
}

// NewBuilder starts a new version from base.
func NewBuilder(base *Image) *Builder {
	img := &Image{
		ClusterID:      base.ClusterID,
		Offset:         base.Offset,
		NextProducerID: base.NextProducerID,
		Topics:         maps.Clone(base.Topics),
		TopicIDs:       maps.Clone(base.TopicIDs),
		Brokers:        maps.Clone(base.Brokers),
		BrokerConfigs:  maps.Clone(base.BrokerConfigs),
		ACLs:           base.ACLs,
		Scram:          base.Scram,
		Quotas:         base.Quotas,
	}
	return &Builder{base: base, img: img, touched: map[string]bool{}}
}

// Image returns the built image; the builder must not be used after.
func (b *Builder) Image() *Image { return b.img }

func (b *Builder) mutableTopic(id UUID) (*Topic, error) {
	t, ok := b.img.TopicIDs[id]
	if !ok {
		return nil, fmt.Errorf("metadata: unknown topic id %s", id)
	}
	if b.touched[t.Name] {
		return t, nil
	}
	c := *t
	c.Partitions = slices.Clone(t.Partitions)
	c.Configs = maps.Clone(t.Configs)
	b.img.Topics[c.Name] = &c
	b.img.TopicIDs[c.ID] = &c
	b.touched[c.Name] = true
	return &c, nil
}

// ErrUnknownRecord is returned for a record of an unknown type.
var ErrUnknownRecord = errors.New("metadata: unknown record type")

// Apply applies one record at metadata log offset off.
func (b *Builder) Apply(off int64, r Record) error {
	img := b.img
	img.Offset = off
	switch {
	case r.Cluster != nil:
		img.ClusterID = r.Cluster.ClusterID
	case r.Topic != nil:
		tr := r.Topic
		if _, ok := img.Topics[tr.Name]; ok {
			return fmt.Errorf("metadata: topic %q exists", tr.Name)
		}
		t := &Topic{Name: tr.Name, ID: tr.ID, Internal: tr.Internal, Configs: map[string]string{}}
		img.Topics[t.Name] = t
		img.TopicIDs[t.ID] = t
		b.touched[t.Name] = true
	case r.Partition != nil:
		pr := r.Partition
		t, err := b.mutableTopic(pr.TopicID)
		if err != nil {
			return err
		}
		p := Partition{
			ID: pr.Partition, Replicas: slices.Clone(pr.Replicas), ISR: slices.Clone(pr.ISR),
			Leader: pr.Leader, LeaderEpoch: pr.LeaderEpoch, PartitionEpoch: pr.PartitionEpoch,
		}
		switch {
		case pr.Partition < 0:
			return fmt.Errorf("metadata: negative partition %d of %s", pr.Partition, t.Name)
		case int(pr.Partition) == len(t.Partitions):
			applyReassignment(&p, Partition{}, pr.Reassignment)
			t.Partitions = append(t.Partitions, p)
		case int(pr.Partition) < len(t.Partitions):
			applyReassignment(&p, t.Partitions[pr.Partition], pr.Reassignment)
			t.Partitions[pr.Partition] = p
		default:
			return fmt.Errorf("metadata: partition %d of %s out of order", pr.Partition, t.Name)
		}
	case r.RemoveTopic != nil:
		t, ok := img.TopicIDs[r.RemoveTopic.ID]
		if !ok {
			return fmt.Errorf("metadata: remove of unknown topic id %s", r.RemoveTopic.ID)
		}
		delete(img.Topics, t.Name)
		delete(img.TopicIDs, t.ID)
	case r.Config != nil:
		c := r.Config
		switch c.ResourceType {
		case ResourceTopic:
			t, ok := img.Topics[c.ResourceName]
			if !ok {
				return fmt.Errorf("metadata: config for unknown topic %q", c.ResourceName)
			}
			t, _ = b.mutableTopic(t.ID)
			if c.Value == nil {
				delete(t.Configs, c.Name)
			} else {
				t.Configs[c.Name] = *c.Value
			}
		case ResourceBroker:
			if c.Value == nil {
				delete(img.BrokerConfigs, c.Name)
			} else {
				img.BrokerConfigs[c.Name] = *c.Value
			}
		default:
			return fmt.Errorf("metadata: config for resource type %d", c.ResourceType)
		}
	case r.Broker != nil:
		img.Brokers[r.Broker.ID] = brokerFromRecord(r.Broker)
	case r.ProducerIDs != nil:
		if r.ProducerIDs.NextProducerID < img.NextProducerID {
			return fmt.Errorf("metadata: producer ids moving back from %d to %d", img.NextProducerID, r.ProducerIDs.NextProducerID)
		}
		img.NextProducerID = r.ProducerIDs.NextProducerID
	case r.isSecurity():
		return b.applySecurity(r)
	default:
		return ErrUnknownRecord
	}
	return nil
}
