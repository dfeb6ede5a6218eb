// Package group is Quill's group coordinator for the classic consumer group
// protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup) and for committed
// offsets, persisted in Kafka's __consumer_offsets formats through a Store,
// plus a first, not yet persisted, version of KIP-848 consumer groups
// (ConsumerGroupHeartbeat/ConsumerGroupDescribe, consumer.go).
//
// The server owns the wire and FindCoordinator: it hands decoded kmsg
// requests to Coordinator.Handle and encodes the responses. Which
// __consumer_offsets partitions this broker leads is told through Load and
// Unload. See docs/groups.md for the behaviour.
package group

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Store persists the __consumer_offsets partitions. The server implements it
// over the real log; MemStore is an in-memory version for tests.
//
// The coordinator calls Append while holding the group's lock, so Append
// must not wait for a goroutine that may itself call Load, Unload or Close;
// when leadership of the partition is lost it should fail (NOT_LEADER) rather
// than block. Errors that are *kerr.Error values are mapped as Kafka's
// coordinator maps them; any other error becomes COORDINATOR_NOT_AVAILABLE.
type Store interface {
	// Append writes records to one partition atomically and returns once
	// they are durable to the extent the topic's settings promise (as
	// acks=all would). The coordinator does not reuse records afterwards.
	Append(ctx context.Context, partition int32, records []Record) error
	// Replay calls fn for every record of the partition from the log start,
	// in order, and stops at fn's first error, returning it. Records of
	// transactional batches and transaction markers are passed marked as
	// such (see Record); other control records are not. fn does not retain
	// the record's slices. A Store that also implements TxnStore serves
	// TxnOffsetCommit.
	Replay(partition int32, fn func(Record) error) error
}

// Coordinator serves the group APIs for the __consumer_offsets partitions
// loaded on this broker.
type Coordinator struct {
	cfg    Config
	store  Store
	log    *slog.Logger
	clk    clock
	ctx    context.Context // canceled by Close; bounds background writes
	cancel context.CancelFunc

	// mu guards the fields below. It is a leaf lock: never take a group's
	// mu while holding it.
	mu        sync.Mutex
	parts     map[int32]*PartitionState
	groups    map[string]*group
	closed    bool
	retention stopper
	topics    TopicMetadata // nil until SetTopicMetadata: no KIP-848 groups
}

// New returns a coordinator that leads no partition until Load is called.
// Invalid numeric settings fall back to DefaultConfig's.
func New(cfg Config, store Store, logger *slog.Logger) *Coordinator {
	return newCoordinator(cfg, store, logger, realClock{})
}

func newCoordinator(cfg Config, store Store, logger *slog.Logger, clk clock) *Coordinator {
	def := DefaultConfig()
	if cfg.NumPartitions <= 0 {
		cfg.NumPartitions = def.NumPartitions
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = def.OffsetsRetention
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = def.OffsetsRetentionCheckInterval
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = def.MaxSessionTimeout
	}
	if cfg.ConsumerSessionTimeout <= 0 {
		cfg.ConsumerSessionTimeout = def.ConsumerSessionTimeout
	}
	if cfg.ConsumerHeartbeatInterval <= 0 {
		cfg.ConsumerHeartbeatInterval = def.ConsumerHeartbeatInterval
	}
	if cfg.MigrationPolicy == "" {
		cfg.MigrationPolicy = def.MigrationPolicy
	}
	if len(cfg.ConsumerAssignors) == 0 {
		cfg.ConsumerAssignors = def.ConsumerAssignors
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		cfg:    cfg,
		store:  store,
		log:    logger,
		clk:    clk,
		ctx:    ctx,
		cancel: cancel,
		parts:  make(map[int32]*PartitionState),
		groups: make(map[string]*group),
	}
	c.mu.Lock()
	c.scheduleRetentionLocked()
	c.mu.Unlock()
	return c
}

