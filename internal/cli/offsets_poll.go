package cli

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/quillstream/quill/internal/offsetpoll"
)

// offsetsPollMax bounds polling offsets through a leader failover's
// transient errors (internal/offsetpoll).
const offsetsPollMax = 10 * time.Second

func pollOffsets(ctx context.Context, list func(context.Context) (kadm.ListedOffsets, error)) (kadm.ListedOffsets, error) {
	return offsetpoll.Offsets(ctx, offsetsPollMax, list)
}

func pollLag(ctx context.Context, adm *kadm.Client, groups ...string) (kadm.DescribedGroupLags, error) {
	return offsetpoll.Lag(ctx, offsetsPollMax, adm, groups...)
}
