package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// load writes content to a server.properties in a temporary directory and
// loads it with the overrides.
func load(t *testing.T, content string, overrides ...string) (*Broker, []Warning, error) {
	t.Helper()
	path := ""
	if content != "" {
		path = filepath.Join(t.TempDir(), "server.properties")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return Load(path, overrides)
}

func mustLoad(t *testing.T, content string, overrides ...string) *Broker {
	t.Helper()
	b, _, err := load(t, content, overrides...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return b
}

func TestDefaults(t *testing.T) {
	b := Defaults()
	if err := b.Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"NodeID", b.NodeID, int32(1)},
		{"ProcessRoles", b.ProcessRoles, []string{"broker", "controller"}},
		{"Listeners", b.Listeners, []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092, SecurityProtocol: "PLAINTEXT"}}},
		{"AdvertisedListeners", b.AdvertisedListeners, b.Listeners},
		{"InterBrokerListenerName", b.InterBrokerListenerName, "PLAINTEXT"},
		{"ControllerQuorumVoters", len(b.ControllerQuorumVoters), 0},
		{"LogDirs", b.LogDirs, []string{"./quill-data"}},
		{"MetadataLogDir", b.MetadataLogDir, "./quill-data"},
		{"NumPartitions", b.NumPartitions, int32(1)},
		{"DefaultReplicationFactor", b.DefaultReplicationFactor, int16(1)},
		{"AutoCreateTopicsEnable", b.AutoCreateTopicsEnable, true},
		{"LogSegmentBytes", b.LogSegmentBytes, int32(1073741824)},
		{"LogRollMs", b.LogRollMs, int64(168 * 3600_000)},
		{"LogRetentionMs", b.LogRetentionMs, int64(168 * 3600_000)},
		{"LogRetentionBytes", b.LogRetentionBytes, int64(-1)},
		{"LogRetentionCheckIntervalMs", b.LogRetentionCheckIntervalMs, int64(300000)},
		{"MessageMaxBytes", b.MessageMaxBytes, int32(1048588)},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes, int32(104857600)},
		{"LogFlushIntervalMessages", b.LogFlushIntervalMessages, int64(9223372036854775807)},
		{"LogFlushIntervalMs", b.LogFlushIntervalMs, int64(-1)},
		{"LogIndexIntervalBytes", b.LogIndexIntervalBytes, int32(4096)},
		{"LogIndexSizeMaxBytes", b.LogIndexSizeMaxBytes, int32(10485760)},
		{"LogCleanupPolicy", b.LogCleanupPolicy, []string{"delete"}},
		{"LogMessageTimestampType", b.LogMessageTimestampType, "CreateTime"},
		{"CompressionType", b.CompressionType, "producer"},
		{"MinInsyncReplicas", b.MinInsyncReplicas, int32(1)},
		{"OffsetsTopicNumPartitions", b.OffsetsTopicNumPartitions, int32(50)},
		{"OffsetsTopicReplicationFactor", b.OffsetsTopicReplicationFactor, int16(1)},
		{"OffsetsRetentionMinutes", b.OffsetsRetentionMinutes, int32(10080)},
		{"GroupInitialRebalanceDelayMs", b.GroupInitialRebalanceDelayMs, int32(3000)},
		{"GroupMinSessionTimeoutMs", b.GroupMinSessionTimeoutMs, int32(6000)},
		{"GroupMaxSessionTimeoutMs", b.GroupMaxSessionTimeoutMs, int32(1800000)},
		{"GroupMaxSize", b.GroupMaxSize, int32(2147483647)},
		{"TransactionStateLogNumPartitions", b.TransactionStateLogNumPartitions, int32(50)},
		{"TransactionalIDExpirationMs", b.TransactionalIDExpirationMs, int32(604800000)},
		{"TransactionMaxTimeoutMs", b.TransactionMaxTimeoutMs, int32(900000)},
		{"ProducerIDExpirationMs", b.ProducerIDExpirationMs, int32(86400000)},
		{"ReplicaLagTimeMaxMs", b.ReplicaLagTimeMaxMs, int64(30000)},
		{"UncleanLeaderElectionEnable", b.UncleanLeaderElectionEnable, false},
		{"DeleteTopicEnable", b.DeleteTopicEnable, true},
		{"AdminListeners", b.AdminListeners, []string{"http://127.0.0.1:9644"}},
		{"LogLevel", b.LogLevel, "info"},
		{"LogFormat", b.LogFormat, "text"},
		{"FetchMaxBytes", b.FetchMaxBytes, int32(57671680)},
		{"ConnectionsMaxIdleMs", b.ConnectionsMaxIdleMs, int64(600000)},
		{"LogCleanerMinCleanableRatio", b.LogCleanerMinCleanableRatio, 0.5},
		{"ListenerSecurityProtocolMap[CONTROLLER]", b.ListenerSecurityProtocolMap["CONTROLLER"], "PLAINTEXT"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
	if len(b.Raw()) != 0 {
		t.Errorf("Raw() = %v, want empty", b.Raw())
	}
}

