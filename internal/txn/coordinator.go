// Package txn is Quill's transaction coordinator (KIP-98 exactly-once, with
// KIP-360 producer recovery, KIP-447 and KIP-890 part 1). It owns
// transactional ids, their producer ids and epochs and the state machine of
// their transactions, persisted in Kafka's __transaction_state formats
// through a Store, and has transaction markers written through a
// MarkerWriter when a transaction ends.
//
// It mirrors internal/group: the server owns the wire and FindCoordinator
// and hands decoded requests to Coordinator.Handle; which
// __transaction_state partitions this broker leads is told through Load and
// Unload. See docs/transactions.md.
//
// Lock order: a transaction's mu, then Coordinator.mu (a leaf). Store
// appends and marker writes run under the transaction's mu, so one
// transactional id's records reach the log in the order they were decided.
package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/group"
)

// Config holds the coordinator's settings, named after Kafka's broker
// configs. Zero values mean Kafka's defaults.
type Config struct {
	NumPartitions      int32         // transaction.state.log.num.partitions (50)
	OffsetsPartitions  int32         // offsets.topic.num.partitions (50), for AddOffsetsToTxn
	MaxTimeout         time.Duration // transaction.max.timeout.ms (15m)
	AbortCheckInterval time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms (10s)
	IDExpiration       time.Duration // transactional.id.expiration.ms (7d)
	// IDExpirationCheckInterval is
	// transaction.remove.expired.transaction.cleanup.interval.ms (1h).
	IDExpirationCheckInterval time.Duration
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:             50,
		OffsetsPartitions:         50,
		MaxTimeout:                15 * time.Minute,
		AbortCheckInterval:        10 * time.Second,
		IDExpiration:              7 * 24 * time.Hour,
		IDExpirationCheckInterval: time.Hour,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.NumPartitions <= 0 {
		c.NumPartitions = d.NumPartitions
	}
	if c.OffsetsPartitions <= 0 {
		c.OffsetsPartitions = d.OffsetsPartitions
	}
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = d.MaxTimeout
	}
	if c.AbortCheckInterval <= 0 {
		c.AbortCheckInterval = d.AbortCheckInterval
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = d.IDExpiration
	}
	if c.IDExpirationCheckInterval <= 0 {
		c.IDExpirationCheckInterval = d.IDExpirationCheckInterval
	}
	return c
}

// PartitionFor returns the __transaction_state partition of a transactional
// id: the same Java-hash rule as a group's __consumer_offsets partition.
func PartitionFor(txnID string, numPartitions int32) int32 {
	return group.PartitionFor(txnID, numPartitions)
}

// OffsetsTopic is where AddOffsetsToTxn's group partitions live.
const OffsetsTopic = "__consumer_offsets"

// Store persists the __transaction_state partitions. Append returns once
// the records are durable as acks=all would make them; Replay calls fn for
// every record of the partition from the log start, in order.
type Store interface {
	Append(ctx context.Context, partition int32, records []Record) error
	Replay(partition int32, fn func(Record) error) error
}

// PIDAllocator hands out producer ids that are never reused (the server
// reserves blocks through the metadata log).
type PIDAllocator interface {
	AllocateProducerID() (int64, error)
}

