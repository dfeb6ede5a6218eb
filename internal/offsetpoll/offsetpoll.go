// Package offsetpoll lists offsets through the errors of a leader
// failover. A new leader answers OFFSET_NOT_AVAILABLE until its high
// watermark reaches the start of its leader epoch (KIP-207), and
// LEADER_NOT_AVAILABLE or NOT_LEADER_OR_FOLLOWER while metadata catches
// up. franz-go's consumer retries these; kadm returns them per partition,
// so the admin API and the CLI poll through them, bounded. It imports
// franz-go only. (internal/testutil keeps its own variant, which polls
// until the test's context ends.)
package offsetpoll

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Transient reports whether a listing error passes once the new leader
// has caught up.
func Transient(err error) bool {
	return errors.Is(err, kerr.OffsetNotAvailable) || errors.Is(err, kerr.LeaderNotAvailable) ||
		errors.Is(err, kerr.NotLeaderForPartition)
}

// Offsets calls list until no partition answers a transient error, list
// fails, ctx ends or max passes; it returns the last answer.
func Offsets(ctx context.Context, max time.Duration, list func(context.Context) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	return poll(ctx, max, list, func(l kadm.ListedOffsets) bool {
		transient := false
		l.Each(func(o kadm.ListedOffset) { transient = transient || Transient(o.Err) })
		return transient
	})
}

// Lag is kadm's Client.Lag, polled like Offsets while a partition's start
// or end offset answers a transient error.
func Lag(ctx context.Context, max time.Duration, adm *kadm.Client, groups ...string) (kadm.DescribedGroupLags, error) {
	return poll(ctx, max, func(ctx context.Context) (kadm.DescribedGroupLags, error) { return adm.Lag(ctx, groups...) },
		func(ls kadm.DescribedGroupLags) bool {
			for _, l := range ls {
				for _, ps := range l.Lag {
					for _, m := range ps {
						if Transient(m.End.Err) || Transient(m.Start.Err) {
							return true
						}
					}
				}
			}
			return false
		})
}

func poll[T any](ctx context.Context, max time.Duration, list func(context.Context) (T, error), again func(T) bool) (T, error) {
	deadline := time.Now().Add(max)
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