// REQUIRES: c.mu held.
func (c *Coordinator) scheduleRetentionLocked() {
	if c.closed {
		return
	}
	c.retention = c.clk.AfterFunc(c.cfg.OffsetsRetentionCheckInterval, func() {
		c.expireOffsets()
		c.mu.Lock()
		c.scheduleRetentionLocked()
		c.mu.Unlock()
	})
}

// Close stops timers and answers waiting requests with
// COORDINATOR_NOT_AVAILABLE. The store is not closed.
func (c *Coordinator) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	if c.retention != nil {
		c.retention.Stop()
	}
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		gs = append(gs, g)
	}
	clear(c.groups)
	clear(c.parts)
	c.mu.Unlock()
	c.cancel()
	for _, g := range gs {
		g.mu.Lock()
		g.kill(kerr.CoordinatorNotAvailable.Code)
		g.mu.Unlock()
	}
}

// Load replays a __consumer_offsets partition this broker now leads. Until
// it returns, requests for the partition's groups get
// COORDINATOR_LOAD_IN_PROGRESS. Restored members get a fresh session
// deadline, so a coordinator move does not force a rebalance unless they
// stay silent.
func (c *Coordinator) Load(partition int32) error {
	st := &PartitionState{}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("group coordinator closed")
	}
	old := c.dropPartitionLocked(partition)
	c.parts[partition] = st
	c.mu.Unlock()
	killAll(old, kerr.NotCoordinator.Code)

	loaded, err := c.replay(partition)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := LoadDone(c.parts, "__consumer_offsets", partition, st, err); err != nil {
		return err
	}
	for id, g := range loaded {
		c.groups[id] = g
		g.mu.Lock()
		for _, m := range g.members {
			g.resetHeartbeat(m)
		}
		g.restartCGTimers()
		g.mu.Unlock()
	}
	st.Loaded = true
	if len(loaded) > 0 {
		c.log.Info("group: loaded partition", "partition", partition, "groups", len(loaded))
	} else {
		c.log.Debug("group: loaded partition", "partition", partition)
	}
	return nil
}

