package replica

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Fsync before ack (flush.messages=1), grouped: AppendProduce writes the
// batch and joins the Manager's log.GroupSyncer; the Produce handler, after
// appending every partition of the request, calls AwaitDurable for each,
// so a request spread over many partitions waits for one round, and
// requests on other connections share it too. The high watermark of such
// a partition moves only over what a round made durable (durableEnd), so
// consumers never read a batch a power loss could take back (Kafka, which
// fsyncs inside the append when flush.messages=1, gives the same
// guarantee).

// AwaitDurable waits until the batch of res is on disk, when the topic asks
// for it (flush.messages=1), and then lets the high watermark cover it. It
// returns at once for other topics.
func (p *Partition) AwaitDurable(res AppendResult) error {
	if res.round == nil {
		return nil
	}
	durable, err := res.round.Wait(p.log)
	if err != nil {
		return errors.Join(kerr.KafkaStorageError, err)
	}
	for {
		cur := p.durable.Load()
		if durable <= cur || p.durable.CompareAndSwap(cur, durable) {
			break
		}
	}
	p.advanceHW()
	return nil
}

// AwaitsFsync reports whether the append must be passed to AwaitDurable
// before it is acknowledged.
func (r AppendResult) AwaitsFsync() bool { return r.round != nil }

// durableEnd is this replica's own end for the high watermark: the log end
// offset, or for a SyncBeforeAck topic the end of what was fsynced.
func (p *Partition) durableEnd() int64 {
	leo := p.log.LogEndOffset()
	if s := p.settings.Load(); s == nil || !s.SyncBeforeAck || p.syncer == nil {
		return leo
	}
	return min(leo, p.durable.Load())
}
