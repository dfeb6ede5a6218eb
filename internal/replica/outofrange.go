package replica

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/record"
)

// A follower whose fetch offset the leader answers with
// OFFSET_OUT_OF_RANGE is either below the leader's log start (retention or
// DeleteRecords removed what it needs while it was away) or beyond the
// leader's log end (it kept a suffix the new leader never had). Kafka's
// replica fetcher handles both (AbstractFetcherThread
// fetchOffsetAndTruncate): below, it empties its log and restarts it at the
// leader's log start; beyond, it truncates to the leader's log end, which
// it asks for with ListOffsets as a replica.

// outOfRange handles OFFSET_OUT_OF_RANGE for p.
func (f *fetcher) outOfRange(p *Partition, rp *kmsg.FetchResponseTopicPartition) error {
	leo := p.log.LogEndOffset()
	if rp.LogStartOffset >= 0 && leo < rp.LogStartOffset {
		f.log.Warn("follower below the leader's log start: restarting its log there", "topic", p.Topic,
			"partition", p.ID, "logEnd", leo, "leaderLogStart", rp.LogStartOffset)
		return p.truncateFullyAndStartAt(rp.LogStartOffset)
	}
	end, err := f.leaderLogEnd(p)
	if err != nil {
		return fmt.Errorf("leader's log end: %w", err)
	}
	if leo > end {
		f.log.Warn("follower beyond the leader's log end: truncating to it", "topic", p.Topic,
			"partition", p.ID, "logEnd", leo, "leaderLogEnd", end)
		return p.truncateFollower(end)
	}
	return nil // the leader's log moved meanwhile: fetch again
}

// leaderLogEnd asks the leader for its log end offset: ListOffsets latest
// with this broker as ReplicaId answers the log end, not the high
// watermark.
func (f *fetcher) leaderLogEnd(p *Partition) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(4)
	req.ReplicaID = f.r.m.nodeID
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = p.Topic
	rpart := kmsg.NewListOffsetsRequestTopicPartition()
	rpart.Partition = p.ID
	p.repl.mu.Lock()
	rpart.CurrentLeaderEpoch = p.repl.leaderEpoch
	p.repl.mu.Unlock()
	rpart.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rpart)
	req.Topics = append(req.Topics, rt)
	kr, err := f.conn.Do(req, time.Now().Add(10*time.Second))
	if err != nil {
		return -1, err
	}
	resp := kr.(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("ListOffsets answered %d topics", len(resp.Topics))
	}
	sp := resp.Topics[0].Partitions[0]
	if sp.ErrorCode != 0 {
		return -1, kerr.ErrorForCode(sp.ErrorCode)
	}
	if sp.Offset < 0 {
		return -1, fmt.Errorf("ListOffsets answered offset %d", sp.Offset)
	}
	return sp.Offset, nil
}

// truncateFullyAndStartAt empties the follower's log and restarts it at
// off (the leader's log start): the high watermark moves there, the leader
// epoch cache is cleared (the log does it) and producer state starts
// empty, its snapshots removed (they describe records that are gone).
func (p *Partition) truncateFullyAndStartAt(off int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.truncateFullyAndStartAtLocked(off)
}

// REQUIRES: mu held.
func (p *Partition) truncateFullyAndStartAtLocked(off int64) error {
	if err := p.log.TruncateFullyAndStartAt(off); err != nil {
		return err
	}
	if p.dir != "" {
		for _, o := range snapshotOffsets(p.dir) {
			os.Remove(filepath.Join(p.dir, snapshotName(o)))
		}
	}
	p.hw.Store(off)
	p.durable.Store(off)
	p.snapshotAt = -1
	p.segments = p.log.NumSegments()
	return p.loadProducers()
}

// restartInFirstBatchLocked handles the first fetch after a restart at the
// leader's log start when that start falls inside a batch (DeleteRecords
// is not batch aligned): the batch begins below this empty log's end, so
// the log restarts at the batch's base offset, as Kafka's follower does;
// the leader's log start then moves this log's start up again (handle).
// b holds whole batches ending after leo. REQUIRES: mu held.
func (p *Partition) restartInFirstBatchLocked(b []byte, leo int64) error {
	h, err := record.ParseHeader(b)
	if err != nil || h.BaseOffset >= leo || leo != p.log.LogStartOffset() {
		return nil
	}
	return p.truncateFullyAndStartAtLocked(h.BaseOffset)
}
