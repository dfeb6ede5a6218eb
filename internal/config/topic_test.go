package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestTopicKeyTable(t *testing.T) {
	defaults := Defaults().TopicDefaults()
	required := []string{"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
		"flush.messages", "flush.ms", "index.interval.bytes", "max.compaction.lag.ms", "max.message.bytes",
		"message.timestamp.type", "message.timestamp.before.max.ms", "message.timestamp.after.max.ms",
		"message.timestamp.difference.max.ms", "min.cleanable.dirty.ratio", "min.compaction.lag.ms",
		"min.insync.replicas", "preallocate", "retention.bytes", "retention.ms", "segment.bytes",
		"segment.index.bytes", "segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
		"message.downconversion.enable"}
	for _, name := range required {
		if _, ok := LookupTopicDef(name); !ok {
			t.Errorf("topic config %s missing", name)
		}
	}
	if _, ok := LookupTopicDef("log.retention.ms"); ok {
		t.Error("LookupTopicDef found a broker key")
	}
	for _, d := range TopicDefs() {
		if d.Doc == "" || len(d.BrokerSynonyms) == 0 {
			t.Errorf("%s: needs Doc and BrokerSynonyms", d.Name)
		}
		if err := d.check(d.Default); err != nil {
			t.Errorf("%s: default %q fails its own check: %v", d.Name, d.Default, err)
		}
		// A broker with nothing set must give each topic Kafka's default.
		if defaults[d.Name] != d.Default {
			t.Errorf("%s: broker default gives %q, the topic default is %q", d.Name, defaults[d.Name], d.Default)
		}
		for _, s := range d.BrokerSynonyms {
			if _, ok := LookupBrokerDef(s); !ok {
				t.Errorf("%s: synonym %s is not a broker key", d.Name, s)
			}
		}
	}
}

