package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Values of message.timestamp.type.
const (
	TimestampCreateTime    = "CreateTime"
	TimestampLogAppendTime = "LogAppendTime"
)

// CleanupPolicy is cleanup.policy as a bit set: delete, compact or both.
type CleanupPolicy uint8

const (
	CleanupDelete CleanupPolicy = 1 << iota
	CleanupCompact
)

// Delete reports whether old segments are deleted by retention.
func (p CleanupPolicy) Delete() bool { return p&CleanupDelete != 0 }

// Compact reports whether the log is compacted.
func (p CleanupPolicy) Compact() bool { return p&CleanupCompact != 0 }

// String returns the policy as Kafka's list ("delete", "compact",
// "compact,delete").
func (p CleanupPolicy) String() string {
	var s []string
	if p.Compact() {
		s = append(s, "compact")
	}
	if p.Delete() {
		s = append(s, "delete")
	}
	return strings.Join(s, ",")
}

func parseCleanupPolicy(v string) CleanupPolicy {
	var p CleanupPolicy
	for _, it := range parseList(v) {
		switch it {
		case "delete":
			p |= CleanupDelete
		case "compact":
			p |= CleanupCompact
		}
	}
	return p
}

// Topic is a topic's effective configuration: its overrides on top of the
// broker's defaults. Units and -1 conventions are Kafka's.
type Topic struct {
	CleanupPolicy        CleanupPolicy
	CompressionType      string // producer, uncompressed, gzip, snappy, lz4 or zstd
	CompressionGzipLevel int32
	CompressionLz4Level  int32
	CompressionZstdLevel int32
	DeleteRetentionMs    int64
	FileDeleteDelayMs    int64
	FlushMessages        int64
	FlushMs              int64
	IndexIntervalBytes   int32
	MaxCompactionLagMs   int64
	MaxMessageBytes      int32
	MessageTimestampType string // CreateTime or LogAppendTime
	// MessageTimestampBeforeMaxMs and AfterMaxMs are the effective window
	// for CreateTime timestamps: where one is Long.MAX_VALUE (unbounded),
	// the deprecated message.timestamp.difference.max.ms applies instead,
	// as in Kafka 3.6-3.9.
	MessageTimestampBeforeMaxMs     int64
	MessageTimestampAfterMaxMs      int64
	MessageTimestampDifferenceMaxMs int64
	MinCleanableDirtyRatio          float64
	MinCompactionLagMs              int64
	MinInsyncReplicas               int32
	Preallocate                     bool
	RetentionBytes                  int64 // -1 = unlimited
	RetentionMs                     int64 // -1 = unlimited
	SegmentBytes                    int64
	SegmentIndexBytes               int32
	SegmentJitterMs                 int64
	SegmentMs                       int64
	UncleanLeaderElectionEnable     bool
	MessageDownconversionEnable     bool
}

// topicKey is a topic Def plus where its value comes from on the broker and
// the Topic field it is parsed into.
type topicKey struct {
	Def
	broker func(*Broker) any
	topic  func(*Topic) any
}

func syn(keys ...string) []string { return keys }

