package txn

import (
	"context"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxEpoch is the last usable producer epoch: at it, InitProducerId moves
// the transactional id to a new producer id (Kafka's isEpochExhausted).
const maxEpoch = math.MaxInt16 - 1

// fencedCode is PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH for request
// versions before KIP-588 gave clients the new code.
func fencedCode(version, since int16) int16 {
	if version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return kerr.ProducerFenced.Code
}

// InitProducerId with a transactional id (the server answers null ids).
// v3+ (KIP-360) may carry the producer's current id and epoch to recover;
// v4 returns PRODUCER_FENCED where older versions get INVALID_PRODUCER_EPOCH.
func (c *Coordinator) handleInitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.SetVersion(req.Version)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID == nil || *req.TransactionalID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	if req.TransactionTimeoutMillis <= 0 || timeout > c.cfg.MaxTimeout {
		resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
		return resp
	}
	m, code := c.lookup(*req.TransactionalID, true)
	if code != 0 {
		resp.ErrorCode = code
		return resp
	}
	defer m.mu.Unlock()
	pid, epoch, code := c.initProducerLocked(ctx, m, req, timeout)
	resp.ErrorCode = code
	if code == 0 {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
	}
	return resp
}

// REQUIRES: m.mu held.
func (c *Coordinator) initProducerLocked(ctx context.Context, m *txnMeta, req *kmsg.InitProducerIDRequest, timeout time.Duration) (int64, int16, int16) {
	now := c.now()
	if m.pid < 0 { // a new transactional id
		pid, err := c.deps.PIDs.AllocateProducerID()
		if err != nil {
			c.removeLocked(m)
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		next := snapshot{pid: pid, prevPID: -1, epoch: 0, timeout: timeout, state: kmsg.TransactionStateEmpty, updated: now}
		if err := c.persistLocked(ctx, m, next); err != nil {
			c.removeLocked(m)
			return -1, -1, storeErrorCode(err)
		}
		return m.pid, m.epoch, 0
	}
	if req.Version >= 3 && req.ProducerID >= 0 {
		idle := m.state == kmsg.TransactionStateEmpty || m.state == kmsg.TransactionStateCompleteAbort ||
			m.state == kmsg.TransactionStateCompleteCommit
		switch {
		case req.ProducerID == m.pid && req.ProducerEpoch == m.epoch:
		case idle && m.lastEpoch >= 0 && req.ProducerEpoch == m.lastEpoch &&
			(req.ProducerID == m.pid || req.ProducerID == m.prevPID):
			if m.state == kmsg.TransactionStateEmpty {
				return m.pid, m.epoch, 0 // a retry of the last InitProducerId
			}
			// The coordinator aborted the producer's transaction with an
			// epoch bump (timeout): it may recover with a new epoch.
		default:
			return -1, -1, fencedCode(req.Version, 4)
		}
	}
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if !c.completeLocked(ctx, m) {
			return -1, -1, kerr.ConcurrentTransactions.Code
		}
	case kmsg.TransactionStateOngoing:
		// Fence the previous producer: abort its transaction with a bumped
		// epoch. The client retries and gets the next epoch.
		epoch := m.epoch
		if epoch < maxEpoch {
			epoch++
		}
		if err := c.prepareEndLocked(ctx, m, false, epoch); err != nil {
			return -1, -1, storeErrorCode(err)
		}
		m.lastEpoch = -1
		c.completeLocked(ctx, m)
		return -1, -1, kerr.ConcurrentTransactions.Code
	case kmsg.TransactionStateEmpty, kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
	default:
		return -1, -1, kerr.ConcurrentTransactions.Code
	}
	next := m.snap()
	next.timeout, next.state, next.parts, next.start, next.updated = timeout, kmsg.TransactionStateEmpty, nil, time.Time{}, now
	if m.epoch >= maxEpoch {
		pid, err := c.deps.PIDs.AllocateProducerID()
		if err != nil {
			return -1, -1, kerr.CoordinatorNotAvailable.Code
		}
		next.prevPID, next.pid, next.epoch = m.pid, pid, 0
	} else {
		next.epoch = m.epoch + 1
	}
	last := m.epoch
	if err := c.persistLocked(ctx, m, next); err != nil {
		return -1, -1, storeErrorCode(err)
	}
	m.lastEpoch = last
	return m.pid, m.epoch, 0
}