// replay rebuilds the groups of one partition from its log.
func (c *Coordinator) replay(partition int32) (map[string]*group, error) {
	groups := make(map[string]*group)
	get := func(id string) *group {
		g := groups[id]
		if g == nil {
			g = newGroup(c, id, partition)
			g.stateTime = time.Time{}
			groups[id] = g
		}
		return g
	}
	metas := make(map[string]*kmsg.GroupMetadataValue)
	metaSeq := make(map[string]int) // position of each group's last classic metadata record
	cgs := make(map[string]*cgReplay)
	seq := 0
	err := c.store.Replay(partition, func(r Record) error {
		seq++
		if handled, err := replayTxn(r, groups, get); handled || err != nil {
			return err
		}
		d, err := decodeRecord(r)
		if err != nil {
			return err
		}
		switch d.kind {
		case kindOffset:
			g := get(d.group)
			if d.offset == nil {
				if tp := g.offsets[d.topic]; tp != nil {
					delete(tp, d.partition)
					if len(tp) == 0 {
						delete(g.offsets, d.topic)
					}
				}
				return nil
			}
			tp := g.offsets[d.topic]
			if tp == nil {
				tp = make(map[int32]offsetEntry)
				g.offsets[d.topic] = tp
			}
			tp[d.partition] = offsetEntry{
				offset:      d.offset.Offset,
				leaderEpoch: d.offset.LeaderEpoch,
				metadata:    d.offset.Metadata,
				commitTime:  time.UnixMilli(d.offset.CommitTimestamp),
			}
		case kindGroup:
			get(d.group)
			if d.meta == nil {
				// A group tombstone removes the membership snapshot; any
				// offsets without their own tombstones stay, as in Kafka.
				delete(metas, d.group)
				return nil
			}
			metas[d.group] = d.meta
			metaSeq[d.group] = seq
		case kindCG:
			get(d.group)
			a := cgs[d.group]
			if a == nil {
				a = newCGReplay()
				cgs[d.group] = a
			}
			if d.cgValue != nil {
				a.raw[string(r.Key)] = bytes.Clone(r.Value)
			}
			a.apply(seq, d.cgKey, r.Key, d.cgValue)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for id, g := range groups {
		a := cgs[id]
		switch {
		case a != nil && a.meta != nil && a.seq > metaSeq[id]:
			// The later of the classic and the consumer group records
			// wins: a conversion tombstones the other, but a crash may
			// land between the two writes.
			g.restoreCG(a)
		case metas[id] != nil:
			g.restore(metas[id])
			if a != nil {
				g.cgPersisted = a.raw // tombstoned by the next conversion
			}
		case a != nil:
			g.cgPersisted = a.raw
		}
		if len(g.offsets) == 0 && metas[id] == nil && g.cg == nil && len(g.txnPending) == 0 {
			delete(groups, id)
		}
	}
	return groups, nil
}

// restore applies a replayed group metadata snapshot. Kafka writes one when
// a generation's assignment is agreed (Stable) or the group empties.
func (g *group) restore(v *kmsg.GroupMetadataValue) {
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.CurrentStateTimestamp >= 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, vm := range v.Members {
		m := &member{
			id:               vm.MemberID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if vm.InstanceID != nil {
			inst := *vm.InstanceID
			m.instanceID = &inst
		}
		g.nextSeq++
		m.seq = g.nextSeq
		g.members[m.id] = m
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	} else if ms := g.orderedMembers(); len(ms) > 0 {
		g.leader = ms[0].id
	}
	if len(g.members) > 0 {
		g.state = stateStable
	} else {
		g.state = stateEmpty
	}
}

// Unload gives up a partition (leadership lost): its groups answer
// NOT_COORDINATOR from now on and waiting requests are answered so.
func (c *Coordinator) Unload(partition int32) {
	c.mu.Lock()
	gs := c.dropPartitionLocked(partition)
	delete(c.parts, partition)
	c.mu.Unlock()
	killAll(gs, kerr.NotCoordinator.Code)
}

// REQUIRES: c.mu held.
func (c *Coordinator) dropPartitionLocked(partition int32) []*group {
	return TakePartition(c.groups, partition, func(g *group) int32 { return g.partition })
}

func killAll(gs []*group, code int16) {
	for _, g := range gs {
		g.mu.Lock()
		g.kill(code)
		g.mu.Unlock()
	}
}

// lookup returns the group locked, or nil if it does not exist and create
// is false, or a Kafka error code if this coordinator cannot serve it.
func (c *Coordinator) lookup(id string, create bool) (*group, int16) {
	p := PartitionFor(id, c.cfg.NumPartitions)
	for {
		c.mu.Lock()
		st := c.parts[p]
		if code := ServeCode(st, c.closed); code != 0 {
			c.mu.Unlock()
			return nil, code
		}
		g := c.groups[id]
		if g == nil && create {
			g = newGroup(c, id, p)
			c.groups[id] = g
		}
		c.mu.Unlock()
		if g == nil {
			return nil, 0
		}
		g.mu.Lock()
		if !g.dead {
			return g, 0
		}
		g.mu.Unlock()
	}
}

// removeGroup deletes a dead group from the coordinator.
// REQUIRES: g.mu held (lock order group -> coordinator).
func (c *Coordinator) removeGroup(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// loadedGroups snapshots the groups of loaded partitions.
func (c *Coordinator) loadedGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	gs := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		if st := c.parts[g.partition]; st != nil && st.Loaded {
			gs = append(gs, g)
		}
	}
	return gs
}

type clientKey struct{}

type clientInfo struct{ id, host string }

// WithClient returns a context carrying the request header's client id and
// the connection's client host, which JoinGroup records for the member (they
// are shown by DescribeGroups and prefix generated member ids).
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientInfo{clientID, clientHost})
}

func clientFrom(ctx context.Context) clientInfo {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci
}

// VersionRange is an inclusive range of request versions.
type VersionRange struct{ Min, Max int16 }

// SupportedVersions lists the API keys Handle serves and their versions, for
// ApiVersions. OffsetCommit and OffsetFetch stop at v9: v10 identifies
// topics by id, which the coordinator cannot resolve.
func SupportedVersions() map[int16]VersionRange {
	return map[int16]VersionRange{
		8:  {0, 9}, // OffsetCommit
		9:  {0, 9}, // OffsetFetch
		11: {0, 9}, // JoinGroup
		12: {0, 4}, // Heartbeat
		13: {0, 5}, // LeaveGroup
		14: {0, 5}, // SyncGroup
		15: {0, 6}, // DescribeGroups
		16: {0, 5}, // ListGroups
		42: {0, 3}, // DeleteGroups
		28: {0, 4}, // TxnOffsetCommit (txn.go)
		47: {0, 0}, // OffsetDelete
		68: {0, 1}, // ConsumerGroupHeartbeat, once SetTopicMetadata is called
		69: {0, 1}, // ConsumerGroupDescribe
	}
}

// Handle serves one group API request and returns the response of the same
// version. JoinGroup and SyncGroup block until the rebalance step they wait
// for completes, ctx is done (then the error is ctx's) or the coordinator
// closes. Errors are only returned for requests Handle does not serve.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		return c.handleJoinGroup(ctx, r)
	case *kmsg.SyncGroupRequest:
		return c.handleSyncGroup(ctx, r)
	case *kmsg.HeartbeatRequest:
		return c.handleHeartbeat(ctx, r), nil
	case *kmsg.LeaveGroupRequest:
		return c.handleLeaveGroup(r), nil
	case *kmsg.OffsetCommitRequest:
		return c.handleOffsetCommit(ctx, r), nil
	case *kmsg.OffsetFetchRequest:
		return c.handleOffsetFetch(r), nil
	case *kmsg.DescribeGroupsRequest:
		return c.handleDescribeGroups(r), nil
	case *kmsg.ListGroupsRequest:
		return c.handleListGroups(r), nil
	case *kmsg.DeleteGroupsRequest:
		return c.handleDeleteGroups(ctx, r), nil
	case *kmsg.TxnOffsetCommitRequest:
		return c.handleTxnOffsetCommit(ctx, r), nil
	case *kmsg.OffsetDeleteRequest:
		return c.handleOffsetDelete(ctx, r), nil
	case *kmsg.ConsumerGroupHeartbeatRequest:
		return c.handleConsumerGroupHeartbeat(ctx, r), nil
	case *kmsg.ConsumerGroupDescribeRequest:
		return c.handleConsumerGroupDescribe(r), nil
	default:
		return nil, fmt.Errorf("group coordinator does not serve API key %d", req.Key())
	}
}