// The table must be self-consistent: defaults pass their own checks, bound
// fields have the Go type of the key's Kafka type, and synonyms exist.
func TestBrokerKeyTable(t *testing.T) {
	goType := map[string][]reflect.Kind{
		TypeInt:      {reflect.Int32, reflect.Int16},
		TypeShort:    {reflect.Int16},
		TypeLong:     {reflect.Int64},
		TypeDouble:   {reflect.Float64},
		TypeBoolean:  {reflect.Bool},
		TypeString:   {reflect.String},
		TypePassword: {reflect.String},
		TypeClass:    {reflect.String},
		TypeList:     {reflect.Slice},
	}
	b := Defaults()
	for _, k := range brokerKeys {
		if k.Doc == "" {
			t.Errorf("%s: no Doc", k.Name)
		}
		if k.Ignored && k.Note == "" {
			t.Errorf("%s: ignored without a Note saying why", k.Name)
		}
		if k.Default != "" {
			if err := k.check(k.Default); err != nil {
				t.Errorf("%s: default %q fails its own check: %v", k.Name, k.Default, err)
			}
		}
		for _, s := range k.BrokerSynonyms {
			if _, ok := brokerKeyIndex[s]; !ok {
				t.Errorf("%s: synonym %s is not a broker key", k.Name, s)
			}
		}
		if k.bind == nil {
			continue
		}
		kind := reflect.TypeOf(k.bind(b)).Elem().Kind()
		ok := false
		for _, want := range goType[k.Type] {
			ok = ok || kind == want
		}
		if !ok {
			t.Errorf("%s: type %s bound to a Go %s", k.Name, k.Type, kind)
		}
	}
}

func TestRetentionAndRollPrecedence(t *testing.T) {
	tests := []struct {
		name   string
		props  string
		retain int64
		roll   int64
	}{
		{"defaults", "", 168 * 3600_000, 168 * 3600_000},
		{"hours", "log.retention.hours=1\nlog.roll.hours=2", 3600_000, 2 * 3600_000},
		{"minutes beat hours", "log.retention.hours=1\nlog.retention.minutes=5", 300_000, 168 * 3600_000},
		{"ms beats minutes and hours", "log.retention.ms=100\nlog.retention.minutes=5\nlog.retention.hours=1", 100, 168 * 3600_000},
		{"ms beats hours regardless of order", "log.retention.ms=100\nlog.retention.hours=1\nlog.roll.ms=7\nlog.roll.hours=1", 100, 7},
		{"-1 ms is unlimited", "log.retention.ms=-1\nlog.retention.hours=1", -1, 168 * 3600_000},
		{"-1 hours is unlimited", "log.retention.hours=-1", -1, 168 * 3600_000},
		{"any negative is unlimited", "log.retention.minutes=-2", -1, 168 * 3600_000},
		{"zero", "log.retention.ms=0", 0, 168 * 3600_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustLoad(t, tt.props+"\n")
			if b.LogRetentionMs != tt.retain {
				t.Errorf("LogRetentionMs = %d, want %d", b.LogRetentionMs, tt.retain)
			}
			if b.LogRollMs != tt.roll {
				t.Errorf("LogRollMs = %d, want %d", b.LogRollMs, tt.roll)
			}
			td := b.TopicDefaults()
			if got, want := td["retention.ms"], itoa(tt.retain); got != want {
				t.Errorf("topic retention.ms = %s, want %s", got, want)
			}
			if got, want := td["segment.ms"], itoa(tt.roll); got != want {
				t.Errorf("topic segment.ms = %s, want %s", got, want)
			}
		})
	}
}