// checkProducerLocked validates the producer of a request against m:
// INVALID_PRODUCER_ID_MAPPING for another id, PRODUCER_FENCED (or
// INVALID_PRODUCER_EPOCH before fencedSince) for another epoch. REQUIRES:
// m.mu held.
func checkProducerLocked(m *txnMeta, pid int64, epoch int16, version, fencedSince int16) int16 {
	switch {
	case m.pid != pid:
		return kerr.InvalidProducerIDMapping.Code
	case m.epoch != epoch:
		return fencedCode(version, fencedSince)
	}
	return 0
}

// addPartitionsLocked adds tps to m's transaction, making it Ongoing.
// REQUIRES: m.mu held.
func (c *Coordinator) addPartitionsLocked(ctx context.Context, m *txnMeta, tps []TP) int16 {
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if !c.completeLocked(ctx, m) {
			return kerr.ConcurrentTransactions.Code
		}
	case kmsg.TransactionStateOngoing, kmsg.TransactionStateEmpty,
		kmsg.TransactionStateCompleteCommit, kmsg.TransactionStateCompleteAbort:
	default:
		return kerr.ConcurrentTransactions.Code
	}
	fresh := false
	for _, tp := range tps {
		if _, ok := m.parts[tp]; !ok {
			fresh = true
		}
	}
	if !fresh && m.state == kmsg.TransactionStateOngoing {
		return 0
	}
	next := m.snap()
	now := c.now()
	if m.state != kmsg.TransactionStateOngoing {
		next.parts, next.start = nil, now
	}
	for _, tp := range tps {
		if _, ok := m.parts[tp]; !ok || m.state != kmsg.TransactionStateOngoing {
			next.parts = append(next.parts, tp)
		}
	}
	next.parts = slices.Compact(sortedTPs(next.parts))
	next.state, next.updated = kmsg.TransactionStateOngoing, now
	if err := c.persistLocked(ctx, m, next); err != nil {
		return storeErrorCode(err)
	}
	return 0
}

func sortedTPs(tps []TP) []TP { sortTPs(tps); return tps }

// AddPartitionsToTxn v0-3 for clients; v4 (KIP-890) for brokers: a batch
// of transactions, each either added like v3 or, with VerifyOnly, checked
// for a partition leader's verification before a first transactional
// append. If one partition of a transaction fails, its others get
// OPERATION_NOT_ATTEMPTED.
func (c *Coordinator) handleAddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.SetVersion(req.Version)
	if req.Version >= 4 {
		for _, t := range req.Transactions {
			var tps []TP
			for _, tt := range t.Topics {
				for _, p := range tt.Partitions {
					tps = append(tps, TP{tt.Topic, p})
				}
			}
			var codes map[TP]int16
			if t.VerifyOnly {
				codes = c.verifyPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, tps)
			} else {
				codes = c.addPartitions(ctx, t.TransactionalID, t.ProducerID, t.ProducerEpoch, req.Version, tps)
			}
			rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
			rt.TransactionalID = t.TransactionalID
			for _, tt := range t.Topics {
				rtt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rtt.Topic = tt.Topic
				for _, p := range tt.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
					rp.Partition, rp.ErrorCode = p, codes[TP{tt.Topic, p}]
					rtt.Partitions = append(rtt.Partitions, rp)
				}
				rt.Topics = append(rt.Topics, rtt)
			}
			resp.Transactions = append(resp.Transactions, rt)
		}
		return resp
	}
	var tps []TP
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, TP{t.Topic, p})
		}
	}
	codes := c.addPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Version, tps)
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			rp.ErrorCode = codes[TP{t.Topic, p}]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// addPartitions adds tps to the transaction of id and returns each
// partition's error code.
func (c *Coordinator) addPartitions(ctx context.Context, id string, pid int64, epoch int16, version int16, tps []TP) map[TP]int16 {
	codes := make(map[TP]int16, len(tps))
	setAll := func(code int16) {
		for _, tp := range tps {
			if codes[tp] == 0 {
				codes[tp] = code
			}
		}
	}
	m, code := c.lookup(id, false)
	switch {
	case code != 0:
		setAll(code)
		return codes
	case m == nil:
		setAll(kerr.InvalidProducerIDMapping.Code)
		return codes
	}
	defer m.mu.Unlock()
	if code := checkProducerLocked(m, pid, epoch, version, 2); code != 0 {
		setAll(code)
		return codes
	}
	bad := false
	for _, tp := range tps {
		if c.deps.Topics != nil && !c.deps.Topics.PartitionExists(tp.Topic, tp.Partition) {
			codes[tp] = kerr.UnknownTopicOrPartition.Code
			bad = true
		}
	}
	if bad {
		setAll(kerr.OperationNotAttempted.Code)
		return codes
	}
	setAll(c.addPartitionsLocked(ctx, m, tps))
	return codes
}

