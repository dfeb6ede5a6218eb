package group

// Transactional offset commits (KIP-98, KIP-447). TxnOffsetCommit writes
// the offsets to __consumer_offsets as a transactional batch of the
// producer (AppendTxn) and stages them per producer id; the transaction
// coordinator's marker in the same partition decides them: CompleteTxn
// with commit makes them the group's committed offsets, with abort drops
// them. Replay does the same from the log's transactional batches and
// control records, so a restart ends in the same state. While offsets are
// staged, OffsetFetch with RequireStable (v7+) answers
// UNSTABLE_OFFSET_COMMIT for those partitions.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Marker is the kind of a replayed transaction control record.
type Marker int8

const (
	MarkerNone   Marker = iota // a data record
	MarkerAbort                // an abort marker of ProducerID
	MarkerCommit               // a commit marker of ProducerID
)

// TxnStore is the part of Store that transactional commits need.
type TxnStore interface {
	// AppendTxn writes records to one partition as one transactional batch
	// of producer pid at epoch. An epoch older than the producer's in that
	// partition fails with kerr.InvalidProducerEpoch.
	AppendTxn(ctx context.Context, partition int32, pid int64, epoch int16, records []Record) error
}

// stageTxnLocked records a transactional offset of pid. REQUIRES: g.mu held.
func (g *group) stageTxnLocked(pid int64, tp topicPartition, e offsetEntry) {
	if g.txnPending == nil {
		g.txnPending = map[int64]map[topicPartition]offsetEntry{}
	}
	m := g.txnPending[pid]
	if m == nil {
		m = map[topicPartition]offsetEntry{}
		g.txnPending[pid] = m
	}
	m[tp] = e
}

// completeTxnLocked applies pid's marker to the group. REQUIRES: g.mu held.
func (g *group) completeTxnLocked(pid int64, commit bool) {
	pend, ok := g.txnPending[pid]
	if !ok {
		return
	}
	delete(g.txnPending, pid)
	if !commit {
		return
	}
	for tp, e := range pend {
		g.setOffset(tp.topic, tp.partition, e)
	}
}

// unstable reports whether a transactional offset is staged for tp.
// REQUIRES: g.mu held.
func (g *group) unstable(topic string, partition int32) bool {
	for _, pend := range g.txnPending {
		if _, ok := pend[topicPartition{topic, partition}]; ok {
			return true
		}
	}
	return false
}

// CompleteTxn applies a transaction marker just written to a
// __consumer_offsets partition: the producer's staged offsets in that
// partition's groups become committed (commit) or are dropped (abort).
func (c *Coordinator) CompleteTxn(partition int32, pid int64, commit bool) {
	for _, g := range c.loadedGroups() {
		if g.partition != partition {
			continue
		}
		g.mu.Lock()
		g.completeTxnLocked(pid, commit)
		g.mu.Unlock()
	}
}

// replayTxn handles the transactional records of a replay: staged offsets
// and markers. handled is false for plain records.
func replayTxn(r Record, groups map[string]*group, get func(string) *group) (handled bool, err error) {
	switch {
	case r.Marker != MarkerNone:
		for _, g := range groups {
			g.completeTxnLocked(r.ProducerID, r.Marker == MarkerCommit)
		}
		return true, nil
	case !r.Transactional:
		return false, nil
	}
	d, err := decodeRecord(r)
	if err != nil {
		return true, err
	}
	if d.kind != kindOffset || d.offset == nil {
		return true, nil // only offset commits are transactional
	}
	get(d.group).stageTxnLocked(r.ProducerID, topicPartition{d.topic, d.partition}, offsetEntry{
		offset: d.offset.Offset, leaderEpoch: d.offset.LeaderEpoch,
		metadata: d.offset.Metadata, commitTime: time.UnixMilli(d.offset.CommitTimestamp),
	})
	return true, nil
}

// validateTxnOffsetCommit follows Kafka's ClassicGroup.validateOffsetCommit
// for transactional commits: generation -1 with no member always passes
// (producers that do not use the group's generation), and there is no
// rebalance check. REQUIRES: g.mu held.
func (g *group) validateTxnOffsetCommit(generation int32, memberID string, instanceID *string) int16 {
	if g.state == stateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if g.cg != nil {
		if generation < 0 && memberID == "" {
			return 0
		}
		return g.validateConsumerOffsetCommit(9, generation, memberID)
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		if _, code := g.validateMember(memberID, instanceID); code != 0 {
			return code
		}
		if generation != g.generation {
			return kerr.IllegalGeneration.Code
		}
	}
	return 0
}

// TxnOffsetCommit v0-4. v2 adds leader epochs, v3 the group's member id,
// generation and instance id (KIP-447) and PRODUCER_FENCED in place of
// INVALID_PRODUCER_EPOCH, v4 TRANSACTION_ABORTABLE (never sent here).
func (c *Coordinator) handleTxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) kmsg.Response {
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.SetVersion(req.Version)
	codes := newPartitionCodes(len(req.Topics), func(i int) int { return len(req.Topics[i].Partitions) })
	setAll := codes.setAll
	defer func() {
		for i, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for j, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = codes[i][j]
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}()
	ts, ok := c.store.(TxnStore)
	if !ok {
		setAll(kerr.CoordinatorNotAvailable.Code)
		return resp
	}
	if req.Group == "" {
		setAll(kerr.InvalidGroupID.Code)
		return resp
	}
	generation, memberID, instanceID := int32(-1), "", (*string)(nil)
	if req.Version >= 3 {
		generation, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}
	g, code := c.lookup(req.Group, true)
	if code != 0 {
		setAll(code)
		return resp
	}
	defer g.mu.Unlock()
	if code := g.validateTxnOffsetCommit(generation, memberID, instanceID); code != 0 {
		setAll(code)
		return resp
	}
	now := c.clk.Now()
	type staged struct {
		tp topicPartition
		e  offsetEntry
	}
	var recs []Record
	var todo []staged
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			md, code := commitMetadata(p.Metadata, c.cfg.OffsetMetadataMaxBytes)
			if code != 0 {
				codes[i][j] = code
				continue
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: -1, metadata: md, commitTime: now}
			if req.Version >= 2 {
				e.leaderEpoch = p.LeaderEpoch
			}
			recs = append(recs, offsetRecord(g.id, t.Topic, p.Partition, e))
			todo = append(todo, staged{topicPartition{t.Topic, p.Partition}, e})
		}
	}
	if len(recs) == 0 {
		return resp
	}
	if err := ts.AppendTxn(ctx, g.partition, req.ProducerID, req.ProducerEpoch, recs); err != nil {
		switch {
		case errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.ProducerFenced):
			code = kerr.InvalidProducerEpoch.Code
			if req.Version >= 3 {
				code = kerr.ProducerFenced.Code
			}
		default:
			code = storeErrorCode(err)
			if code == kerr.UnknownServerError.Code {
				code = kerr.InvalidCommitOffsetSize.Code
			}
		}
		setAll(code)
		return resp
	}
	for _, s := range todo {
		g.stageTxnLocked(req.ProducerID, s.tp, s.e)
	}
	return resp
}