// topicKeys lists Kafka's topic configs that Quill knows, alphabetically as
// Kafka's docs do.
var topicKeys = []topicKey{
	{Def{Name: "cleanup.policy", Type: TypeList, Default: "delete", BrokerSynonyms: syn("log.cleanup.policy"),
		Validate: listOf(true, "delete", "compact"),
		Doc:      "delete removes old segments by retention; compact keeps the last record of each key; both may be given."},
		func(b *Broker) any { return &b.LogCleanupPolicy }, func(t *Topic) any { return &t.CleanupPolicy }},
	{Def{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", BrokerSynonyms: syn("compression.gzip.level"),
		Validate: gzipLevel, Doc: "Level used when the broker compresses with gzip."},
		func(b *Broker) any { return &b.CompressionGzipLevel }, func(t *Topic) any { return &t.CompressionGzipLevel }},
	{Def{Name: "compression.lz4.level", Type: TypeInt, Default: "9", BrokerSynonyms: syn("compression.lz4.level"),
		Validate: between(1, 17), Doc: "Level used when the broker compresses with lz4."},
		func(b *Broker) any { return &b.CompressionLz4Level }, func(t *Topic) any { return &t.CompressionLz4Level }},
	{Def{Name: "compression.type", Type: TypeString, Default: "producer", BrokerSynonyms: syn("compression.type"),
		Validate: oneOf(compressionTypes...),
		Doc:      "Codec of stored batches; producer keeps what the producer sent, anything else makes the broker recompress."},
		func(b *Broker) any { return &b.CompressionType }, func(t *Topic) any { return &t.CompressionType }},
	{Def{Name: "compression.zstd.level", Type: TypeInt, Default: "3", BrokerSynonyms: syn("compression.zstd.level"),
		Validate: between(-131072, 22), Doc: "Level used when the broker compresses with zstd."},
		func(b *Broker) any { return &b.CompressionZstdLevel }, func(t *Topic) any { return &t.CompressionZstdLevel }},
	{Def{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", BrokerSynonyms: syn("log.cleaner.delete.retention.ms"),
		Validate: atLeast(0), Doc: "How long tombstones and transaction markers survive compaction."},
		func(b *Broker) any { return &b.LogCleanerDeleteRetentionMs }, func(t *Topic) any { return &t.DeleteRetentionMs }},
	{Def{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", BrokerSynonyms: syn("log.segment.delete.delay.ms"),
		Validate: atLeast(0), Doc: "Delay between marking a segment deleted and removing its files."},
		func(b *Broker) any { return &b.LogSegmentDeleteDelayMs }, func(t *Topic) any { return &t.FileDeleteDelayMs }},
	{Def{Name: "flush.messages", Type: TypeLong, Default: maxLong, BrokerSynonyms: syn("log.flush.interval.messages"),
		Validate: atLeast(1), Doc: "fsync the log after this many messages."},
		func(b *Broker) any { return &b.LogFlushIntervalMessages }, func(t *Topic) any { return &t.FlushMessages }},
	{Def{Name: "flush.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: flushMsKeys,
		Validate: atLeast(0), Doc: "fsync the log when unflushed data is older than this."},
		brokerFlushMs, func(t *Topic) any { return &t.FlushMs }},
	{Def{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", BrokerSynonyms: syn("log.index.interval.bytes"),
		Validate: atLeast(0), Doc: "Bytes of log between two offset-index entries."},
		func(b *Broker) any { return &b.LogIndexIntervalBytes }, func(t *Topic) any { return &t.IndexIntervalBytes }},
	{Def{Name: "max.compaction.lag.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: syn("log.cleaner.max.compaction.lag.ms"),
		Validate: atLeast(1), Doc: "Longest a record may stay uncompacted."},
		func(b *Broker) any { return &b.LogCleanerMaxCompactionLagMs }, func(t *Topic) any { return &t.MaxCompactionLagMs }},
	{Def{Name: "max.message.bytes", Type: TypeInt, Default: "1048588", BrokerSynonyms: syn("message.max.bytes"),
		Validate: atLeast(0), Doc: "Largest record batch (after compression) the topic accepts."},
		func(b *Broker) any { return &b.MessageMaxBytes }, func(t *Topic) any { return &t.MaxMessageBytes }},
	{Def{Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", BrokerSynonyms: syn("log.message.downconversion.enable"),
		Ignored: true, Doc: "Kafka: allow down-converting records for old Fetch versions.",
		Note: "Quill serves only record batch v2 and never down-converts."},
		func(b *Broker) any { return &b.LogMessageDownconversionEnable }, func(t *Topic) any { return &t.MessageDownconversionEnable }},
	{Def{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "3600000", BrokerSynonyms: syn("log.message.timestamp.after.max.ms"),
		Validate: atLeast(0), Doc: "With CreateTime, reject batches whose timestamp is further ahead of the broker's clock than this.",
		Note: "Kafka 4.0's default (1 hour, KIP-1030)."},
		func(b *Broker) any { return &b.LogMessageTimestampAfterMaxMs }, func(t *Topic) any { return &t.MessageTimestampAfterMaxMs }},
	{Def{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: syn("log.message.timestamp.before.max.ms"),
		Validate: atLeast(0), Doc: "With CreateTime, reject batches whose timestamp is further behind the broker's clock than this."},
		func(b *Broker) any { return &b.LogMessageTimestampBeforeMaxMs }, func(t *Topic) any { return &t.MessageTimestampBeforeMaxMs }},
	{Def{Name: "message.timestamp.difference.max.ms", Type: TypeLong, Default: maxLong, BrokerSynonyms: syn("log.message.timestamp.difference.max.ms"),
		Validate: atLeast(0), Doc: "Deprecated: the before/after window where those are unbounded.",
		Note: "Deprecated in Kafka 3.6, removed in 4.0; applies only where before.max.ms or after.max.ms is Long.MAX_VALUE."},
		func(b *Broker) any { return &b.LogMessageTimestampDifferenceMaxMs }, func(t *Topic) any { return &t.MessageTimestampDifferenceMaxMs }},
	{Def{Name: "message.timestamp.type", Type: TypeString, Default: TimestampCreateTime, BrokerSynonyms: syn("log.message.timestamp.type"),
		Validate: oneOf(TimestampCreateTime, TimestampLogAppendTime),
		Doc:      "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock."},
		func(b *Broker) any { return &b.LogMessageTimestampType }, func(t *Topic) any { return &t.MessageTimestampType }},
	{Def{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", BrokerSynonyms: syn("log.cleaner.min.cleanable.ratio"),
		Validate: ratio, Doc: "Share of the log that must be uncompacted before the cleaner compacts it."},
		func(b *Broker) any { return &b.LogCleanerMinCleanableRatio }, func(t *Topic) any { return &t.MinCleanableDirtyRatio }},
	{Def{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", BrokerSynonyms: syn("log.cleaner.min.compaction.lag.ms"),
		Validate: atLeast(0), Doc: "Shortest time a record stays uncompacted."},
		func(b *Broker) any { return &b.LogCleanerMinCompactionLagMs }, func(t *Topic) any { return &t.MinCompactionLagMs }},
	{Def{Name: "min.insync.replicas", Type: TypeInt, Default: "1", BrokerSynonyms: syn("min.insync.replicas"),
		Validate: atLeast(1), Doc: "Fewest in-sync replicas for an acks=all write to succeed."},
		func(b *Broker) any { return &b.MinInsyncReplicas }, func(t *Topic) any { return &t.MinInsyncReplicas }},
	{Def{Name: "preallocate", Type: TypeBoolean, Default: "false", BrokerSynonyms: syn("log.preallocate"),
		Doc: "Preallocate segment files when they are created."},
		func(b *Broker) any { return &b.LogPreallocate }, func(t *Topic) any { return &t.Preallocate }},
	{Def{Name: "retention.bytes", Type: TypeLong, Default: "-1", BrokerSynonyms: syn("log.retention.bytes"),
		Doc: "Size a partition may keep before its oldest segments are deleted; -1 is unlimited."},
		func(b *Broker) any { return &b.LogRetentionBytes }, func(t *Topic) any { return &t.RetentionBytes }},
	{Def{Name: "retention.ms", Type: TypeLong, Default: "604800000", BrokerSynonyms: retentionKeys,
		Validate: atLeast(-1), Doc: "Age after which segments are deleted; -1 is unlimited."},
		func(b *Broker) any { return &b.LogRetentionMs }, func(t *Topic) any { return &t.RetentionMs }},
	{Def{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", BrokerSynonyms: syn("log.segment.bytes"),
		Validate: atLeast(14), Doc: "Size at which a segment is rolled."},
		func(b *Broker) any { return &b.LogSegmentBytes }, func(t *Topic) any { return &t.SegmentBytes }},
	{Def{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", BrokerSynonyms: syn("log.index.size.max.bytes"),
		Validate: atLeast(4), Doc: "Size of a segment's offset index (and bound of its time index)."},
		func(b *Broker) any { return &b.LogIndexSizeMaxBytes }, func(t *Topic) any { return &t.SegmentIndexBytes }},
	{Def{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", BrokerSynonyms: rollJitterKeys,
		Validate: atLeast(0), Doc: "Random amount subtracted from segment.ms per segment, to spread rolls."},
		func(b *Broker) any { return &b.LogRollJitterMs }, func(t *Topic) any { return &t.SegmentJitterMs }},
	{Def{Name: "segment.ms", Type: TypeLong, Default: "604800000", BrokerSynonyms: rollKeys,
		Validate: atLeast(1), Doc: "Age at which a segment is rolled even if not full."},
		func(b *Broker) any { return &b.LogRollMs }, func(t *Topic) any { return &t.SegmentMs }},
	{Def{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", BrokerSynonyms: syn("unclean.leader.election.enable"),
		Doc: "Let an out-of-sync replica become leader when no in-sync one is left, losing committed data."},
		func(b *Broker) any { return &b.UncleanLeaderElectionEnable }, func(t *Topic) any { return &t.UncleanLeaderElectionEnable }},
}

