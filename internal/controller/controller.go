// Package controller owns the cluster metadata log and every change to it:
// creating and deleting topics, adding partitions, placing replicas, electing
// leaders, config overrides and broker registrations. Each change is a list
// of metadata.Records, persisted (fsync) before it is applied and published
// to subscribers, in order.
//
// This is the single-voter controller: one node holds the log. A Raft quorum
// (etcd-io/raft) replaces the local append with a replicated one; operations
// and records stay the same.
package controller

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// Config configures a controller.
type Config struct {
	Dir       string // directory of the metadata log
	NodeID    int32
	ClusterID string // used only when the log is new; empty: random
	Logger    *slog.Logger

	// Broker registration of this node (single-node mode registers itself).
	Host string
	Port int32
	Rack string
	// Endpoints are every advertised listener of this broker.
	Endpoints []metadata.Endpoint

	// Cluster mode (raft.go, cluster.go): set Voters to run a Raft quorum
	// member instead of the single-node file log.
	Cluster
}

// Controller serializes metadata changes.
type Controller struct {
	cfg Config
	log *slog.Logger

	// mu serializes changes: validate against the current image, append,
	// apply, publish. Subscribers run under mu, in log order.
	mu    sync.Mutex
	store *fileStore // single-node mode
	raft  *raftNode  // cluster mode, quorum member
	obs   *observer  // cluster mode, broker-only node (observer.go)
	clus  *clusterState

	// applyMu serializes applying a change, publishing the image and
	// calling subscribers (and Subscribe itself). Lock order: mu, applyMu.
	applyMu sync.Mutex
	subs    []func(prev, next *metadata.Image) // guarded by applyMu

	image atomic.Pointer[metadata.Image] // published; read without mu
}