func TestJitterAndFlushPrecedence(t *testing.T) {
	b := mustLoad(t, "log.roll.jitter.hours=1\nlog.flush.scheduler.interval.ms=500\n")
	if b.LogRollJitterMs != 3600_000 || b.LogFlushIntervalMs != -1 {
		t.Errorf("jitter %d flush %d", b.LogRollJitterMs, b.LogFlushIntervalMs)
	}
	if got := b.TopicDefaults()["flush.ms"]; got != "500" {
		t.Errorf("flush.ms from scheduler interval = %s, want 500", got)
	}
	b = mustLoad(t, "log.roll.jitter.hours=1\nlog.roll.jitter.ms=9\nlog.flush.interval.ms=20\n")
	if b.LogRollJitterMs != 9 || b.LogFlushIntervalMs != 20 || b.TopicDefaults()["flush.ms"] != "20" {
		t.Errorf("jitter %d flush %d", b.LogRollJitterMs, b.LogFlushIntervalMs)
	}
}

func TestLoadOverridesAndRaw(t *testing.T) {
	b := mustLoad(t, "num.partitions=3\nnum.partitions=4\nlog.dir=/x\nlog.dirs = /a, /b\nbroker.rack: r1\n",
		"num.partitions=5", "num.partitions = 6", "compression.type=zstd")
	if b.NumPartitions != 6 {
		t.Errorf("NumPartitions = %d, want the last override, 6", b.NumPartitions)
	}
	if !reflect.DeepEqual(b.LogDirs, []string{"/a", "/b"}) || b.MetadataLogDir != "/a" {
		t.Errorf("LogDirs = %v MetadataLogDir = %s; log.dirs must beat log.dir", b.LogDirs, b.MetadataLogDir)
	}
	if b.BrokerRack != "r1" || b.CompressionType != "zstd" {
		t.Errorf("BrokerRack %q CompressionType %q", b.BrokerRack, b.CompressionType)
	}
	want := map[string]string{"num.partitions": "6", "log.dir": "/x", "log.dirs": "/a, /b", "broker.rack": "r1", "compression.type": "zstd"}
	if !reflect.DeepEqual(b.Raw(), want) {
		t.Errorf("Raw() = %v, want %v", b.Raw(), want)
	}
	if v, ok := b.Get("num.partitions"); !ok || v != "6" {
		t.Errorf("Get(num.partitions) = %q, %v", v, ok)
	}
	if v, ok := b.Get("log.segment.bytes"); !ok || v != "1073741824" {
		t.Errorf("Get(log.segment.bytes) = %q, %v; want the default", v, ok)
	}
	if v, ok := b.Get("log.retention.ms"); !ok || v != "" {
		t.Errorf("Get(log.retention.ms) = %q, %v; want no value", v, ok)
	}
	if _, ok := b.Get("no.such.key"); ok {
		t.Error("Get(no.such.key) ok")
	}
	if !b.IsSet("broker.rack") || b.IsSet("node.id") {
		t.Error("IsSet wrong")
	}
	// Overrides alone, without a file.
	b, _, err := Load("", []string{"node.id=7"})
	if err != nil || b.NodeID != 7 {
		t.Fatalf("Load(\"\", node.id=7) = %v, %v", b, err)
	}
}

func TestLoadWarnings(t *testing.T) {
	_, warns, err := load(t, "no.such.key=1\nretention.ms=5\nnum.io.threads=16\nnum.partitions=2\n", "other.unknown=x")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ key, where, text string }{
		{"no.such.key", "server.properties:1", "unknown"},
		{"retention.ms", "server.properties:2", "topic config"},
		{"num.io.threads", "server.properties:3", "ignored"},
		{"other.unknown", "override", "unknown"},
	}
	if len(warns) != len(want) {
		t.Fatalf("warnings = %v, want %d", warns, len(want))
	}
	for i, w := range want {
		got := warns[i]
		if got.Key != w.key || got.Where != w.where || !strings.Contains(got.Message, w.text) || !strings.Contains(got.String(), w.key) {
			t.Errorf("warning %d = %+v, want key %s at %s mentioning %q", i, got, w.key, w.where, w.text)
		}
	}
}