func TestResolveTopic(t *testing.T) {
	def, err := ResolveTopic(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Topic{
		CleanupPolicy: CleanupDelete, CompressionType: "producer", CompressionGzipLevel: -1,
		CompressionLz4Level: 9, CompressionZstdLevel: 3, DeleteRetentionMs: 86400000,
		FileDeleteDelayMs: 60000, FlushMessages: 1<<63 - 1, FlushMs: 1<<63 - 1, IndexIntervalBytes: 4096,
		MaxCompactionLagMs: 1<<63 - 1, MaxMessageBytes: 1048588, MessageTimestampType: "CreateTime",
		MessageTimestampBeforeMaxMs: 1<<63 - 1, MessageTimestampAfterMaxMs: 3600000,
		MessageTimestampDifferenceMaxMs: 1<<63 - 1, MinCleanableDirtyRatio: 0.5, MinInsyncReplicas: 1,
		RetentionBytes: -1, RetentionMs: 604800000, SegmentBytes: 1073741824, SegmentIndexBytes: 10485760,
		SegmentMs: 604800000, MessageDownconversionEnable: true,
	}
	if *def != want {
		t.Errorf("ResolveTopic(defaults)\n got %+v\nwant %+v", *def, want)
	}

	broker := mustLoad(t, "log.retention.hours=1\nlog.segment.bytes=1048576\nlog.cleanup.policy=compact\nmin.insync.replicas=2\n")
	tests := []struct {
		name      string
		overrides map[string]string
		check     func(*Topic) bool
	}{
		{"broker values", nil, func(t *Topic) bool {
			return t.RetentionMs == 3600_000 && t.SegmentBytes == 1048576 && t.CleanupPolicy == CleanupCompact && t.MinInsyncReplicas == 2
		}},
		{"topic overrides broker", map[string]string{"retention.ms": "-1", "segment.bytes": " 2048 ", "cleanup.policy": "compact,delete"},
			func(t *Topic) bool {
				return t.RetentionMs == -1 && t.SegmentBytes == 2048 && t.CleanupPolicy.Compact() && t.CleanupPolicy.Delete()
			}},
		{"log append time", map[string]string{"message.timestamp.type": "LogAppendTime"}, func(t *Topic) bool {
			return t.MessageTimestampType == TimestampLogAppendTime
		}},
		{"difference fills an unbounded window", map[string]string{"message.timestamp.difference.max.ms": "1000"}, func(t *Topic) bool {
			return t.MessageTimestampBeforeMaxMs == 1000 && t.MessageTimestampAfterMaxMs == 3600000
		}},
		{"explicit window beats difference", map[string]string{"message.timestamp.difference.max.ms": "1000",
			"message.timestamp.before.max.ms": "50", "message.timestamp.after.max.ms": "9223372036854775807"}, func(t *Topic) bool {
			return t.MessageTimestampBeforeMaxMs == 50 && t.MessageTimestampAfterMaxMs == 1000
		}},
		{"ratio", map[string]string{"min.cleanable.dirty.ratio": "0.01", "preallocate": "TRUE"}, func(t *Topic) bool {
			return t.MinCleanableDirtyRatio == 0.01 && t.Preallocate
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveTopic(broker, tt.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(got) {
				t.Errorf("ResolveTopic(%v) = %+v", tt.overrides, *got)
			}
		})
	}
	if CleanupPolicy(CleanupCompact|CleanupDelete).String() != "compact,delete" {
		t.Error("CleanupPolicy.String")
	}
}

func TestValidateTopicConfigs(t *testing.T) {
	tests := []struct {
		overrides map[string]string
		key, want string // want "" = valid
	}{
		{map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}, "", ""},
		{map[string]string{}, "", ""},
		{map[string]string{"retention.ms": "-2"}, "retention.ms", "at least -1"},
		{map[string]string{"retention.ms": "soon"}, "retention.ms", "64-bit"},
		{map[string]string{"segment.bytes": "13"}, "segment.bytes", "at least 14"},
		{map[string]string{"segment.bytes": "4294967296"}, "segment.bytes", "32-bit"},
		{map[string]string{"cleanup.policy": "archive"}, "cleanup.policy", "delete, compact"},
		{map[string]string{"compression.type": "none"}, "compression.type", "uncompressed"},
		{map[string]string{"min.insync.replicas": "0"}, "min.insync.replicas", "at least 1"},
		{map[string]string{"unclean.leader.election.enable": "1"}, "unclean.leader.election.enable", "true or false"},
		{map[string]string{"log.retention.ms": "5"}, "log.retention.ms", "unknown topic config"},
		{map[string]string{"b.unknown": "1", "a.unknown": "1"}, "a.unknown", "unknown topic config"},
		{map[string]string{"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}, "min.compaction.lag.ms", "max.compaction.lag.ms"},
	}
	for _, tt := range tests {
		err := ValidateTopicConfigs(tt.overrides)
		if tt.want == "" {
			if err != nil {
				t.Errorf("ValidateTopicConfigs(%v) = %v", tt.overrides, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.key) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ValidateTopicConfigs(%v) = %v, want an error naming %s and %q", tt.overrides, err, tt.key, tt.want)
		}
		if _, err := ResolveTopic(nil, tt.overrides); err == nil {
			t.Errorf("ResolveTopic(%v) accepted what ValidateTopicConfigs rejects", tt.overrides)
		}
	}
	var uk *UnknownKeyError
	if err := ValidateTopicConfigs(map[string]string{"x": "1"}); !errors.As(err, &uk) || uk.Key != "x" {
		t.Errorf("unknown key error = %#v", err)
	}
	// The compaction lags are also checked against the broker's values.
	b := mustLoad(t, "log.cleaner.max.compaction.lag.ms=100\n")
	if _, err := ResolveTopic(b, map[string]string{"min.compaction.lag.ms": "200"}); err == nil {
		t.Error("min.compaction.lag.ms above the broker's max was accepted")
	}
}

func entry(t *testing.T, es []Entry, name string) Entry {
	t.Helper()
	for _, e := range es {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("no entry %s", name)
	return Entry{}
}

func TestDescribeTopic(t *testing.T) {
	b := mustLoad(t, "log.retention.ms=1000\nlog.segment.bytes=2048\n")
	es := DescribeTopic(b, map[string]string{"retention.ms": "5000", "cleanup.policy": "compact"})
	if len(es) != len(TopicDefs()) {
		t.Fatalf("%d entries, want %d", len(es), len(TopicDefs()))
	}
	tests := []struct {
		name   string
		value  string
		source Source
		syns   []Synonym
	}{
		{"retention.ms", "5000", SourceTopic, []Synonym{
			{"retention.ms", "5000", SourceTopic},
			{"log.retention.ms", "1000", SourceStaticBroker},
			{"log.retention.hours", "168", SourceDefault},
		}},
		{"segment.bytes", "2048", SourceStaticBroker, []Synonym{
			{"log.segment.bytes", "2048", SourceStaticBroker},
			{"log.segment.bytes", "1073741824", SourceDefault},
		}},
		{"cleanup.policy", "compact", SourceTopic, []Synonym{
			{"cleanup.policy", "compact", SourceTopic},
			{"log.cleanup.policy", "delete", SourceDefault},
		}},
		{"segment.ms", "604800000", SourceDefault, []Synonym{{"log.roll.hours", "168", SourceDefault}}},
		{"flush.ms", "9223372036854775807", SourceDefault, []Synonym{{"log.flush.scheduler.interval.ms", "9223372036854775807", SourceDefault}}},
	}
	for _, tt := range tests {
		e := entry(t, es, tt.name)
		if e.Value != tt.value || e.Source != tt.source || !reflect.DeepEqual(e.Synonyms, tt.syns) {
			t.Errorf("%s = %q from %v, synonyms %+v\nwant %q from %v, synonyms %+v", tt.name, e.Value, e.Source, e.Synonyms, tt.value, tt.source, tt.syns)
		}
		if e.ReadOnly || e.Sensitive || e.Doc == "" || TypeCode(e.Type) == 0 {
			t.Errorf("%s: flags or doc wrong: %+v", tt.name, e)
		}
	}
	// Without a broker: everything from defaults.
	for _, e := range DescribeTopic(nil, nil) {
		if e.Source != SourceDefault {
			t.Errorf("%s source %v, want DEFAULT_CONFIG", e.Name, e.Source)
		}
	}
}

func TestDescribeBroker(t *testing.T) {
	b := mustLoad(t, "log.retention.hours=24\nssl.key.password=secret\nnum.partitions=3\n")
	es := DescribeBroker(b)
	if len(es) != len(BrokerDefs()) {
		t.Fatalf("%d entries, want %d", len(es), len(BrokerDefs()))
	}
	tests := []struct {
		name   string
		value  string
		source Source
		syns   []Synonym
	}{
		{"num.partitions", "3", SourceStaticBroker, []Synonym{
			{"num.partitions", "3", SourceStaticBroker}, {"num.partitions", "1", SourceDefault}}},
		{"log.segment.bytes", "1073741824", SourceDefault, []Synonym{{"log.segment.bytes", "1073741824", SourceDefault}}},
		// Kafka shows log.retention.ms itself as null, with the hours
		// setting as the synonym in effect.
		{"log.retention.ms", "", SourceStaticBroker, []Synonym{
			{"log.retention.hours", "24", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}},
		{"log.retention.hours", "24", SourceStaticBroker, []Synonym{
			{"log.retention.hours", "24", SourceStaticBroker}, {"log.retention.hours", "168", SourceDefault}}},
		{"ssl.key.password", "", SourceStaticBroker, []Synonym{{"ssl.key.password", "", SourceStaticBroker}}},
		{"broker.rack", "", SourceDefault, nil},
	}
	for _, tt := range tests {
		e := entry(t, es, tt.name)
		if e.Value != tt.value || e.Source != tt.source || !reflect.DeepEqual(e.Synonyms, tt.syns) {
			t.Errorf("%s = %q from %v, synonyms %+v\nwant %q from %v, synonyms %+v", tt.name, e.Value, e.Source, e.Synonyms, tt.value, tt.source, tt.syns)
		}
		if !e.ReadOnly {
			t.Errorf("%s: broker configs are read-only for now", tt.name)
		}
	}
	if e := entry(t, es, "ssl.key.password"); !e.Sensitive || e.Type != TypePassword || TypeCode(e.Type) != 9 {
		t.Errorf("password entry %+v", e)
	}
	if SourceStaticBroker.String() != "STATIC_BROKER_CONFIG" || Source(42).String() != "UNKNOWN" {
		t.Error("Source.String")
	}
}
