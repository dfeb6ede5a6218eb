package cli

// Offsets listed right after a leader failover: a new leader answers
// OFFSET_NOT_AVAILABLE until its high watermark reaches the start of its
// leader epoch (KIP-207), and LEADER_NOT_AVAILABLE or
// NOT_LEADER_OR_FOLLOWER while metadata catches up. franz-go's consumer
// retries these; kadm returns them per partition, so the commands poll
// through them, bounded (internal/admin and internal/testutil have their
// own copies: this package imports franz-go only).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// offsetsPollMax bounds the polling.
const offsetsPollMax = 10 * time.Second

func transientListErr(err error) bool {
	return errors.Is(err, kerr.OffsetNotAvailable) || errors.Is(err, kerr.LeaderNotAvailable) ||
		errors.Is(err, kerr.NotLeaderForPartition)
}

// pollOffsets calls list until no partition answers a transient error,
// list fails, ctx ends or offsetsPollMax passes; it returns the last answer.
func pollOffsets(ctx context.Context, list func(context.Context) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	return pollList(ctx, list, func(l kadm.ListedOffsets) bool {
		transient := false
		l.Each(func(o kadm.ListedOffset) { transient = transient || transientListErr(o.Err) })
		return transient
	})
}

// pollLag is kadm's Client.Lag, polled while a partition's start or end
// offset answers a transient error.
func pollLag(ctx context.Context, adm *kadm.Client, groups ...string) (kadm.DescribedGroupLags, error) {
	return pollList(ctx, func(ctx context.Context) (kadm.DescribedGroupLags, error) { return adm.Lag(ctx, groups...) },
		func(ls kadm.DescribedGroupLags) bool {
			for _, l := range ls {
				for _, ps := range l.Lag {
					for _, m := range ps {
						if transientListErr(m.End.Err) || transientListErr(m.Start.Err) {
							return true
						}
					}
				}
			}
			return false
		})
}

func pollList[T any](ctx context.Context, list func(context.Context) (T, error), again func(T) bool) (T, error) {
	deadline := time.Now().Add(offsetsPollMax)
	for {
		res, err := list(ctx)
		if err != nil || !again(res) || ctx.Err() != nil || time.Now().Add(100*time.Millisecond).After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
