package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/record"
)

// Followers fetch from leaders with the Fetch API, as Kafka's replica
// fetchers do: one fetcher per source broker, fetching every partition this
// broker follows from it in one request (v12: LastFetchedEpoch, and the
// leader answers a divergence with DivergingEpoch, KIP-595/KIP-320 style
// truncation without a separate OffsetForLeaderEpoch round trip).

// ReplicationConfig turns on cluster replication in a Manager.
type ReplicationConfig struct {
	LagTimeMax       time.Duration // replica.lag.time.max.ms
	FetchWaitMax     time.Duration // replica.fetch.wait.max.ms
	FetchMaxBytes    int32         // replica.fetch.max.bytes
	FetchRespMaxByte int32         // replica.fetch.response.max.bytes
	// AlterPartition sends an ISR change to the controller.
	AlterPartition func(topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) error
	// Dial opens an authenticated connection to a broker's inter-broker
	// listener (internal/interbroker.Dialer.Dial). ctx bounds the dial.
	Dial func(ctx context.Context, id int32) (Conn, error)
}

// Conn is a connection to another broker, used by one fetcher at a time
// (internal/interbroker.Conn). Close may be called while Do runs.
type Conn interface {
	Do(req kmsg.Request, deadline time.Time) (kmsg.Response, error)
	Close() error
}

type replication struct {
	cfg ReplicationConfig
	m   *Manager

	mu       sync.Mutex
	fetchers map[int32]*fetcher // by leader id
	stop     chan struct{}
	wg       sync.WaitGroup
}

// EnableReplication turns on cluster mode: partitions follow the leaders
// of the metadata image. Call before the first Apply.
func (m *Manager) EnableReplication(cfg ReplicationConfig) {
	if cfg.LagTimeMax <= 0 {
		cfg.LagTimeMax = 30 * time.Second
	}
	if cfg.FetchWaitMax <= 0 {
		cfg.FetchWaitMax = 500 * time.Millisecond
	}
	if cfg.FetchMaxBytes <= 0 {
		cfg.FetchMaxBytes = 1 << 20
	}
	if cfg.FetchRespMaxByte <= 0 {
		cfg.FetchRespMaxByte = 10 << 20
	}
	r := &replication{cfg: cfg, m: m, fetchers: map[int32]*fetcher{}, stop: make(chan struct{})}
	m.repl = r
	r.wg.Add(1)
	go r.isrLoop()
}