// Open replays the metadata log in cfg.Dir, creating it (with a new cluster
// id) if missing, and registers this node as a broker.
func Open(cfg Config) (*Controller, error) {
	if len(cfg.Voters) > 0 {
		if cfg.Broker && !slices.ContainsFunc(cfg.Voters, func(v Voter) bool { return v.ID == cfg.NodeID }) {
			return openObserver(cfg) // a broker-only node (observer.go)
		}
		return openRaft(cfg)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Controller{cfg: cfg, log: cfg.Logger}
	b := metadata.NewBuilder(metadata.Empty())
	store, err := openStore(cfg.Dir, func(off int64, payload []byte) error {
		r, err := metadata.DecodeRecord(payload)
		if err != nil {
			return err
		}
		return b.Apply(off, r)
	})
	if err != nil {
		return nil, err
	}
	c.store = store
	img := b.Image()
	c.image.Store(img)
	if img.ClusterID == "" {
		id := cfg.ClusterID
		if id == "" {
			id = metadata.NewUUID().String()
		}
		if err := c.commit([]metadata.Record{{Cluster: &metadata.ClusterRecord{ClusterID: id}}}); err != nil {
			return nil, err
		}
	} else if cfg.ClusterID != "" && cfg.ClusterID != img.ClusterID {
		store.close()
		return nil, fmt.Errorf("controller: metadata in %s belongs to cluster %s, not the configured cluster.id %s", cfg.Dir, img.ClusterID, cfg.ClusterID)
	}
	if br, ok := img.Brokers[cfg.NodeID]; !ok || br.Host != cfg.Host || br.Port != cfg.Port || br.Rack != cfg.Rack ||
		!slices.Equal(br.Endpoints, cfg.Endpoints) {
		rec := metadata.Record{Broker: &metadata.BrokerRecord{ID: cfg.NodeID, Host: cfg.Host, Port: cfg.Port, Rack: cfg.Rack,
			Endpoints: cfg.Endpoints}}
		if err := c.commit([]metadata.Record{rec}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Image returns the current published image. It must not be modified.
func (c *Controller) Image() *metadata.Image { return c.image.Load() }

// Subscribe registers fn to run after every change, in log order, with the
// image before and after. It runs under the controller's lock: it must not
// call back into the controller. fn is first called with (nil, current).
func (c *Controller) Subscribe(fn func(prev, next *metadata.Image)) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.subs = append(c.subs, fn)
	fn(nil, c.image.Load())
}

// Close closes the metadata log.
func (c *Controller) Close() error {
	if c.obs != nil {
		close(c.obs.closing)
		c.stopCluster()
		return c.obs.close()
	}
	if c.raft != nil {
		c.handOver()
		close(c.raft.closing)
		c.stopCluster()
		return c.raft.close()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.store.close()
}

// commit persists, applies and publishes records. REQUIRES: mu held, or
// called from Open before the controller is shared.
func (c *Controller) commit(recs []metadata.Record) error {
	if len(recs) == 0 {
		return nil
	}
	if c.obs != nil {
		return c.obs.propose(recs, -1)
	}
	if c.raft != nil {
		return c.raft.propose(recs, -1)
	}
	payloads := make([][]byte, len(recs))
	for i, r := range recs {
		payloads[i] = r.Encode()
	}
	prev := c.image.Load()
	b := metadata.NewBuilder(prev)
	// Apply first to a copy: a record that does not apply must never be
	// persisted.
	for i, r := range recs {
		if err := b.Apply(c.store.next+int64(i), r); err != nil {
			return fmt.Errorf("controller: invalid change: %w", err)
		}
	}
	if _, err := c.store.append(payloads); err != nil {
		return fmt.Errorf("controller: write metadata log: %w", err)
	}
	c.publish(b.Image())
	return nil
}

// ValidTopicName checks Kafka's topic name rules.
func ValidTopicName(name string) error {
	if name == "" {
		return errors.New("topic name is empty")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name is %d characters, the maximum is 249", len(name))
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topic name %q has %q: only ASCII letters, digits, '.', '_' and '-' are allowed", name, r)
		}
	}
	return nil
}

// TopicSpec is a topic to create.
type TopicSpec struct {
	Name              string
	Partitions        int32             // -1: default
	ReplicationFactor int16             // -1: default
	Assignments       map[int32][]int32 // explicit replica lists, or nil
	Configs           map[string]string
	Internal          bool
}

// Error is a failed operation with the Kafka error to answer with.
type Error struct {
	Kafka   *kerr.Error
	Message string
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Kafka }

func fail(k *kerr.Error, format string, args ...any) *Error {
	return &Error{Kafka: k, Message: fmt.Sprintf(format, args...)}
}

// Defaults are the values used for -1 in a TopicSpec.
type Defaults struct {
	Partitions        int32
	ReplicationFactor int16
}

// CreateTopics creates topics; each result is nil or an *Error. With
// validateOnly nothing is written. Returned topics are those created.
func (c *Controller) CreateTopics(specs []TopicSpec, def Defaults, validateOnly bool) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	errs := make([]error, len(specs))
	var recs []metadata.Record
	seen := map[string]bool{}
	for i, s := range specs {
		if err := ValidTopicName(s.Name); err != nil {
			errs[i] = fail(kerr.InvalidTopicException, "%v", err)
			continue
		}
		if _, ok := img.Topics[s.Name]; ok || seen[s.Name] {
			errs[i] = fail(kerr.TopicAlreadyExists, "topic %q already exists", s.Name)
			continue
		}
		assign, err := c.place(img, s, def)
		if err != nil {
			errs[i] = err
			continue
		}
		seen[s.Name] = true
		if validateOnly {
			continue
		}
		id := metadata.NewUUID()
		recs = append(recs, metadata.Record{Topic: &metadata.TopicRecord{Name: s.Name, ID: id, Internal: s.Internal}})
		for _, k := range sortedKeys(s.Configs) {
			v := s.Configs[k]
			recs = append(recs, metadata.Record{Config: &metadata.ConfigRecord{
				ResourceType: metadata.ResourceTopic, ResourceName: s.Name, Name: k, Value: &v}})
		}
		for p, replicas := range assign {
			recs = append(recs, metadata.Record{Partition: &metadata.PartitionRecord{
				TopicID: id, Partition: int32(p), Replicas: replicas, ISR: slices.Clone(replicas),
				Leader: replicas[0],
			}})
		}
	}
	if err := c.commit(recs); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = commitError(err)
			}
		}
	} else if len(recs) > 0 {
		for i, s := range specs {
			if errs[i] == nil && !validateOnly {
				c.log.Info("topic created", "topic", s.Name, "partitions", len(c.image.Load().Topics[s.Name].Partitions))
			}
		}
	}
	return errs
}