// brokerFlushMs is the broker value behind flush.ms: log.flush.interval.ms if
// set, else log.flush.scheduler.interval.ms.
func brokerFlushMs(b *Broker) any {
	v := b.LogFlushIntervalMs
	if v < 0 {
		v = b.LogFlushSchedulerIntervalMs
	}
	return &v
}

var topicDefIndex = func() map[string]*topicKey {
	m := make(map[string]*topicKey, len(topicKeys))
	for i := range topicKeys {
		m[topicKeys[i].Name] = &topicKeys[i]
	}
	return m
}()

// TopicDefs returns the definitions of the topic configs Quill knows. The
// caller may modify the returned slice.
func TopicDefs() []Def {
	out := make([]Def, len(topicKeys))
	for i := range topicKeys {
		out[i] = topicKeys[i].Def
	}
	return out
}

// LookupTopicDef returns the definition of a topic config.
func LookupTopicDef(name string) (Def, bool) {
	k, ok := topicDefIndex[name]
	if !ok {
		return Def{}, false
	}
	return k.Def, true
}

// format renders a typed field as Kafka prints config values.
func format(p any) string {
	switch f := p.(type) {
	case *int16:
		return strconv.FormatInt(int64(*f), 10)
	case *int32:
		return strconv.FormatInt(int64(*f), 10)
	case *int64:
		return strconv.FormatInt(*f, 10)
	case *float64:
		return strconv.FormatFloat(*f, 'g', -1, 64)
	case *bool:
		return strconv.FormatBool(*f)
	case *string:
		return *f
	case *[]string:
		return strings.Join(*f, ",")
	}
	panic(fmt.Sprintf("config: cannot format %T", p))
}