// StopReplication stops fetchers and the ISR loop.
func (m *Manager) StopReplication() {
	r := m.repl
	if r == nil {
		return
	}
	close(r.stop)
	r.mu.Lock()
	for _, f := range r.fetchers {
		f.cancel()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// applyReplication is called by ensure for each hosted partition.
func (m *Manager) applyReplication(p *Partition, pm metadata.Partition) {
	if m.repl == nil {
		return
	}
	p.applyMetadata(m.nodeID, pm)
}

// syncFetchers starts and stops fetchers after an image is applied.
func (r *replication) syncFetchers() {
	need := map[int32]bool{}
	for _, p := range r.m.All() {
		p.repl.mu.Lock()
		l := p.repl.leader
		follower := p.repl.replicas != nil && l >= 0 && l != p.repl.node
		p.repl.mu.Unlock()
		if follower {
			need[l] = true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.stop:
		return
	default:
	}
	for id, f := range r.fetchers {
		if !need[id] {
			f.cancel()
			delete(r.fetchers, id)
		}
	}
	for id := range need {
		if r.fetchers[id] == nil {
			ctx, cancel := context.WithCancel(context.Background())
			f := &fetcher{r: r, leader: id, ctx: ctx, cancel: cancel, log: r.m.log.With("fetcher", id)}
			r.fetchers[id] = f
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				f.run()
			}()
		}
	}
}

// isrLoop shrinks ISRs of lagging followers on the partitions this broker
// leads.
func (r *replication) isrLoop() {
	defer r.wg.Done()
	t := time.NewTicker(max(r.cfg.LagTimeMax/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		for _, p := range r.m.All() {
			r.alterISR(p, -1)
		}
	}
}

// alterISR proposes an ISR change for p (shrink laggards, add joiner).
func (r *replication) alterISR(p *Partition, add int32) {
	isr, le, pe, ok := p.isrChange(r.cfg.LagTimeMax, add)
	if !ok {
		return
	}
	go func() {
		defer p.isrChangeDone()
		if err := r.cfg.AlterPartition(p.Topic, p.ID, r.m.nodeID, le, pe, isr); err != nil {
			r.m.log.Debug("ISR change refused", "topic", p.Topic, "partition", p.ID, "isr", isr, "err", err)
		}
	}()
}

// FollowerFetched is the leader's side of a follower fetch: record its
// progress and maybe add it to the ISR.
func (m *Manager) FollowerFetched(p *Partition, replica int32, fetchOffset int64) {
	if m.repl == nil {
		return
	}
	if p.FollowerFetched(replica, fetchOffset) {
		m.repl.alterISR(p, replica)
	}
}

type fetcher struct {
	r      *replication
	leader int32
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger
	// conn is the connection to the leader, nil between connections;
	// unwatch ends the watch that closes it when ctx ends.
	conn    Conn
	unwatch func() bool
	// warned is when each partition's fetch error was last logged at
	// warning level (run's goroutine only): errors are expected while
	// metadata catches up, but one that persists is how a follower
	// stuck out of the ISR shows in the log.
	warned map[string]time.Time
}

// partitionErrorWarnEvery is how often a partition's fetch error is
// logged as a warning; the others go to debug.
const partitionErrorWarnEvery = 10 * time.Second

// logPartitionError logs a partition's fetch error: at debug level, and
// as a warning at most every partitionErrorWarnEvery per partition.
func (f *fetcher) logPartitionError(p *Partition, err error) {
	key := fmt.Sprint(p.Topic, "/", p.ID)
	now := time.Now()
	if f.warned == nil {
		f.warned = map[string]time.Time{}
	}
	if last, ok := f.warned[key]; !ok || now.Sub(last) >= partitionErrorWarnEvery {
		if ok { // the first error of a partition is routine (new epoch)
			f.log.Warn("replica fetch keeps failing for a partition", "topic", p.Topic, "partition", p.ID, "err", err)
		} else {
			f.log.Debug("replica fetch partition error", "topic", p.Topic, "partition", p.ID, "err", err)
		}
		f.warned[key] = now
		return
	}
	f.log.Debug("replica fetch partition error", "topic", p.Topic, "partition", p.ID, "err", err)
}

// closeConn closes the connection to the leader, if any.
func (f *fetcher) closeConn() {
	if f.conn != nil {
		f.unwatch()
		f.conn.Close()
		f.conn = nil
	}
}

func (f *fetcher) run() {
	defer f.closeConn()
	backoff := 100 * time.Millisecond
	for f.ctx.Err() == nil {
		if err := f.fetchOnce(); err != nil {
			f.closeConn()
			if f.ctx.Err() == nil {
				f.log.Debug("replica fetch failed", "err", err)
			}
			select {
			case <-f.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// followed returns the partitions this broker follows from f.leader.
func (f *fetcher) followed() []*Partition {
	var out []*Partition
	for _, p := range f.r.m.All() {
		p.repl.mu.Lock()
		ok := p.repl.replicas != nil && p.repl.leader == f.leader && p.repl.leader != p.repl.node
		p.repl.mu.Unlock()
		if ok {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *Partition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.ID - b.ID)
	})
	return out
}

func (f *fetcher) fetchOnce() error {
	parts := f.followed()
	if len(parts) == 0 {
		select {
		case <-f.ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		return nil
	}
	if f.conn == nil {
		c, err := f.r.cfg.Dial(f.ctx, f.leader)
		if err != nil {
			return err
		}
		f.conn = c
		// Stopping the fetcher interrupts a fetch in progress.
		f.unwatch = context.AfterFunc(f.ctx, func() { c.Close() })
	}
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = f.r.m.nodeID
	req.MaxWaitMillis = int32(f.r.cfg.FetchWaitMax / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = f.r.cfg.FetchRespMaxByte
	req.SessionID, req.SessionEpoch = 0, -1
	byKey := map[string]*Partition{}
	var cur *kmsg.FetchRequestTopic
	for _, p := range parts {
		if cur == nil || cur.Topic != p.Topic {
			req.Topics = append(req.Topics, kmsg.NewFetchRequestTopic())
			cur = &req.Topics[len(req.Topics)-1]
			cur.Topic = p.Topic
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.ID
		p.repl.mu.Lock()
		rp.CurrentLeaderEpoch = p.repl.leaderEpoch
		p.repl.mu.Unlock()
		rp.FetchOffset = p.log.LogEndOffset()
		rp.LastFetchedEpoch = lastBatchEpoch(p.log.EpochEntries(), rp.FetchOffset)
		rp.LogStartOffset = p.log.LogStartOffset()
		rp.PartitionMaxBytes = f.r.cfg.FetchMaxBytes
		cur.Partitions = append(cur.Partitions, rp)
		byKey[fmt.Sprint(p.Topic, "/", p.ID)] = p
	}
	deadline := time.Now().Add(f.r.cfg.FetchWaitMax + 10*time.Second)
	kr, err := f.conn.Do(req, deadline)
	if err != nil {
		return err
	}
	resp := kr.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return kerr.ErrorForCode(resp.ErrorCode)
	}
	anyErr := false
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			p := byKey[fmt.Sprint(rt.Topic, "/", rp.Partition)]
			if p == nil {
				continue
			}
			if err := f.handle(p, &rp); err != nil {
				anyErr = true
				f.logPartitionError(p, err)
			} else {
				delete(f.warned, fmt.Sprint(p.Topic, "/", p.ID))
			}
		}
	}
	if anyErr {
		// Errors such as NOT_LEADER wait for the next metadata image.
		select {
		case <-f.ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	return nil
}

// handle applies one partition of a fetch response on the follower.
func (f *fetcher) handle(p *Partition, rp *kmsg.FetchResponseTopicPartition) error {
	if rp.ErrorCode != 0 {
		err := kerr.ErrorForCode(rp.ErrorCode)
		if errors.Is(err, kerr.OffsetOutOfRange) {
			return f.outOfRange(p, rp) // outofrange.go
		}
		return err
	}
	if rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0 {
		// Our log diverged from the leader's after a failover: cut it at
		// the end of the last epoch both agree on.
		end := rp.DivergingEpoch.EndOffset
		if e, off := p.log.EndOffsetForEpoch(rp.DivergingEpoch.Epoch); e == rp.DivergingEpoch.Epoch && off >= 0 {
			end = min(end, off)
		}
		f.log.Info("truncating diverged follower log", "topic", p.Topic, "partition", p.ID,
			"from", p.log.LogEndOffset(), "to", end, "epoch", rp.DivergingEpoch.Epoch)
		return p.truncateFollower(end)
	}
	if len(rp.RecordBatches) > 0 {
		if err := p.appendFollower(rp.RecordBatches); err != nil {
			return err
		}
	}
	if rp.LogStartOffset > p.log.LogStartOffset() && rp.LogStartOffset <= p.log.LogEndOffset() {
		p.log.SetLogStartOffset(rp.LogStartOffset)
	}
	hw := min(rp.HighWatermark, p.log.LogEndOffset())
	p.raiseHW(hw)
	return nil
}

// appendFollower appends batches fetched from the leader and tracks their
// producers, so idempotence and transactions survive a failover.
func (p *Partition) appendFollower(b []byte) error {
	// Drop a trailing partial batch (the leader cuts at MaxBytes).
	n := 0
	for n < len(b) {
		sz := record.BatchSize(b[n:])
		if sz < record.HeaderSize || n+sz > len(b) {
			break
		}
		n += sz
	}
	b = b[:n]
	if len(b) == 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	leo := p.log.LogEndOffset()
	// Skip batches we already have (a retried fetch).
	for len(b) > 0 {
		h, err := record.ParseHeader(b)
		if err != nil {
			return err
		}
		if h.NextOffset() > leo {
			break
		}
		b = b[record.BatchSize(b):]
	}
	if len(b) == 0 {
		return nil
	}
	if err := p.restartInFirstBatchLocked(b, leo); err != nil { // outofrange.go
		return err
	}
	if _, err := p.log.AppendFollower(b); err != nil {
		return err
	}
	for rest := b; len(rest) > 0; {
		sz := record.BatchSize(rest)
		h, err := record.ParseHeader(rest[:sz])
		if err == nil {
			switch {
			case h.HasProducerID() && !h.IsControl():
				p.trackProducerLocked(&h, h.BaseOffset)
			case h.HasProducerID():
				p.replayMarkerLocked(&h, rest[:sz])
			}
		}
		rest = rest[sz:]
	}
	if n := p.log.NumSegments(); n != p.segments {
		p.segments = n
		p.writeSnapshotLocked()
	}
	return nil
}

// truncateFollower cuts the log at offset and rebuilds producer state.
func (p *Partition) truncateFollower(offset int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if offset >= p.log.LogEndOffset() {
		return nil
	}
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	if p.hw.Load() > p.log.LogEndOffset() {
		p.hw.Store(p.log.LogEndOffset())
	}
	p.snapshotAt = -1 // snapshots past the cut are stale
	return p.loadProducers()
}

// lastBatchEpoch is the epoch of the last batch in the log: the latest
// epoch that starts below the log end. (A leader that wrote nothing in its
// epoch still has the epoch in its cache; asking with it would report a
// divergence that truncation cannot resolve.)
func lastBatchEpoch(entries [][2]int64, leo int64) int32 {
	for i := len(entries) - 1; i >= 0; i-- {
		if entries[i][1] < leo {
			return int32(entries[i][0])
		}
	}
	return -1
}