// Marker is one transaction marker to write to one partition.
type Marker struct {
	TP
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// MarkerWriter writes transaction markers to partition leaders (single
// node: local appends; a cluster: WriteTxnMarkers). A partition that no
// longer exists is not an error. Any error leaves the transaction in
// Prepare* and the marker is retried by the background loop.
type MarkerWriter interface {
	WriteMarker(ctx context.Context, m Marker) error
}

// BatchMarkerWriter is a MarkerWriter that writes several markers at once
// (a cluster: one WriteTxnMarkers request per partition leader). errs[i]
// is markers[i]'s outcome.
type BatchMarkerWriter interface {
	MarkerWriter
	WriteMarkers(ctx context.Context, markers []Marker) (errs []error)
}

// Topics answers whether a partition exists (AddPartitionsToTxn).
type Topics interface {
	PartitionExists(topic string, partition int32) bool
}

// Deps are what the coordinator works with.
type Deps struct {
	Store   Store
	PIDs    PIDAllocator
	Markers MarkerWriter
	Topics  Topics
	Logger  *slog.Logger
	// Now is the clock (tests drive it); nil: time.Now.
	Now func() time.Time
}

// txnMeta is one transactional id. Fields below mu are guarded by it.
type txnMeta struct {
	id        string
	partition int32

	mu        sync.Mutex
	dead      bool // removed from the coordinator; lookups retry
	pid       int64
	prevPID   int64 // the pid before the last rotation (KIP-360 retries), or -1
	epoch     int16
	lastEpoch int16 // the epoch before the last InitProducerId, in memory only; -1
	timeout   time.Duration
	state     kmsg.TransactionState
	parts     map[TP]struct{}
	start     time.Time // when the transaction became Ongoing; zero otherwise
	updated   time.Time
	// pending are the partitions whose marker is still to be written, in
	// PrepareCommit/PrepareAbort.
	pending map[TP]struct{}
	// coordEpoch is the coordinator epoch when the metadata was loaded or
	// created.
	coordEpoch int32
}

// Coordinator serves the transaction APIs for the __transaction_state
// partitions loaded on this broker.
type Coordinator struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // leaf lock
	parts  map[int32]*group.PartitionState
	txns   map[string]*txnMeta
	closed bool
}

// New returns a coordinator that leads no partition until Load is called.
// Run starts its background loops.
func New(cfg Config, deps Deps) *Coordinator {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{
		cfg: cfg.withDefaults(), deps: deps, log: deps.Logger, now: deps.Now,
		ctx: ctx, cancel: cancel,
		parts: map[int32]*group.PartitionState{}, txns: map[string]*txnMeta{},
	}
}

// Run starts the background loops: aborting timed-out transactions (and
// retrying markers) every AbortCheckInterval, retrying unwritten markers
// every second, expiring idle transactional ids every
// IDExpirationCheckInterval. Close stops them.
func (c *Coordinator) Run() {
	c.wg.Add(3)
	go c.every(c.cfg.AbortCheckInterval, c.AbortTimedOut)
	go c.every(c.cfg.IDExpirationCheckInterval, c.ExpireIDs)
	go c.every(min(c.cfg.AbortCheckInterval, markerRetryInterval), c.RetryMarkers)
}

// markerRetryInterval is how often unwritten markers are retried (a
// partition leader was down or moving).
const markerRetryInterval = time.Second

// RetryMarkers writes the unwritten markers of Prepare* transactions and
// completes them.
func (c *Coordinator) RetryMarkers() {
	for _, m := range c.all() {
		m.mu.Lock()
		if !m.dead && len(m.pending) > 0 {
			c.completeLocked(c.ctx, m)
		}
		m.mu.Unlock()
	}
}

func (c *Coordinator) every(d time.Duration, f func()) {
	defer c.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Close stops the background loops; requests get COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// Load replays a __transaction_state partition this broker now leads,
// with coordinatorEpoch (the partition's leader epoch) stamped on the
// markers it writes. Transactions found in Prepare* have their markers
// written; Ongoing ones are left to time out. Until Load returns the
// partition's ids get COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) Load(partition int32, coordinatorEpoch int32) error {
	st := &group.PartitionState{Epoch: coordinatorEpoch}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("transaction coordinator closed")
	}
	old := c.dropPartitionLocked(partition)
	c.parts[partition] = st
	c.mu.Unlock()
	markDead(old)

	loaded := map[string]*snapshot{}
	err := c.deps.Store.Replay(partition, func(r Record) error {
		id, s, err := decodeRecord(r)
		if err != nil {
			return err
		}
		if s == nil {
			delete(loaded, id)
		} else {
			loaded[id] = s
		}
		return nil
	})
	c.mu.Lock()
	if err := group.LoadDone(c.parts, "__transaction_state", partition, st, err); err != nil {
		c.mu.Unlock()
		return err
	}
	var toComplete []*txnMeta
	for id, s := range loaded {
		if s.state == kmsg.TransactionStateDead {
			continue
		}
		m := &txnMeta{
			id: id, partition: partition, pid: s.pid, prevPID: s.prevPID, epoch: s.epoch, lastEpoch: -1,
			timeout: s.timeout, state: s.state, parts: map[TP]struct{}{}, start: s.start, updated: s.updated,
			coordEpoch: coordinatorEpoch,
		}
		for _, tp := range s.parts {
			m.parts[tp] = struct{}{}
		}
		switch m.state {
		case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort, kmsg.TransactionStatePrepareEpochFence:
			if m.state == kmsg.TransactionStatePrepareEpochFence {
				m.state = kmsg.TransactionStatePrepareAbort
			}
			m.pending = map[TP]struct{}{}
			for tp := range m.parts {
				m.pending[tp] = struct{}{}
			}
			toComplete = append(toComplete, m)
		}
		c.txns[id] = m
	}
	st.Loaded = true
	c.mu.Unlock()
	for _, m := range toComplete {
		m.mu.Lock()
		c.completeLocked(c.ctx, m)
		m.mu.Unlock()
	}
	c.log.Debug("txn: loaded partition", "partition", partition, "transactional_ids", len(loaded))
	return nil
}

