package server

import "time"

// Observer receives what the server does, for metrics. Methods are called
// on request goroutines and must be cheap and safe for concurrent use.
type Observer interface {
	// Request is called after each request is handled.
	Request(key, version int16, d time.Duration)
	// Produced is called for each batch appended by a Produce request.
	Produced(topic string, partition int32, records int, bytes int)
	// Fetched is called for each partition returning data; records
	// counts the offsets returned (compaction gaps included).
	Fetched(topic string, partition int32, records int, bytes int)
	// ProduceWaiting is called with +1 when an acks=all produce starts
	// waiting for its replicas and -1 when it stops.
	ProduceWaiting(delta int)
	// Connection is called with +1 when a connection opens and -1 when it
	// closes.
	Connection(listener string, delta int)
	// FetchWaiting is called with +1 when a fetch parks in its long poll
	// and -1 when it leaves.
	FetchWaiting(delta int)
}

type nopObserver struct{}

func (nopObserver) Request(int16, int16, time.Duration) {}
func (nopObserver) Produced(string, int32, int, int)    {}
func (nopObserver) Fetched(string, int32, int, int)     {}
func (nopObserver) ProduceWaiting(int)                  {}
func (nopObserver) Connection(string, int)              {}
func (nopObserver) FetchWaiting(int)                    {}