// TopicDefaults returns, for every topic config, the value a topic without
// overrides gets from this broker's configuration through its synonyms.
func (b *Broker) TopicDefaults() map[string]string {
	m := make(map[string]string, len(topicKeys))
	for i := range topicKeys {
		m[topicKeys[i].Name] = format(topicKeys[i].broker(b))
	}
	return m
}

// ValidateTopicConfigs checks topic overrides as CreateTopics and
// AlterConfigs must: an unknown key is an *UnknownKeyError, a bad value a
// *ValueError. Keys are checked in sorted order so the error is stable. It
// also rejects min.compaction.lag.ms above max.compaction.lag.ms when both
// are given; ResolveTopic checks that pair against the broker's values too.
func ValidateTopicConfigs(overrides map[string]string) error {
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		d, ok := topicDefIndex[k]
		if !ok {
			return &UnknownKeyError{Key: k}
		}
		v := strings.TrimSpace(overrides[k])
		if err := d.check(v); err != nil {
			return &ValueError{Key: k, Value: overrides[k], Where: "topic config", Reason: err.Error()}
		}
	}
	minLag, okMin := overrides["min.compaction.lag.ms"]
	maxLag, okMax := overrides["max.compaction.lag.ms"]
	if okMin && okMax {
		return checkCompactionLag(strings.TrimSpace(minLag), strings.TrimSpace(maxLag))
	}
	return nil
}

func checkCompactionLag(minLag, maxLag string) error {
	lo, _ := strconv.ParseInt(minLag, 10, 64)
	hi, _ := strconv.ParseInt(maxLag, 10, 64)
	if lo > hi {
		return &ValueError{Key: "min.compaction.lag.ms", Value: minLag, Where: "topic config",
			Reason: fmt.Sprintf("must not exceed max.compaction.lag.ms (%s)", maxLag)}
	}
	return nil
}

// ResolveTopic returns the effective configuration of a topic with the given
// overrides on broker (nil means Defaults()).
func ResolveTopic(broker *Broker, overrides map[string]string) (*Topic, error) {
	if broker == nil {
		broker = Defaults()
	}
	if err := ValidateTopicConfigs(overrides); err != nil {
		return nil, err
	}
	vals := broker.TopicDefaults()
	for k, v := range overrides {
		vals[k] = strings.TrimSpace(v)
	}
	t := &Topic{}
	for i := range topicKeys {
		k := &topicKeys[i]
		v := vals[k.Name]
		var err error
		if p, ok := k.topic(t).(*CleanupPolicy); ok {
			*p = parseCleanupPolicy(v)
		} else if p, ok := k.topic(t).(*int64); ok && k.Type == TypeInt {
			// segment.bytes is an int in Kafka but int64 here.
			*p, err = strconv.ParseInt(v, 10, 32)
		} else {
			err = assign(k.topic(t), v)
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("config: broker default for %s does not parse", k.Name), err)
		}
	}
	if err := checkCompactionLag(vals["min.compaction.lag.ms"], vals["max.compaction.lag.ms"]); err != nil {
		return nil, err
	}
	// Kafka 3.6-3.9: an unbounded before/after window falls back to the
	// deprecated difference setting.
	const unbounded = int64(1<<63 - 1)
	if t.MessageTimestampBeforeMaxMs == unbounded {
		t.MessageTimestampBeforeMaxMs = t.MessageTimestampDifferenceMaxMs
	}
	if t.MessageTimestampAfterMaxMs == unbounded {
		t.MessageTimestampAfterMaxMs = t.MessageTimestampDifferenceMaxMs
	}
	return t, nil
}