// verifyPartitions answers a VerifyOnly transaction of AddPartitionsToTxn
// v4: NONE for each partition in the ongoing transaction of id with this
// producer id and epoch, INVALID_TXN_STATE for the others; a wrong
// producer id or epoch, or a transaction still writing its markers, fails
// them all (Kafka's codes).
func (c *Coordinator) verifyPartitions(id string, pid int64, epoch int16, tps []TP) map[TP]int16 {
	codes := make(map[TP]int16, len(tps))
	setAll := func(code int16) {
		for _, tp := range tps {
			codes[tp] = code
		}
	}
	m, code := c.lookup(id, false)
	switch {
	case code != 0:
		setAll(code)
		return codes
	case m == nil:
		setAll(kerr.InvalidProducerIDMapping.Code)
		return codes
	}
	defer m.mu.Unlock()
	switch {
	case m.pid != pid:
		setAll(kerr.InvalidProducerIDMapping.Code)
	case m.epoch != epoch:
		setAll(kerr.ProducerFenced.Code)
	case m.state == kmsg.TransactionStatePrepareCommit || m.state == kmsg.TransactionStatePrepareAbort:
		setAll(kerr.ConcurrentTransactions.Code)
	case m.state != kmsg.TransactionStateOngoing:
		setAll(kerr.InvalidTxnState.Code)
	default:
		for _, tp := range tps {
			if _, ok := m.parts[tp]; !ok {
				codes[tp] = kerr.InvalidTxnState.Code
			}
		}
	}
	return codes
}

// AddOffsetsToTxn v0-4: adds the group's __consumer_offsets partition, so
// the TxnOffsetCommit that follows is completed by this transaction's
// marker.
func (c *Coordinator) handleAddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrAddOffsetsToTxnResponse()
	resp.SetVersion(req.Version)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	m, code := c.lookup(req.TransactionalID, false)
	switch {
	case code != 0:
		resp.ErrorCode = code
		return resp
	case m == nil:
		resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
		return resp
	}
	defer m.mu.Unlock()
	if code := checkProducerLocked(m, req.ProducerID, req.ProducerEpoch, req.Version, 2); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	tp := TP{OffsetsTopic, PartitionFor(req.Group, c.cfg.OffsetsPartitions)}
	resp.ErrorCode = c.addPartitionsLocked(ctx, m, []TP{tp})
	return resp
}