// Unload gives up a partition (leadership lost). It does not wait for
// transactions busy writing markers (it is called from metadata updates):
// they are out of the coordinator's maps at once and marked dead when
// their lock is free.
func (c *Coordinator) Unload(partition int32) {
	c.mu.Lock()
	old := c.dropPartitionLocked(partition)
	delete(c.parts, partition)
	c.mu.Unlock()
	go markDead(old)
}

// dropPartitionLocked forgets the partition's transactions and returns
// them; the caller marks them dead after releasing c.mu (lock order).
// REQUIRES: c.mu held.
func (c *Coordinator) dropPartitionLocked(partition int32) []*txnMeta {
	return group.TakePartition(c.txns, partition, func(m *txnMeta) int32 { return m.partition })
}

func markDead(ms []*txnMeta) {
	for _, m := range ms {
		m.mu.Lock()
		m.dead = true
		m.mu.Unlock()
	}
}

// lookup returns the transaction locked (creating it when create is set),
// or nil with no error if it does not exist, or a Kafka error code if this
// coordinator cannot serve the id.
func (c *Coordinator) lookup(id string, create bool) (*txnMeta, int16) {
	p := PartitionFor(id, c.cfg.NumPartitions)
	for {
		c.mu.Lock()
		st := c.parts[p]
		if code := group.ServeCode(st, c.closed); code != 0 {
			c.mu.Unlock()
			return nil, code
		}
		m := c.txns[id]
		if m == nil && create {
			m = &txnMeta{
				id: id, partition: p, pid: -1, prevPID: -1, epoch: -1, lastEpoch: -1,
				state: kmsg.TransactionStateEmpty, parts: map[TP]struct{}{}, coordEpoch: st.Epoch,
			}
			c.txns[id] = m
		}
		c.mu.Unlock()
		if m == nil {
			return nil, 0
		}
		m.mu.Lock()
		if !m.dead {
			return m, 0
		}
		m.mu.Unlock()
	}
}

// removeLocked forgets m. REQUIRES: m.mu held.
func (c *Coordinator) removeLocked(m *txnMeta) {
	m.dead = true
	c.mu.Lock()
	if c.txns[m.id] == m {
		delete(c.txns, m.id)
	}
	c.mu.Unlock()
}

// all snapshots the loaded transactions.
func (c *Coordinator) all() []*txnMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*txnMeta, 0, len(c.txns))
	for _, m := range c.txns {
		out = append(out, m)
	}
	return out
}

// persistLocked writes next as m's new state and applies it on success.
// REQUIRES: m.mu held.
func (c *Coordinator) persistLocked(ctx context.Context, m *txnMeta, next snapshot) error {
	rec := Record{Key: keyFor(m.id), Value: encodeValue(next)}
	if err := c.deps.Store.Append(ctx, m.partition, []Record{rec}); err != nil {
		return err
	}
	m.pid, m.prevPID, m.epoch, m.timeout, m.state = next.pid, next.prevPID, next.epoch, next.timeout, next.state
	m.parts = make(map[TP]struct{}, len(next.parts))
	for _, tp := range next.parts {
		m.parts[tp] = struct{}{}
	}
	m.start, m.updated = next.start, next.updated
	return nil
}