func TestLoadInvalidValues(t *testing.T) {
	tests := []struct {
		line    string
		allowed string
	}{
		{"num.partitions=abc", "32-bit integer"},
		{"num.partitions=0", "at least 1"},
		{"num.partitions=99999999999", "32-bit integer"},
		{"log.segment.bytes=10", "at least 14"},
		{"log.retention.bytes=1.5", "64-bit integer"},
		{"auto.create.topics.enable=yes", "true or false"},
		{"compression.type=brotli", "producer"},
		{"log.cleanup.policy=delete,shred", "compact"},
		{"log.cleanup.policy=", "non-empty"},
		{"log.message.timestamp.type=createtime", "CreateTime"},
		{"log.cleaner.min.cleanable.ratio=1.5", "between 0 and 1"},
		{"log.cleaner.min.cleanable.ratio=NaN", "number"},
		{"process.roles=broker,router", "controller"},
		{"listeners=PLAINTEXT://127.0.0.1", "port"},
		{"listeners=PLAINTEXT://127.0.0.1:70000", "0-65535"},
		{"listeners=FOO://:9092", "listener.security.protocol.map"},
		{"listeners=PLAINTEXT://::1:9092", "brackets"},
		{"listener.security.protocol.map=A:TLS", "security protocol"},
		{"controller.quorum.voters=1@:9093", "host"},
		{"controller.quorum.voters=x@h:9093", "id"},
		{"admin.listeners=ftp://h:1", "http://"},
		{"log.level=verbose", "debug"},
		{"offsets.topic.replication.factor=40000", "16-bit"},
		{"compression.gzip.level=0", "between 1 and 9"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, _, err := load(t, tt.line+"\n")
			if err == nil {
				t.Fatalf("Load accepted %q", tt.line)
			}
			key, value, _ := strings.Cut(tt.line, "=")
			msg := err.Error()
			if !strings.Contains(msg, key) || !strings.Contains(msg, `"`+value+`"`) || !strings.Contains(msg, tt.allowed) {
				t.Errorf("error %q should name %s, %q and %q", msg, key, value, tt.allowed)
			}
			var ve *ValueError
			if !errors.As(err, &ve) || ve.Key != key {
				t.Errorf("error %T is not a *ValueError for %s", err, key)
			}
			// The same through an override.
			if _, _, err := Load("", []string{tt.line}); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("override %q: err = %v", tt.line, err)
			}
		})
	}
	if _, _, err := Load("", []string{"justakey"}); err == nil || !strings.Contains(err.Error(), "key=value") {
		t.Errorf("malformed override: err = %v", err)
	}
	if _, _, err := Load(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Error("missing file: no error")
	}
	if _, _, err := load(t, `a=\u12`+"\n"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad escape: err = %v", err)
	}
}