// place chooses replicas for each partition of a new topic: leaders spread
// round-robin over the live brokers, followers on the next brokers.
func (c *Controller) place(img *metadata.Image, s TopicSpec, def Defaults) ([][]int32, error) {
	brokers := placementBrokers(img)
	if s.Assignments != nil {
		if s.Partitions > 0 || s.ReplicationFactor > 0 {
			return nil, fail(kerr.InvalidRequest, "give either replica assignments or partitions and replication factor")
		}
		out := make([][]int32, len(s.Assignments))
		for p, replicas := range s.Assignments {
			if p < 0 || int(p) >= len(s.Assignments) {
				return nil, fail(kerr.InvalidReplicaAssignment, "partitions in an assignment must be 0..%d", len(s.Assignments)-1)
			}
			if err := checkReplicas(img, replicas); err != nil {
				return nil, err
			}
			out[p] = slices.Clone(replicas)
		}
		return out, nil
	}
	n, rf := s.Partitions, s.ReplicationFactor
	if n == -1 {
		n = def.Partitions
	}
	if rf == -1 {
		rf = def.ReplicationFactor
	}
	if n <= 0 {
		return nil, fail(kerr.InvalidPartitions, "number of partitions must be positive, got %d", n)
	}
	if n > 1<<20 {
		return nil, fail(kerr.InvalidPartitions, "number of partitions %d is too large", n)
	}
	if rf <= 0 {
		return nil, fail(kerr.InvalidReplicationFactor, "replication factor must be positive, got %d", rf)
	}
	if int(rf) > len(brokers) {
		return nil, fail(kerr.InvalidReplicationFactor, "replication factor %d is larger than the %d available brokers", rf, len(brokers))
	}
	start := len(img.Topics)
	out := make([][]int32, n)
	for p := range out {
		r := make([]int32, rf)
		for j := range r {
			r[j] = brokers[(start+p+j)%len(brokers)].ID
		}
		out[p] = r
	}
	return out, nil
}

func checkReplicas(img *metadata.Image, replicas []int32) error {
	if len(replicas) == 0 {
		return fail(kerr.InvalidReplicaAssignment, "empty replica list")
	}
	seen := map[int32]bool{}
	for _, r := range replicas {
		if _, ok := img.Brokers[r]; !ok {
			return fail(kerr.InvalidReplicaAssignment, "broker %d is not registered", r)
		}
		if seen[r] {
			return fail(kerr.InvalidReplicaAssignment, "broker %d appears twice", r)
		}
		seen[r] = true
	}
	return nil
}

// DeleteTopics deletes topics by name (or by id when name is empty).
func (c *Controller) DeleteTopics(names []string, ids []metadata.UUID) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	n := max(len(names), len(ids))
	errs := make([]error, n)
	var recs []metadata.Record
	deleted := map[metadata.UUID]bool{}
	for i := range n {
		var t *metadata.Topic
		if i < len(names) && names[i] != "" {
			t = img.Topics[names[i]]
			if t == nil {
				errs[i] = fail(kerr.UnknownTopicOrPartition, "topic %q does not exist", names[i])
				continue
			}
		} else if i < len(ids) {
			t = img.TopicIDs[ids[i]]
			if t == nil {
				errs[i] = fail(kerr.UnknownTopicID, "topic id %s does not exist", ids[i])
				continue
			}
		}
		if t == nil {
			errs[i] = fail(kerr.InvalidRequest, "no topic name or id given")
			continue
		}
		if deleted[t.ID] {
			continue
		}
		deleted[t.ID] = true
		recs = append(recs, metadata.Record{RemoveTopic: &metadata.RemoveTopicRecord{ID: t.ID}})
		c.log.Info("topic deleted", "topic", t.Name)
	}
	if err := c.commit(recs); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = commitError(err)
			}
		}
	}
	return errs
}