// snap is m's current state as a snapshot to modify. REQUIRES: m.mu held.
func (m *txnMeta) snap() snapshot {
	s := snapshot{pid: m.pid, prevPID: m.prevPID, epoch: m.epoch, timeout: m.timeout, state: m.state, start: m.start, updated: m.updated}
	for tp := range m.parts {
		s.parts = append(s.parts, tp)
	}
	sortTPs(s.parts)
	return s
}

// storeErrorCode maps a failed Append as Kafka's coordinator does.
func storeErrorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke.Code {
		case kerr.NotLeaderForPartition.Code, kerr.FencedLeaderEpoch.Code, kerr.NotCoordinator.Code:
			return kerr.NotCoordinator.Code
		}
	}
	return kerr.CoordinatorNotAvailable.Code
}

// prepareEndLocked moves an Ongoing (or, for a fence, any open)
// transaction to PrepareCommit/PrepareAbort, persisted, with the epoch
// given. REQUIRES: m.mu held.
func (c *Coordinator) prepareEndLocked(ctx context.Context, m *txnMeta, commit bool, epoch int16) error {
	next := m.snap()
	next.epoch = epoch
	next.state = kmsg.TransactionStatePrepareAbort
	if commit {
		next.state = kmsg.TransactionStatePrepareCommit
	}
	next.updated = c.now()
	if err := c.persistLocked(ctx, m, next); err != nil {
		return err
	}
	m.pending = make(map[TP]struct{}, len(m.parts))
	for tp := range m.parts {
		m.pending[tp] = struct{}{}
	}
	return nil
}

// completeLocked writes the pending markers of a Prepare* transaction and,
// once all are written, persists CompleteCommit/CompleteAbort. It reports
// whether the transaction is complete. REQUIRES: m.mu held.
func (c *Coordinator) completeLocked(ctx context.Context, m *txnMeta) bool {
	if m.state != kmsg.TransactionStatePrepareCommit && m.state != kmsg.TransactionStatePrepareAbort {
		return true
	}
	commit := m.state == kmsg.TransactionStatePrepareCommit
	markers := make([]Marker, 0, len(m.pending))
	for tp := range m.pending {
		markers = append(markers, Marker{TP: tp, ProducerID: m.pid, ProducerEpoch: m.epoch, Commit: commit, CoordinatorEpoch: m.coordEpoch})
	}
	var errs []error
	if bw, ok := c.deps.Markers.(BatchMarkerWriter); ok {
		errs = bw.WriteMarkers(ctx, markers)
	} else {
		errs = make([]error, len(markers))
		for i, mk := range markers {
			errs[i] = c.deps.Markers.WriteMarker(ctx, mk)
		}
	}
	for i, mk := range markers {
		if errs[i] != nil {
			c.log.Warn("txn: writing marker failed; will retry", "transactional_id", m.id, "topic", mk.Topic, "partition", mk.Partition, "err", errs[i])
			continue
		}
		delete(m.pending, mk.TP)
	}
	if len(m.pending) > 0 {
		return false
	}
	next := m.snap()
	next.state = kmsg.TransactionStateCompleteAbort
	if commit {
		next.state = kmsg.TransactionStateCompleteCommit
	}
	next.parts = nil
	next.start = time.Time{}
	next.updated = c.now()
	if err := c.persistLocked(ctx, m, next); err != nil {
		c.log.Warn("txn: persisting completion failed; will retry", "transactional_id", m.id, "err", err)
		return false
	}
	m.pending = nil
	return true
}

