package group

// The bookkeeping of coordinator partitions, shared with the transaction
// coordinator (internal/txn), whose partitions of __transaction_state are
// loaded and unloaded as these of __consumer_offsets.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// PartitionState is the load state of a coordinator partition this broker
// leads (the transaction coordinator's too).
type PartitionState struct {
	Loaded bool
	Epoch  int32 // coordinator epoch: the partition's leader epoch (transactions only)
}

// ServeCode is the error code of a request whose coordinator partition is
// in state st (nil: not led here) on a coordinator closed or not; 0 if the
// request can be served.
func ServeCode(st *PartitionState, closed bool) int16 {
	switch {
	case closed:
		return kerr.CoordinatorNotAvailable.Code
	case st == nil:
		return kerr.NotCoordinator.Code
	case !st.Loaded:
		return kerr.CoordinatorLoadInProgress.Code
	}
	return 0
}

// TakePartition removes from m the entries of one coordinator partition
// (partOf tells an entry's) and returns them, in no particular order: the
// bookkeeping of Load and Unload, shared with the transaction coordinator.
func TakePartition[V any](m map[string]V, partition int32, partOf func(V) int32) []V {
	var out []V
	for k, v := range m {
		if partOf(v) == partition {
			out = append(out, v)
			delete(m, k)
		}
	}
	return out
}

// LoadDone ends a Load of partition of topic that installed st and then
// replayed the log with result err: it fails if the partition was
// unloaded or reloaded meanwhile, or, forgetting the partition, if the
// replay failed. REQUIRES: the coordinator's lock guarding parts held.
func LoadDone(parts map[int32]*PartitionState, topic string, partition int32, st *PartitionState, err error) error {
	if parts[partition] != st {
		return fmt.Errorf("%s-%d unloaded while loading", topic, partition)
	}
	if err != nil {
		delete(parts, partition)
		return fmt.Errorf("loading %s-%d: %w", topic, partition, err)
	}
	return nil
}