// EndTxn v0-4: PrepareCommit/PrepareAbort is persisted, the markers are
// written to every partition of the transaction, then CompleteCommit/
// CompleteAbort is persisted, all before the answer (one node: markers are
// local appends). If a marker cannot be written the answer is still NONE:
// the transaction stays in Prepare* and the background loop retries.
func (c *Coordinator) handleEndTxn(ctx context.Context, req *kmsg.EndTxnRequest) kmsg.Response {
	resp := kmsg.NewPtrEndTxnResponse()
	resp.SetVersion(req.Version)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	m, code := c.lookup(req.TransactionalID, false)
	switch {
	case code != 0:
		resp.ErrorCode = code
		return resp
	case m == nil:
		resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
		return resp
	}
	defer m.mu.Unlock()
	if code := checkProducerLocked(m, req.ProducerID, req.ProducerEpoch, req.Version, 2); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	resp.ErrorCode = c.endTxnLocked(ctx, m, req.Commit)
	return resp
}

// REQUIRES: m.mu held.
func (c *Coordinator) endTxnLocked(ctx context.Context, m *txnMeta, commit bool) int16 {
	switch m.state {
	case kmsg.TransactionStateOngoing:
		if err := c.prepareEndLocked(ctx, m, commit, m.epoch); err != nil {
			return storeErrorCode(err)
		}
		m.lastEpoch = -1
		c.completeLocked(ctx, m)
		return 0
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if (m.state == kmsg.TransactionStatePrepareCommit) != commit {
			return kerr.InvalidTxnState.Code
		}
		if !c.completeLocked(ctx, m) {
			return kerr.ConcurrentTransactions.Code
		}
		return 0
	case kmsg.TransactionStateCompleteCommit:
		if commit {
			return 0 // a retry
		}
	case kmsg.TransactionStateCompleteAbort:
		if !commit {
			return 0
		}
	}
	return kerr.InvalidTxnState.Code
}

// DescribeTransactions v0.
func (c *Coordinator) handleDescribeTransactions(req *kmsg.DescribeTransactionsRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	resp.SetVersion(req.Version)
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		m, code := c.lookup(id, false)
		switch {
		case code != 0:
			st.ErrorCode = code
		case m == nil:
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			st.State = m.state.String()
			st.TimeoutMillis = int32(m.timeout.Milliseconds())
			if !m.start.IsZero() {
				st.StartTimestamp = m.start.UnixMilli()
			}
			st.ProducerID, st.ProducerEpoch = m.pid, m.epoch
			for _, tp := range m.snap().parts {
				if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == tp.Topic {
					st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, tp.Partition)
					continue
				}
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic, t.Partitions = tp.Topic, []int32{tp.Partition}
				st.Topics = append(st.Topics, t)
			}
			m.mu.Unlock()
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

// ListTransactions v0-1: the transactions of the loaded partitions,
// filtered by state names (unknown names are echoed back), producer ids
// and (v1) a minimum running time.
func (c *Coordinator) handleListTransactions(req *kmsg.ListTransactionsRequest) kmsg.Response {
	resp := kmsg.NewPtrListTransactionsResponse()
	resp.SetVersion(req.Version)
	states := map[string]bool{}
	for _, f := range req.StateFilters {
		if slices.Contains(kmsg.TransactionStateStrings(), f) {
			states[f] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
		}
	}
	now := c.now()
	for _, m := range c.all() {
		m.mu.Lock()
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = m.id, m.pid, m.state.String()
		ok := !m.dead && m.pid >= 0 &&
			(len(req.StateFilters) == 0 || states[st.TransactionState]) &&
			(len(req.ProducerIDFilters) == 0 || slices.Contains(req.ProducerIDFilters, m.pid)) &&
			(req.Version < 1 || req.DurationFilterMillis < 0 ||
				(!m.start.IsZero() && now.Sub(m.start).Milliseconds() >= req.DurationFilterMillis))
		m.mu.Unlock()
		if ok {
			resp.TransactionStates = append(resp.TransactionStates, st)
		}
	}
	slices.SortFunc(resp.TransactionStates, func(a, b kmsg.ListTransactionsResponseTransactionState) int {
		return strings.Compare(a.TransactionalID, b.TransactionalID)
	})
	return resp
}