// CreatePartitions grows a topic to count partitions.
func (c *Controller) CreatePartitions(topic string, count int32, assignments [][]int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	t := img.Topics[topic]
	if t == nil {
		return fail(kerr.UnknownTopicOrPartition, "topic %q does not exist", topic)
	}
	have := int32(len(t.Partitions))
	if count <= have {
		return fail(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", topic, have, count)
	}
	if assignments != nil && int32(len(assignments)) != count-have {
		return fail(kerr.InvalidReplicaAssignment, "%d assignments given for %d new partitions", len(assignments), count-have)
	}
	rf := len(t.Partitions[0].Replicas)
	brokers := placementBrokers(img)
	var recs []metadata.Record
	for p := have; p < count; p++ {
		var replicas []int32
		if assignments != nil {
			replicas = assignments[p-have]
			if err := checkReplicas(img, replicas); err != nil {
				return err
			}
		} else {
			if rf > len(brokers) {
				return fail(kerr.InvalidReplicationFactor, "replication factor %d is larger than the %d available brokers", rf, len(brokers))
			}
			for j := range rf {
				replicas = append(replicas, brokers[(int(p)+j)%len(brokers)].ID)
			}
		}
		recs = append(recs, metadata.Record{Partition: &metadata.PartitionRecord{
			TopicID: t.ID, Partition: p, Replicas: replicas, ISR: slices.Clone(replicas), Leader: replicas[0]}})
	}
	if validateOnly {
		return nil
	}
	if err := c.commit(recs); err != nil {
		return commitError(err)
	}
	c.log.Info("partitions added", "topic", topic, "partitions", count)
	return nil
}

// ConfigChange sets (Value != nil) or deletes one config override.
type ConfigChange struct {
	Name  string
	Value *string
}

// AlterConfigs applies config changes to one resource. With replace, every
// override not named in changes is removed (the legacy AlterConfigs API).
// Values must already be validated by the caller.
func (c *Controller) AlterConfigs(resourceType int8, name string, changes []ConfigChange, replace bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	var current map[string]string
	switch resourceType {
	case metadata.ResourceTopic:
		t := img.Topics[name]
		if t == nil {
			return fail(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		current = t.Configs
	case metadata.ResourceBroker:
		current = img.BrokerConfigs
	default:
		return fail(kerr.InvalidRequest, "unsupported resource type %d", resourceType)
	}
	var recs []metadata.Record
	named := map[string]bool{}
	for _, ch := range changes {
		named[ch.Name] = true
		old, ok := current[ch.Name]
		if ch.Value == nil && !ok || ch.Value != nil && ok && old == *ch.Value {
			continue
		}
		recs = append(recs, metadata.Record{Config: &metadata.ConfigRecord{
			ResourceType: resourceType, ResourceName: name, Name: ch.Name, Value: ch.Value}})
	}
	if replace {
		for _, k := range sortedKeys(current) {
			if !named[k] {
				recs = append(recs, metadata.Record{Config: &metadata.ConfigRecord{
					ResourceType: resourceType, ResourceName: name, Name: k}})
			}
		}
	}
	if err := c.commit(recs); err != nil {
		return commitError(err)
	}
	if len(recs) > 0 {
		c.log.Info("configs altered", "resourceType", resourceType, "resource", name, "changes", len(recs))
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// AllocateProducerIDs reserves n producer ids and returns the first.
func (c *Controller) AllocateProducerIDs(n int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for try := 0; ; try++ {
		img := c.image.Load()
		start := img.NextProducerID
		rec := metadata.Record{ProducerIDs: &metadata.ProducerIDsRecord{NextProducerID: start + n}}
		err := c.commitAt(img.Offset, []metadata.Record{rec})
		if errors.Is(err, errConflict) && try < 10 {
			continue // another member allocated first
		}
		if err != nil {
			return -1, err
		}
		return start, nil
	}
}