// CommittedOffsets returns a group's committed offsets by topic and
// partition (for lag reporting). An unknown group yields an empty map; a
// group this broker does not coordinate yields the Kafka error.
func (c *Coordinator) CommittedOffsets(groupID string) (map[string]map[int32]int64, error) {
	g, code := c.lookup(groupID, false)
	if code != 0 {
		return nil, kerr.ErrorForCode(code)
	}
	out := make(map[string]map[int32]int64)
	if g == nil {
		return out, nil
	}
	defer g.mu.Unlock()
	for t, ps := range g.offsets {
		m := make(map[int32]int64, len(ps))
		for p, o := range ps {
			m[p] = o.offset
		}
		out[t] = m
	}
	return out, nil
}

// storeErrorCode maps a failed Append to the code clients see, as Kafka's
// coordinator does: leadership loss (or a storage error) means
// NOT_COORDINATOR; NOT_ENOUGH_REPLICAS, REQUEST_TIMED_OUT and anything else
// a retriable COORDINATOR_NOT_AVAILABLE.
func storeErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke.Code {
		case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code, kerr.NotCoordinator.Code,
			kerr.KafkaStorageError.Code:
			return kerr.NotCoordinator.Code
		case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
			return kerr.UnknownServerError.Code
		}
	}
	return kerr.CoordinatorNotAvailable.Code
}