// AbortTimedOut aborts Ongoing transactions older than their timeout, with
// an epoch bump so the producer is fenced, and retries unwritten markers.
// The background loop calls it; tests call it directly.
func (c *Coordinator) AbortTimedOut() {
	now := c.now()
	for _, m := range c.all() {
		m.mu.Lock()
		if m.dead {
			m.mu.Unlock()
			continue
		}
		switch m.state {
		case kmsg.TransactionStateOngoing:
			if now.Sub(m.start) <= m.timeout {
				break
			}
			epoch := m.epoch
			if epoch < maxEpoch {
				epoch++ // fence the producer (its epoch is now stale)
			}
			c.log.Info("txn: aborting timed-out transaction", "transactional_id", m.id, "producer_id", m.pid, "epoch", epoch)
			old := m.epoch
			if err := c.prepareEndLocked(c.ctx, m, false, epoch); err != nil {
				c.log.Warn("txn: aborting timed-out transaction failed", "transactional_id", m.id, "err", err)
				break
			}
			// KIP-360: the fenced producer may recover with InitProducerId
			// carrying its old epoch, unless another instance took over.
			m.lastEpoch = old
			c.completeLocked(c.ctx, m)
		case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
			c.completeLocked(c.ctx, m)
		}
		m.mu.Unlock()
	}
}

// ExpireIDs forgets transactional ids idle (no transaction open) for
// IDExpiration, writing tombstones.
func (c *Coordinator) ExpireIDs() {
	now := c.now()
	for _, m := range c.all() {
		m.mu.Lock()
		idle := m.state == kmsg.TransactionStateEmpty || m.state == kmsg.TransactionStateCompleteCommit ||
			m.state == kmsg.TransactionStateCompleteAbort
		if !m.dead && idle && now.Sub(m.updated) >= c.cfg.IDExpiration {
			if err := c.deps.Store.Append(c.ctx, m.partition, []Record{{Key: keyFor(m.id)}}); err != nil {
				c.log.Warn("txn: expiring transactional id failed", "transactional_id", m.id, "err", err)
			} else {
				c.log.Info("txn: expired transactional id", "transactional_id", m.id)
				c.removeLocked(m)
			}
		}
		m.mu.Unlock()
	}
}

// VerifyPartition answers a partition leader's KIP-890 part 1 question:
// is tp part of the ongoing transaction of txnID with this producer id and
// epoch? nil means yes.
func (c *Coordinator) VerifyPartition(txnID string, pid int64, epoch int16, tp TP) error {
	return kerr.ErrorForCode(c.verifyPartitions(txnID, pid, epoch, []TP{tp})[tp])
}

// VersionRange is an inclusive range of request versions.
type VersionRange struct{ Min, Max int16 }

// SupportedVersions lists the API keys Handle serves, for ApiVersions.
// AddPartitionsToTxn v4 is for brokers (KIP-890 verification; clients use
// v3 and below). Transaction version 2 (KIP-890 part 2: EndTxn v5, Produce
// v12, TxnOffsetCommit v5, AddPartitionsToTxn v5) is not served.
// InitProducerId (22) is the server's, which hands transactional ids here.
func SupportedVersions() map[int16]VersionRange {
	return map[int16]VersionRange{
		24: {0, 4}, // AddPartitionsToTxn (v4 is broker-to-broker)
		25: {0, 4}, // AddOffsetsToTxn
		26: {0, 4}, // EndTxn
		65: {0, 0}, // DescribeTransactions
		66: {0, 1}, // ListTransactions
	}
}

// Handle serves one transaction API request and returns the response of
// the same version. Errors are only returned for requests it does not
// serve.
func (c *Coordinator) Handle(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	switch r := req.(type) {
	case *kmsg.InitProducerIDRequest:
		return c.handleInitProducerID(ctx, r), nil
	case *kmsg.AddPartitionsToTxnRequest:
		return c.handleAddPartitionsToTxn(ctx, r), nil
	case *kmsg.AddOffsetsToTxnRequest:
		return c.handleAddOffsetsToTxn(ctx, r), nil
	case *kmsg.EndTxnRequest:
		return c.handleEndTxn(ctx, r), nil
	case *kmsg.DescribeTransactionsRequest:
		return c.handleDescribeTransactions(r), nil
	case *kmsg.ListTransactionsRequest:
		return c.handleListTransactions(r), nil
	default:
		return nil, fmt.Errorf("transaction coordinator does not serve API key %d", req.Key())
	}
}
