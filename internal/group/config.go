package group

import (
	"fmt"
	"time"
	"unicode/utf16"
)

// Config holds the group coordinator's settings, each named after the Kafka
// broker config it mirrors.
type Config struct {
	NumPartitions          int32         // offsets.topic.num.partitions (50)
	InitialRebalanceDelay  time.Duration // group.initial.rebalance.delay.ms (3s)
	MinSessionTimeout      time.Duration // group.min.session.timeout.ms (6s)
	MaxSessionTimeout      time.Duration // group.max.session.timeout.ms (30m)
	MaxGroupSize           int           // group.max.size (0 = unlimited)
	OffsetsRetention       time.Duration // offsets.retention.minutes (7d)
	OffsetMetadataMaxBytes int           // offset.metadata.max.bytes (4096)

	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms
	// (10m). Zero means the default.
	OffsetsRetentionCheckInterval time.Duration

	// KIP-848 consumer groups. Zero means the default.
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms (45s)
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms (5s)
	// ConsumerAssignors is group.consumer.assignors: the server assignors
	// members may name; the first is the default (uniform, range).
	ConsumerAssignors []string
	// MigrationPolicy is group.consumer.migration.policy: bidirectional
	// (default), upgrade, downgrade or disabled (bridge.go).
	MigrationPolicy string
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		NumPartitions:                 50,
		InitialRebalanceDelay:         3 * time.Second,
		MinSessionTimeout:             6 * time.Second,
		MaxSessionTimeout:             30 * time.Minute,
		MaxGroupSize:                  0,
		OffsetsRetention:              7 * 24 * time.Hour,
		OffsetMetadataMaxBytes:        4096,
		OffsetsRetentionCheckInterval: 10 * time.Minute,
		ConsumerSessionTimeout:        45 * time.Second,
		ConsumerHeartbeatInterval:     5 * time.Second,
		ConsumerAssignors:             []string{"uniform", "range"},
		MigrationPolicy:               MigrationBidirectional,
	}
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.NumPartitions <= 0:
		return fmt.Errorf("offsets.topic.num.partitions must be positive, got %d", c.NumPartitions)
	case c.InitialRebalanceDelay < 0:
		return fmt.Errorf("group.initial.rebalance.delay.ms must not be negative")
	case c.MinSessionTimeout < 0 || c.MaxSessionTimeout < c.MinSessionTimeout:
		return fmt.Errorf("group.min.session.timeout.ms (%v) must be <= group.max.session.timeout.ms (%v)", c.MinSessionTimeout, c.MaxSessionTimeout)
	case c.MaxGroupSize < 0:
		return fmt.Errorf("group.max.size must not be negative")
	case c.OffsetsRetention <= 0:
		return fmt.Errorf("offsets.retention.minutes must be positive")
	case c.OffsetMetadataMaxBytes < 0:
		return fmt.Errorf("offset.metadata.max.bytes must not be negative")
	}
	switch c.MigrationPolicy {
	case "", MigrationBidirectional, MigrationUpgrade, MigrationDowngrade, MigrationDisabled:
	default:
		return fmt.Errorf("group.consumer.migration.policy: unknown policy %q", c.MigrationPolicy)
	}
	for _, a := range c.ConsumerAssignors {
		if assignorFor(a) == nil {
			return fmt.Errorf("group.consumer.assignors: unknown assignor %q (uniform, range)", a)
		}
	}
	return nil
}

// PartitionFor returns the __consumer_offsets partition that holds groupID:
// abs(javaHashCode(groupID)) % numPartitions, with Kafka's Utils.abs, which
// maps math.MinInt32 to 0 rather than leaving it negative.
func PartitionFor(groupID string, numPartitions int32) int32 {
	if numPartitions <= 0 {
		return 0
	}
	h := javaStringHash(groupID)
	if h == -1<<31 {
		h = 0
	} else if h < 0 {
		h = -h
	}
	return h % numPartitions
}

// javaStringHash is Java's String.hashCode: s[0]*31^(n-1) + ... over the
// UTF-16 code units, wrapping at 32 bits.
func javaStringHash(s string) int32 {
	var h int32
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		for i := 0; i < len(s); i++ {
			h = 31*h + int32(s[i])
		}
		return h
	}
	for _, u := range utf16.Encode([]rune(s)) {
		h = 31*h + int32(u)
	}
	return h
}