func TestValidateCrossKey(t *testing.T) {
	tests := []struct {
		name  string
		props string
		want  string // "" = valid
	}{
		{"combined node with voters", "node.id=2\ncontroller.quorum.voters=1@h1:9093,2@h2:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\nadvertised.listeners=PLAINTEXT://h2:9092", ""},
		{"node not among voters", "node.id=5\ncontroller.quorum.voters=1@h1:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\nadvertised.listeners=PLAINTEXT://h:9092", "must be one of the voters"},
		{"controller without controller listener", "controller.quorum.voters=1@h1:9093", "controller.listener.names"},
		{"broker only needs voters", "process.roles=broker", "required when process.roles=broker"},
		{"broker only", "process.roles=broker\ncontroller.quorum.voters=1@h1:9093", ""},
		{"controller only with client listener", "process.roles=controller\nlisteners=CONTROLLER://:9093,PLAINTEXT://:9092", "not a controller listener"},
		{"controller only", "process.roles=controller\nlisteners=CONTROLLER://:9093", ""},
		{"advertised meta-address", "listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://0.0.0.0:9092", "meta-address"},
		{"advertised unknown listener", "advertised.listeners=SSL://h:9093", "not one of the listeners"},
		{"duplicate port", "listeners=PLAINTEXT://:9092,SSL://:9092", "same port"},
		{"port 0 twice is fine", "listeners=PLAINTEXT://:0,SSL://:0", ""},
		{"duplicate listener name", "listeners=PLAINTEXT://:9092,plaintext://:9093", "twice"},
		{"session timeouts", "group.min.session.timeout.ms=10\ngroup.max.session.timeout.ms=5", "group.min.session.timeout.ms"},
		{"no plaintext listener", "listeners=SASL_SSL://:9094", ""},
		{"inter broker listener missing", "inter.broker.listener.name=SSL", "inter.broker.listener.name"},
		{"empty log.dirs", "log.dirs=,", "log.dirs"},
		{"txn min isr above rf", "transaction.state.log.min.isr=2", "transaction.state.log.min.isr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := load(t, tt.props+"\n")
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestListenerDerivation(t *testing.T) {
	b := mustLoad(t, "listeners=PLAINTEXT://:9092,CONTROLLER://:9093,INTERNAL://10.0.0.1:9094\n"+
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,INTERNAL:SASL_SSL\n"+
		"inter.broker.listener.name=internal\n")
	want := []Listener{
		{Name: "PLAINTEXT", Host: "", Port: 9092, SecurityProtocol: "PLAINTEXT"},
		{Name: "INTERNAL", Host: "10.0.0.1", Port: 9094, SecurityProtocol: "SASL_SSL"},
	}
	if !reflect.DeepEqual(b.AdvertisedListeners, want) {
		t.Errorf("AdvertisedListeners = %+v, want the listeners without CONTROLLER: %+v", b.AdvertisedListeners, want)
	}
	if b.InterBrokerListenerName != "INTERNAL" {
		t.Errorf("InterBrokerListenerName = %s", b.InterBrokerListenerName)
	}
	b = mustLoad(t, "listeners=SASL_SSL://:9094,SSL://:9093\n")
	if b.InterBrokerListenerName != "SASL_SSL" {
		t.Errorf("without PLAINTEXT the first listener is inter-broker; got %s", b.InterBrokerListenerName)
	}
	b = mustLoad(t, "super.users=User:admin; User:ops ;\n")
	if !reflect.DeepEqual(b.SuperUsers, []string{"User:admin", "User:ops"}) {
		t.Errorf("SuperUsers = %q", b.SuperUsers)
	}
}

func TestParseListeners(t *testing.T) {
	tests := []struct {
		in      string
		want    []Listener
		wantErr string
	}{
		{"PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093", []Listener{
			{"PLAINTEXT", "127.0.0.1", 9092, "PLAINTEXT"}, {"CONTROLLER", "", 9093, "PLAINTEXT"}}, ""},
		{"SSL://[::1]:9093", []Listener{{"SSL", "::1", 9093, "SSL"}}, ""},
		{"sasl_plaintext://my-host.example.com:0", []Listener{{"SASL_PLAINTEXT", "my-host.example.com", 0, "SASL_PLAINTEXT"}}, ""},
		{"PLAINTEXT://[fe80::1%eth0]:9092", []Listener{{"PLAINTEXT", "fe80::1%eth0", 9092, "PLAINTEXT"}}, ""},
		{" PLAINTEXT://:9092 , SSL://:9093 ", []Listener{{"PLAINTEXT", "", 9092, "PLAINTEXT"}, {"SSL", "", 9093, "SSL"}}, ""},
		{"", nil, ""},
		{"127.0.0.1:9092", nil, "NAME://host:port"},
		{"PLAINTEXT://h:", nil, "port"},
		{"PLAINTEXT://h:-1", nil, "port"},
		{"PLAINTEXT://[::1]9092", nil, "[ipv6]:port"},
		{"PLAINTEXT://[h]:9092", nil, "IPv6"},
		{"PLAINTEXT://h/x:9092", nil, "invalid host"},
		{"PLAIN TEXT://h:9092", nil, "name"},
		{"UNMAPPED://h:9092", nil, "security protocol"},
		{"PLAINTEXT://a:1,PLAINTEXT://b:2", nil, "twice"},
	}
	for _, tt := range tests {
		got, err := ParseListeners(tt.in, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseListeners(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseListeners(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	l := Listener{Name: "SSL", Host: "::1", Port: 9093}
	if l.String() != "SSL://[::1]:9093" || l.Addr() != "[::1]:9093" {
		t.Errorf("String %s Addr %s", l.String(), l.Addr())
	}
	pm, err := ParseProtocolMap("internal:sasl_ssl, EXTERNAL:SSL")
	if err != nil || pm["INTERNAL"] != "SASL_SSL" || pm["EXTERNAL"] != "SSL" {
		t.Errorf("ParseProtocolMap = %v, %v", pm, err)
	}
	if _, err := ParseProtocolMap("A:SSL,a:PLAINTEXT"); err == nil {
		t.Error("duplicate map entry accepted")
	}
}

func TestParseVoters(t *testing.T) {
	got, err := ParseVoters("1@h1:9093, 2@[::1]:9094")
	want := []Voter{{1, "h1", 9093}, {2, "::1", 9094}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseVoters = %+v, %v", got, err)
	}
	if got[1].Addr() != "[::1]:9094" {
		t.Errorf("Addr = %s", got[1].Addr())
	}
	for _, bad := range []string{"h:9093", "-1@h:9093", "1@h:0", "1@h:1,1@g:2", "1@h"} {
		if _, err := ParseVoters(bad); err == nil {
			t.Errorf("ParseVoters(%q) accepted", bad)
		}
	}
}

func itoa(n int64) string { return format(&n) }

// A configuration in the style of Kafka's KRaft samples loads, with warnings
// only for the keys Quill ignores.
func TestLoadKafkaStyleConfig(t *testing.T) {
	const kraft3 = `# combined broker and controller
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@localhost:9093
listeners=PLAINTEXT://:9092,CONTROLLER://:9093
inter.broker.listener.name=PLAINTEXT
advertised.listeners=PLAINTEXT://localhost:9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
num.network.threads=3
num.io.threads=8
socket.send.buffer.bytes=102400
socket.receive.buffer.bytes=102400
socket.request.max.bytes=104857600
log.dirs=/tmp/kraft-combined-logs
num.partitions=1
num.recovery.threads.per.data.dir=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
`
	b, warns, err := load(t, kraft3)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range warns {
		if !strings.Contains(w.Message, "ignored by Quill") {
			t.Errorf("unexpected warning %s", w)
		}
	}
	if len(warns) != 5 {
		t.Errorf("%d warnings, want 5 (threads, socket buffers, recovery threads): %v", len(warns), warns)
	}
	if len(b.ControllerQuorumVoters) != 1 || b.AdvertisedListeners[0].Host != "localhost" {
		t.Errorf("voters %v advertised %v", b.ControllerQuorumVoters, b.AdvertisedListeners)
	}

	// Kafka 4.0's standalone sample uses a bootstrap server instead of voters.
	kraft4 := strings.Replace(kraft3, "controller.quorum.voters=1@localhost:9093", "controller.quorum.bootstrap.servers=localhost:9093", 1)
	if _, _, err := load(t, kraft4); err != nil {
		t.Errorf("standalone bootstrap form: %v", err)
	}
	multi := strings.Replace(kraft3, "controller.quorum.voters=1@localhost:9093", "controller.quorum.bootstrap.servers=h1:9093,h2:9093", 1)
	if _, _, err := load(t, multi); err == nil || !strings.Contains(err.Error(), "controller.quorum.voters") {
		t.Errorf("dynamic quorum: err = %v", err)
	}
}

func TestSecurityInterBrokerProtocol(t *testing.T) {
	b, _, err := Load("", []string{"listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094",
		"security.inter.broker.protocol=sasl_ssl"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := b.InterBrokerListener(); !ok || l.Name != "SASL_SSL" || l.SecurityProtocol != ProtocolSASLSSL {
		t.Errorf("inter-broker listener %+v %v", l, ok)
	}
	if _, _, err := Load("", []string{"listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094",
		"security.inter.broker.protocol=SASL_SSL", "inter.broker.listener.name=PLAINTEXT"}); err == nil {
		t.Error("both inter.broker.listener.name and security.inter.broker.protocol accepted")
	}
}
