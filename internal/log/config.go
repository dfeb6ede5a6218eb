package log

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Config is a partition log's configuration, with Kafka's topic config
// names. Start from DefaultConfig: zero values mean zero (see normalized).
type Config struct {
	SegmentBytes       int64 // segment.bytes
	SegmentMs          int64 // segment.ms: roll when the segment's first batch is older than this (<=0: never)
	RetentionMs        int64 // retention.ms (-1 unlimited)
	RetentionBytes     int64 // retention.bytes (-1 unlimited)
	IndexIntervalBytes int   // index.interval.bytes (4096)
	SegmentIndexBytes  int   // segment.index.bytes (10 MiB): roll when the index would be full
	FlushMessages      int64 // flush.messages: fsync after this many messages since the last flush (<=0 or MaxInt64: never by count)
	FlushMs            int64 // flush.ms (checked by Manager's flusher; <=0 disabled)
	FileDeleteDelayMs  int64 // file.delete.delay.ms (60000): deleted segments' files are closed/removed after this

	// Compaction (cleaner.go). Compact is cleanup.policy containing
	// "compact"; the delete half of the policy is RetentionMs/RetentionBytes.
	Compact                bool
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio (0.5)
	MinCompactionLagMs     int64   // min.compaction.lag.ms (0)
	MaxCompactionLagMs     int64   // max.compaction.lag.ms (MaxInt64)
	DeleteRetentionMs      int64   // delete.retention.ms (1 day): tombstones and markers survive this long after cleaning
}

// DefaultConfig is Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		RetentionMs:        7 * 24 * 3600 * 1000,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		SegmentIndexBytes:  10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelayMs:  60000,

		MinCleanableDirtyRatio: 0.5,
		MaxCompactionLagMs:     math.MaxInt64,
		DeleteRetentionMs:      24 * 3600 * 1000,
	}
}

// Validate reports a config the log cannot work with.
func (c Config) Validate() error {
	switch {
	case c.SegmentBytes < 14 || c.SegmentBytes > math.MaxInt32:
		return fmt.Errorf("log: segment.bytes %d out of range [14, %d]", c.SegmentBytes, math.MaxInt32)
	case c.IndexIntervalBytes < 0:
		return fmt.Errorf("log: index.interval.bytes %d is negative", c.IndexIntervalBytes)
	case c.SegmentIndexBytes < timeEntrySize:
		return fmt.Errorf("log: segment.index.bytes %d is below %d", c.SegmentIndexBytes, timeEntrySize)
	}
	return nil
}

// normalized replaces values the log cannot work with: a non-positive
// segment.bytes or segment.index.bytes and a negative index.interval.bytes
// take Kafka's defaults. The rest is taken as given (retention.ms = 0 means
// "delete at once", as in Kafka), so start from DefaultConfig.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	c.SegmentBytes = min(c.SegmentBytes, math.MaxInt32)
	if c.IndexIntervalBytes < 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.SegmentIndexBytes <= 0 {
		c.SegmentIndexBytes = d.SegmentIndexBytes
	}
	c.SegmentIndexBytes = max(c.SegmentIndexBytes, timeEntrySize)
	if c.FileDeleteDelayMs < 0 {
		c.FileDeleteDelayMs = 0
	}
	return c
}

// Options are how a log is opened; the Manager fills them from the data
// dir's checkpoints and clean-shutdown marker.
type Options struct {
	// RecoveryPoint: everything below it was fsynced; an unclean open
	// re-checks only from the segment containing it.
	RecoveryPoint int64
	// Clean skips the scan: the files are trusted (the clean-shutdown
	// marker was present). Index files are still sanity-checked.
	Clean bool
	// LogStartOffset from log-start-offset-checkpoint (0 if unknown).
	LogStartOffset int64
	Logger         *slog.Logger
	Now            func() time.Time
}

// Errors. ErrOffsetOutOfRange wraps Kafka's OFFSET_OUT_OF_RANGE so the
// server can answer with errors.Is / errors.As on kerr.
var (
	ErrOffsetOutOfRange = fmt.Errorf("log: %w", kerr.OffsetOutOfRange)
	ErrClosed           = errors.New("log: closed")
	// ErrNotContiguous: a follower append whose first batch starts below
	// the LEO or whose batches are not in increasing offset order.
	ErrNotContiguous = errors.New("log: batches do not follow the log end offset")
	// ErrStaleEpoch: an append whose leader epoch is below the latest one in
	// the leader epoch cache (a fenced leader).
	ErrStaleEpoch = fmt.Errorf("log: %w", kerr.FencedLeaderEpoch)
	// ErrTooLarge: a batch larger than segment.bytes.
	ErrTooLarge = fmt.Errorf("log: %w", kerr.RecordListTooLarge)
)
