package testutil

// Listing offsets after a failover: a new leader answers
// OFFSET_NOT_AVAILABLE until its high watermark reaches the start of its
// leader epoch (KIP-207), and LEADER_NOT_AVAILABLE or
// NOT_LEADER_OR_FOLLOWER while metadata catches up. franz-go's consumer
// retries these by itself; kadm returns them per partition, so tests that
// list offsets on a cluster right after a failover poll through them here
// (internal/cli and internal/admin use internal/offsetpoll, bounded by a
// fixed time; these poll until the test's context ends).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ListMaxWait bounds the polling when ctx has no deadline.
const ListMaxWait = 15 * time.Second

// listInterval is the pause between two attempts.
const listInterval = 100 * time.Millisecond

// TransientListErr says whether err is one a partition answers for a moment
// around a leader election.
func TransientListErr(err error) bool {
	return errors.Is(err, kerr.OffsetNotAvailable) || errors.Is(err, kerr.LeaderNotAvailable) ||
		errors.Is(err, kerr.NotLeaderForPartition)
}

// ListOffsets calls list until no partition answers a transient error (TransientListErr), list
// fails or ctx ends (ListMaxWait without a deadline), and returns the last answer.
func ListOffsets(ctx context.Context, list func(context.Context) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	return pollList(ctx, list, func(l kadm.ListedOffsets) bool {
		transient := false
		l.Each(func(o kadm.ListedOffset) { transient = transient || TransientListErr(o.Err) })
		return transient
	})
}

// ListEndOffsets lists the end offsets (high watermarks) of topics' partitions.
func ListEndOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (kadm.ListedOffsets, error) {
	return ListOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) { return adm.ListEndOffsets(ctx, topics...) })
}

// ListStartOffsets lists the log start offsets of topics' partitions.
func ListStartOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (kadm.ListedOffsets, error) {
	return ListOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) { return adm.ListStartOffsets(ctx, topics...) })
}

// ListCommittedOffsets lists the last stable offsets (read_committed ends) of topics'
// partitions.
func ListCommittedOffsets(ctx context.Context, adm *kadm.Client, topics ...string) (kadm.ListedOffsets, error) {
	return ListOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return adm.ListCommittedOffsets(ctx, topics...)
	})
}

// ListOffsetsAfterMilli lists the first offsets at or after a time in milliseconds.
func ListOffsetsAfterMilli(ctx context.Context, adm *kadm.Client, millis int64, topics ...string) (kadm.ListedOffsets, error) {
	return ListOffsets(ctx, func(ctx context.Context) (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, millis, topics...)
	})
}

// GroupLag is kadm's Client.Lag, polled while a partition's start or end
// offset answers a transient error (TransientListErr).
func GroupLag(ctx context.Context, adm *kadm.Client, groups ...string) (kadm.DescribedGroupLags, error) {
	return pollList(ctx, func(ctx context.Context) (kadm.DescribedGroupLags, error) { return adm.Lag(ctx, groups...) },
		func(ls kadm.DescribedGroupLags) bool {
			for _, l := range ls {
				for _, ps := range l.Lag {
					for _, m := range ps {
						if TransientListErr(m.End.Err) || TransientListErr(m.Start.Err) {
							return true
						}
					}
				}
			}
			return false
		})
}

func pollList[T any](ctx context.Context, list func(context.Context) (T, error), again func(T) bool) (T, error) {
	deadline := time.Now().Add(ListMaxWait)
	if d, ok := ctx.Deadline(); ok {
		deadline = d
	}
	for {
		res, err := list(ctx)
		if err != nil || !again(res) || ctx.Err() != nil || time.Now().Add(listInterval).After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(listInterval):
		}
	}
}
