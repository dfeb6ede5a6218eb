package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/quillstream/quill/internal/testutil"
)

// adminBroker is a broker with its admin listener on a free port.
type adminBroker struct {
	*testutil.Broker
	URL string // http://127.0.0.1:PORT
}

func startAdminBroker(t *testing.T, opts ...testutil.Option) *adminBroker {
	t.Helper()
	port := testutil.FreePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	b := testutil.StartBroker(t, append([]testutil.Option{testutil.WithOverride("admin.listeners", url)}, opts...)...)
	ab := &adminBroker{Broker: b, URL: url}
	testutil.WaitFor(t, 20*time.Second, "admin /readyz", func() (bool, string) {
		code, body, err := ab.get("/readyz")
		return err == nil && code == 200, fmt.Sprint(code, body, err)
	})
	return ab
}

var adminHTTPClient = &http.Client{Timeout: 20 * time.Second}

func (b *adminBroker) get(path string) (int, string, error) {
	resp, err := adminHTTPClient.Get(b.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func (b *adminBroker) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	code, body, err := b.get(path)
	if err != nil || code != 200 {
		t.Fatalf("GET %s: %d %v\n%s", path, code, err, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

// scrape fetches /metrics and parses it as a Prometheus server does.
func (b *adminBroker) scrape(t testing.TB) adminMetrics {
	t.Helper()
	code, body, err := b.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse as Prometheus text: %v", err)
	}
	return fams
}

type adminMetrics map[string]*dto.MetricFamily

// get returns the value of the sample of name whose labels include want
// (a histogram gives its count), and whether there is one.
func (m adminMetrics) get(name string, want ...string) (float64, bool) {
	f := m[name]
	if f == nil {
		return 0, false
	}
next:
	for _, s := range f.Metric {
		labels := map[string]string{}
		for _, l := range s.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// sum adds the samples of name whose labels include want.
func (m adminMetrics) sum(name string, want ...string) float64 {
	f := m[name]
	if f == nil {
		return 0
	}
	total := 0.0
next:
	for _, s := range f.Metric {
		labels := map[string]string{}
		for _, l := range s.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if labels[want[i]] != want[i+1] {
				continue next
			}
		}
		total += s.GetGauge().GetValue() + s.GetCounter().GetValue()
	}
	return total
}

func (m adminMetrics) want(t testing.TB, name string, expect float64, labels ...string) {
	t.Helper()
	v, ok := m.get(name, labels...)
	if !ok {
		t.Errorf("metric %s%v missing", name, labels)
	} else if v != expect {
		t.Errorf("metric %s%v = %v, want %v", name, labels, v, expect)
	}
}

// adminFixture is a topic with known records and a group with known lag.
type adminFixture struct {
	topic, group string
	perPartition int   // records produced to each of the 3 partitions at first
	extra        int   // records produced to partition 0 after the group committed
	bytes        int64 // value+key bytes produced
}

// produceFixture creates a 3-partition topic, produces perPartition records
// to each (JSON values, keys, a header), consumes them all in a group that
// commits and leaves, then produces extra more to partition 0: the group's
// lag is extra on partition 0 and 0 elsewhere.
func produceFixture(t *testing.T, b *adminBroker) adminFixture {
	t.Helper()
	f := adminFixture{topic: topicName(t), group: "console-" + topicName(t), perPartition: 10, extra: 4}
	createTopic(t, b.Admin(t), f.topic, 3, map[string]*string{"retention.ms": sp("3600000")})
	cl := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for p := range int32(3) {
		for i := range f.perPartition {
			recs = append(recs, &kgo.Record{Topic: f.topic, Partition: p,
				Key:     fmt.Appendf(nil, "key-%d-%d", p, i),
				Value:   fmt.Appendf(nil, `{"partition":%d,"n":%d,"note":"<b>not bold</b>"}`, p, i),
				Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("e2e")}}})
		}
	}
	produceSync(t, cl, recs...)

	cons := b.Client(t, kgo.ConsumerGroup(f.group), kgo.ConsumeTopics(f.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	seen := 0
	ctx := ctxT(t, 30*time.Second)
	for seen < 3*f.perPartition {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("group consumed %d of %d records: %v", seen, 3*f.perPartition, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		seen += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cons.Close() // leaves the group: Empty, commits kept

	var more []*kgo.Record
	for i := range f.extra {
		more = append(more, &kgo.Record{Topic: f.topic, Partition: 0, Key: fmt.Appendf(nil, "late-%d", i), Value: []byte("late")})
	}
	produceSync(t, cl, more...)
	return f
}

// TestAdminMetrics: /healthz, /readyz, and a Prometheus scrape whose
// per-topic and per-partition numbers match what was produced; group lag
// appears once the group poll has run.
func TestAdminMetrics(t *testing.T) {
	b := startAdminBroker(t)
	if code, body, err := b.get("/healthz"); err != nil || code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q %v", code, body, err)
	}
	f := produceFixture(t, b)
	total := float64(3*f.perPartition + f.extra)

	m := b.scrape(t)
	m.want(t, "quill_topic_records_in_total", total, "topic", f.topic)
	if v, _ := m.get("quill_topic_bytes_in_total", "topic", f.topic); v <= 0 {
		t.Errorf("quill_topic_bytes_in_total{topic=%s} = %v", f.topic, v)
	}
	if v, _ := m.get("quill_topic_bytes_out_total", "topic", f.topic); v <= 0 {
		t.Errorf("quill_topic_bytes_out_total{topic=%s} = %v after consuming", f.topic, v)
	}
	m.want(t, "quill_log_end_offset", float64(f.perPartition+f.extra), "topic", f.topic, "partition", "0")
	m.want(t, "quill_log_end_offset", float64(f.perPartition), "topic", f.topic, "partition", "2")
	m.want(t, "quill_high_watermark", float64(f.perPartition), "topic", f.topic, "partition", "1")
	m.want(t, "quill_log_start_offset", 0, "topic", f.topic, "partition", "1")
	if got := m.sum("quill_log_end_offset", "topic", f.topic); got != total {
		t.Errorf("sum of quill_log_end_offset = %v, want %v", got, total)
	}
	if v, _ := m.get("quill_log_size_bytes", "topic", f.topic, "partition", "0"); v <= 0 {
		t.Errorf("quill_log_size_bytes of partition 0 = %v", v)
	}
	if v, _ := m.get("quill_requests_total", "api", "Produce"); v < 2 {
		t.Errorf("quill_requests_total{api=Produce} = %v, want >= 2", v)
	}
	if v, _ := m.get("quill_request_duration_seconds", "api", "Fetch"); v < 1 {
		t.Errorf("quill_request_duration_seconds{api=Fetch} count = %v", v)
	}
	if v, _ := m.get("quill_connections_active", "listener", "PLAINTEXT"); v < 1 {
		t.Errorf("quill_connections_active{listener=PLAINTEXT} = %v with clients connected", v)
	}
	if _, ok := m.get("quill_fetch_purgatory_size"); !ok {
		t.Errorf("quill_fetch_purgatory_size missing")
	}
	m.want(t, "quill_controller_active", 1)
	m.want(t, "quill_controller_id", 1)
	m.want(t, "quill_broker_info", 1, "node_id", "1")
	m.want(t, "quill_under_replicated_partitions", 0)
	m.want(t, "quill_offline_partitions", 0)
	if v, _ := m.get("quill_partitions"); v < 3 {
		t.Errorf("quill_partitions = %v", v)
	}
	if _, ok := m.get("process_resident_memory_bytes"); !ok {
		t.Errorf("no process metrics")
	}

	// The group poll runs every 5 s.
	testutil.WaitFor(t, 30*time.Second, "consumer group lag in /metrics", func() (bool, string) {
		m := b.scrape(t)
		lag0, ok0 := m.get("quill_consumer_group_lag", "group", f.group, "topic", f.topic, "partition", "0")
		lag1, ok1 := m.get("quill_consumer_group_lag", "group", f.group, "topic", f.topic, "partition", "1")
		committed, _ := m.get("quill_consumer_group_committed_offset", "group", f.group, "topic", f.topic, "partition", "0")
		groups := m.sum("quill_consumer_groups")
		return ok0 && ok1 && lag0 == float64(f.extra) && lag1 == 0 && committed == float64(f.perPartition) && groups >= 1,
			fmt.Sprintf("lag p0 %v (%v) p1 %v (%v), committed p0 %v, groups %v", lag0, ok0, lag1, ok1, committed, groups)
	})

	if code, _, _ := b.get("/debug/pprof/"); code == 200 {
		t.Errorf("/debug/pprof served without being enabled")
	}
}

// TestAdminReadyz: /readyz turns 503 when the broker stops serving.
func TestAdminReadyz(t *testing.T) {
	b := startAdminBroker(t)
	if code, body, _ := b.get("/readyz"); code != 200 {
		t.Fatalf("/readyz: %d %s", code, body)
	}
	b.Stop()
	if code, _, err := b.get("/readyz"); err == nil && code == 200 {
		t.Fatalf("/readyz still 200 after the broker stopped")
	}
	b.Start()
	if code, body, _ := b.get("/readyz"); code != 200 {
		t.Fatalf("/readyz after restart: %d %s", code, body)
	}
}

// TestAdminJSONAPI: the console's JSON API shows what was produced.
func TestAdminJSONAPI(t *testing.T) {
	b := startAdminBroker(t)
	f := produceFixture(t, b)

	var cluster struct {
		ClusterID    string `json:"clusterId"`
		ControllerID int32  `json:"controllerId"`
		Brokers      []struct {
			ID int32 `json:"id"`
		} `json:"brokers"`
		Topics                    int `json:"topics"`
		Partitions                int `json:"partitions"`
		UnderReplicatedPartitions int `json:"underReplicatedPartitions"`
	}
	b.getJSON(t, "/api/cluster", &cluster)
	if cluster.ClusterID == "" || cluster.ControllerID != 1 || len(cluster.Brokers) != 1 || cluster.Topics < 1 ||
		cluster.Partitions < 3 || cluster.UnderReplicatedPartitions != 0 {
		t.Errorf("/api/cluster: %+v", cluster)
	}

	var topics []struct {
		Name       string `json:"name"`
		Partitions int    `json:"partitions"`
		Messages   int64  `json:"messages"`
		Size       int64  `json:"size"`
	}
	b.getJSON(t, "/api/topics", &topics)
	found := false
	for _, tp := range topics {
		if tp.Name == f.topic {
			found = true
			if tp.Partitions != 3 || tp.Messages != int64(3*f.perPartition+f.extra) || tp.Size <= 0 {
				t.Errorf("/api/topics row: %+v", tp)
			}
		}
	}
	if !found {
		t.Errorf("/api/topics lacks %s: %+v", f.topic, topics)
	}

	var detail struct {
		Partitions []struct {
			Partition     int32   `json:"partition"`
			Leader        int32   `json:"leader"`
			ISR           []int32 `json:"isr"`
			HighWatermark int64   `json:"highWatermark"`
			LogEndOffset  int64   `json:"logEndOffset"`
		} `json:"partitions"`
	}
	b.getJSON(t, "/api/topics/"+f.topic, &detail)
	if len(detail.Partitions) != 3 || detail.Partitions[0].HighWatermark != int64(f.perPartition+f.extra) ||
		detail.Partitions[2].LogEndOffset != int64(f.perPartition) || detail.Partitions[1].Leader != 1 || len(detail.Partitions[1].ISR) != 1 {
		t.Errorf("/api/topics/%s: %+v", f.topic, detail)
	}

	var configs []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Source string `json:"source"`
	}
	b.getJSON(t, "/api/topics/"+f.topic+"/configs", &configs)
	cfg := map[string]string{}
	for _, c := range configs {
		cfg[c.Name] = c.Value + " (" + c.Source + ")"
	}
	if cfg["retention.ms"] != "3600000 (dynamic_topic)" || !strings.HasPrefix(cfg["cleanup.policy"], "delete") {
		t.Errorf("/api/topics/%s/configs: retention.ms %q cleanup.policy %q", f.topic, cfg["retention.ms"], cfg["cleanup.policy"])
	}

	type page struct {
		StartOffset   int64 `json:"startOffset"`
		HighWatermark int64 `json:"highWatermark"`
		Messages      []struct {
			Offset    int64  `json:"offset"`
			Timestamp int64  `json:"timestamp"`
			Key       []byte `json:"key"`
			Value     []byte `json:"value"`
			Headers   []struct {
				Key   string `json:"key"`
				Value []byte `json:"value"`
			} `json:"headers"`
		} `json:"messages"`
	}
	var p page
	b.getJSON(t, "/api/topics/"+f.topic+"/messages?partition=1&offset=3&limit=4", &p)
	if len(p.Messages) != 4 || p.StartOffset != 3 || p.HighWatermark != int64(f.perPartition) {
		t.Fatalf("messages from offset 3: %+v", p)
	}
	for i, m := range p.Messages {
		n := 3 + i
		if m.Offset != int64(n) || string(m.Key) != fmt.Sprintf("key-1-%d", n) ||
			string(m.Value) != fmt.Sprintf(`{"partition":1,"n":%d,"note":"<b>not bold</b>"}`, n) ||
			len(m.Headers) != 1 || m.Headers[0].Key != "source" || string(m.Headers[0].Value) != "e2e" {
			t.Errorf("message %d: offset %d key %q value %q headers %+v", i, m.Offset, m.Key, m.Value, m.Headers)
		}
	}
	// Default: the last records.
	b.getJSON(t, "/api/topics/"+f.topic+"/messages?partition=0&limit=3", &p)
	if len(p.Messages) != 3 || p.Messages[2].Offset != int64(f.perPartition+f.extra-1) || string(p.Messages[2].Value) != "late" {
		t.Errorf("last 3 of partition 0: %+v", p)
	}
	// By timestamp: everything was produced after this test began.
	b.getJSON(t, "/api/topics/"+f.topic+"/messages?partition=2&timestamp=1&limit=500", &p)
	if len(p.Messages) != f.perPartition || p.Messages[0].Offset != 0 {
		t.Errorf("partition 2 from timestamp 1: %d messages, start %d", len(p.Messages), p.StartOffset)
	}
	b.getJSON(t, "/api/topics/"+f.topic+fmt.Sprintf("/messages?partition=2&timestamp=%d", time.Now().Add(time.Hour).UnixMilli()), &p)
	if len(p.Messages) != 0 {
		t.Errorf("partition 2 from an hour ahead: %d messages", len(p.Messages))
	}
	if code, _, _ := b.get("/api/topics/" + f.topic + "/messages?partition=7"); code != 404 {
		t.Errorf("messages of partition 7: %d, want 404", code)
	}

	var groups []struct {
		Group    string `json:"group"`
		State    string `json:"state"`
		TotalLag int64  `json:"totalLag"`
	}
	b.getJSON(t, "/api/groups", &groups)
	found = false
	for _, g := range groups {
		if g.Group == f.group {
			found = true
			if g.TotalLag != int64(f.extra) || g.State != "Empty" {
				t.Errorf("/api/groups row: %+v", g)
			}
		}
	}
	if !found {
		t.Errorf("/api/groups lacks %s: %+v", f.group, groups)
	}
	var g struct {
		State      string `json:"state"`
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Committed int64  `json:"committed"`
			End       int64  `json:"end"`
			Lag       int64  `json:"lag"`
		} `json:"partitions"`
	}
	b.getJSON(t, "/api/groups/"+f.group, &g)
	if len(g.Partitions) != 3 {
		t.Fatalf("/api/groups/%s: %+v", f.group, g)
	}
	for _, p := range g.Partitions {
		wantLag, wantEnd := int64(0), int64(f.perPartition)
		if p.Partition == 0 {
			wantLag, wantEnd = int64(f.extra), int64(f.perPartition+f.extra)
		}
		if p.Topic != f.topic || p.Committed != int64(f.perPartition) || p.End != wantEnd || p.Lag != wantLag {
			t.Errorf("group partition %+v: want committed %d end %d lag %d", p, f.perPartition, wantEnd, wantLag)
		}
	}
	if code, _, _ := b.get("/api/groups/no-such-group"); code != 404 {
		t.Errorf("unknown group: %d, want 404", code)
	}

	// A live member: its client id, host and assignment are shown.
	live := "live-" + f.group
	cons := b.Client(t, kgo.ConsumerGroup(live), kgo.ConsumeTopics(f.topic), kgo.ClientID("live-client"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := ctxT(t, 30*time.Second)
	for n := 0; n == 0; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("live consumer got nothing: %v", ctx.Err())
		}
		n = fs.NumRecords()
	}
	var lg struct {
		State      string `json:"state"`
		Members    int    `json:"members"`
		MemberList []struct {
			ClientID   string             `json:"clientId"`
			ClientHost string             `json:"clientHost"`
			Assigned   map[string][]int32 `json:"assigned"`
		} `json:"memberList"`
	}
	b.getJSON(t, "/api/groups/"+live, &lg)
	if lg.State != "Stable" || lg.Members != 1 || len(lg.MemberList) != 1 || lg.MemberList[0].ClientID != "live-client" ||
		len(lg.MemberList[0].Assigned[f.topic]) != 3 || lg.MemberList[0].ClientHost == "" {
		t.Errorf("live group: %+v", lg)
	}
}

// TestAdminPprof: /debug/pprof is served when admin.pprof.enable is set.
// Until internal/config defines the key, this is skipped.
func TestAdminPprof(t *testing.T) {
	b := startAdminBroker(t, testutil.WithOverride("admin.pprof.enable", "true"))
	if strings.Contains(b.Logs(), "admin.pprof.enable") && strings.Contains(b.Logs(), "unknown broker config") {
		t.Skip("admin.pprof.enable is not a config key yet")
	}
	if code, body, err := b.get("/debug/pprof/"); err != nil || code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/: %d %v", code, err)
	}
}

// TestAdminListenerBusy: when the default admin address is taken the
// broker starts without its admin listener (and says so); an address set
// explicitly must bind or the broker does not start.
func TestAdminListenerBusy(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:9644"); err == nil { // else it is busy already
		t.Cleanup(func() { ln.Close() })
	}
	b := testutil.StartBroker(t, testutil.WithDefaultAdmin())
	testutil.WaitFor(t, 10*time.Second, "the warning", func() (bool, string) {
		return strings.Contains(b.Logs(), "admin listener not started"), "no warning in the broker log"
	})
	topic := topicName(t) // it serves Kafka all the same
	createTopic(t, b.Admin(t), topic, 1, nil)
	produceSync(t, b.Client(t), &kgo.Record{Topic: topic, Value: []byte("x")})

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cmd := exec.Command(testutil.Binary(t), "server",
		"--override", fmt.Sprintf("listeners=PLAINTEXT://127.0.0.1:%d", testutil.FreePort(t)),
		"--override", "log.dirs="+t.TempDir(),
		"--override", "admin.listeners=http://"+busy.Addr().String())
	done := make(chan error, 1)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(out.String(), busy.Addr().String()) {
			t.Fatalf("broker with a busy explicit admin listener: exit %v, output:\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("broker started although its explicit admin listener is busy:\n%s", out.String())
	}
}
