package group

import "time"

// clock is the coordinator's source of time. Tests replace it with a manual
// clock so that session, rebalance and retention deadlines fire exactly when
// the test says, without sleeping.
type clock interface {
	Now() time.Time
	// AfterFunc runs f on its own goroutine (real clock) or on the goroutine
	// that advances time (test clock) once d has elapsed.
	AfterFunc(d time.Duration, f func()) stopper
}

type stopper interface{ Stop() bool }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) }
