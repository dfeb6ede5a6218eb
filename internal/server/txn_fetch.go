package server

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/replica"
)

// abortedInRange lists, for a read_committed Fetch whose records start at
// from, the aborted transactions overlapping the records returned: their
// marker is at or after from and they start below the last stable offset
// (the read's upper bound). Like Kafka's bound from the offset index, it
// may include transactions that start after the last batch returned;
// clients drop entries they do not need.
func abortedInRange(p *replica.Partition, from int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	if from < 0 {
		from = 0
	}
	txns := p.AbortedTxns(from, p.LastStableOffset())
	if len(txns) == 0 {
		return nil
	}
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(txns))
	for i, a := range txns {
		out[i] = kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		out[i].ProducerID, out[i].FirstOffset = a.ProducerID, a.FirstOffset
	}
	return out
}
