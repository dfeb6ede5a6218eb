package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// fakeState is a fixed cluster: topic "orders" with 2 partitions (p1 under
// replicated), topic "gone" offline, and an internal topic.
type fakeState struct {
	mu      sync.Mutex
	cluster *Cluster
	logs    []LogState
}

func newFakeState() *fakeState {
	return &fakeState{
		cluster: &Cluster{ClusterID: "c-1", NodeID: 1, ControllerID: 1,
			Brokers: []Broker{{ID: 1, Host: "127.0.0.1", Port: 9092}, {ID: 2, Host: "127.0.0.2", Port: 9092}},
			Topics: []Topic{
				{Name: "__consumer_offsets", ID: "AAA", Internal: true, Partitions: []Partition{{ID: 0, Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}}},
				{Name: "gone", ID: "GGG", Partitions: []Partition{{ID: 0, Leader: -1, Replicas: []int32{2}, ISR: []int32{}}}},
				{Name: "orders", ID: "OOO", Partitions: []Partition{
					{ID: 0, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}},
					{ID: 1, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1}},
				}},
			}},
		logs: []LogState{
			{Topic: "orders", Partition: 0, LogStartOffset: 5, LogEndOffset: 12, HighWatermark: 10, Size: 1000},
			{Topic: "orders", Partition: 1, LogStartOffset: 0, LogEndOffset: 3, HighWatermark: 3, Size: 200},
			{Topic: "__consumer_offsets", Partition: 0, LogStartOffset: 0, LogEndOffset: 1, HighWatermark: 1, Size: 50},
		},
	}
}

func (f *fakeState) Cluster() *Cluster {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cluster
}

func (f *fakeState) Logs() []LogState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LogState(nil), f.logs...)
}

type fakeKafka struct {
	groups  []GroupLag
	err     error
	lastMsg MessageQuery
	closed  bool
}

func (f *fakeKafka) Groups(ctx context.Context) ([]GroupLag, error) { return f.groups, f.err }
func (f *fakeKafka) Group(ctx context.Context, name string) (*GroupDetail, error) {
	for _, g := range f.groups {
		if g.Group == name {
			return &GroupDetail{GroupLag: g, Protocol: "range", MemberList: []GroupMember{
				{MemberID: "m-1", ClientID: "app", ClientHost: "/127.0.0.1", Assigned: map[string][]int32{"orders": {0, 1}}}}}, nil
		}
	}
	return nil, ErrNotFound
}
func (f *fakeKafka) TopicConfigs(ctx context.Context, topic string) ([]ConfigEntry, error) {
	if topic != "orders" {
		return nil, ErrNotFound
	}
	return []ConfigEntry{{Name: "cleanup.policy", Value: "delete", Source: "default"}}, nil
}
func (f *fakeKafka) Messages(ctx context.Context, q MessageQuery) (*MessagePage, error) {
	f.lastMsg = q
	return &MessagePage{Topic: q.Topic, Partition: q.Partition, StartOffset: 5, HighWatermark: 10,
		Messages: []Message{{Offset: 5, Key: []byte("k"), Value: []byte(`<script>alert(1)</script>`),
			Headers: []Header{{Key: "h", Value: []byte("v")}}}}}, nil
}
func (f *fakeKafka) Close() { f.closed = true }

func newTestServer(t *testing.T, mutate func(*Config)) (*Server, *fakeKafka) {
	t.Helper()
	fk := &fakeKafka{groups: []GroupLag{{Group: "billing", State: "Stable", ProtocolType: "consumer", Members: 1, TotalLag: 7,
		Partitions: []PartitionLag{{Topic: "orders", Partition: 0, Committed: 3, End: 10, Lag: 7, ClientID: "app"},
			{Topic: "orders", Partition: 1, Committed: -1, End: 3, Lag: -1}}}}}
	cfg := Config{Listeners: []string{"http://127.0.0.1:0"}, State: newFakeState(), GroupPollInterval: 10 * time.Millisecond,
		Kafka: func() (Kafka, error) { return fk, nil }, Version: "test"}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(context.Background()) })
	return s, fk
}

func get(t *testing.T, s *Server, path string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Header(), rec.Body.String()
}

func getJSON(t *testing.T, s *Server, path string, v any) {
	t.Helper()
	code, hdr, body := get(t, s, path)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
}

func TestHealth(t *testing.T) {
	ready := errors.New("listener down")
	var mu sync.Mutex
	s, _ := newTestServer(t, func(c *Config) {
		c.Ready = func() error { mu.Lock(); defer mu.Unlock(); return ready }
	})
	if code, _, body := get(t, s, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, _, body := get(t, s, "/readyz"); code != 503 || !strings.Contains(body, "listener down") {
		t.Fatalf("/readyz while not ready: %d %q", code, body)
	}
	mu.Lock()
	ready = nil
	mu.Unlock()
	if code, _, body := get(t, s, "/readyz"); code != 200 {
		t.Fatalf("/readyz when ready: %d %q", code, body)
	}
	s.Stop(context.Background())
	if code, _, _ := get(t, s, "/readyz"); code != 503 {
		t.Fatalf("/readyz after Stop: %d", code)
	}
}

func TestReadyNeedsMetadata(t *testing.T) {
	st := newFakeState()
	st.cluster = &Cluster{ControllerID: -1}
	s, _ := newTestServer(t, func(c *Config) { c.State = st })
	if code, _, body := get(t, s, "/readyz"); code != 503 || !strings.Contains(body, "metadata") {
		t.Fatalf("/readyz without metadata: %d %q", code, body)
	}
}

func TestListenerOverHTTP(t *testing.T) {
	s, _ := newTestServer(t, nil)
	addrs := s.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("addrs %v", addrs)
	}
	resp, err := http.Get("http://" + addrs[0].String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "ok" {
		t.Fatalf("healthz over HTTP: %d %q", resp.StatusCode, body)
	}
}

func TestListenerValidation(t *testing.T) {
	for _, l := range []string{"https://127.0.0.1:0", "ftp://x:1", "127.0.0.1:9644"} {
		if _, err := New(Config{Listeners: []string{l}, State: newFakeState()}); err == nil {
			t.Errorf("listener %q accepted", l)
		}
	}
}

func TestPprofOnlyWhenEnabled(t *testing.T) {
	off, _ := newTestServer(t, nil)
	if code, _, _ := get(t, off, "/debug/pprof/"); code == 200 {
		t.Fatalf("pprof served while disabled")
	}
	on, _ := newTestServer(t, func(c *Config) { c.Pprof = true })
	if code, _, body := get(t, on, "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof enabled: %d", code)
	}
}

// scrape parses /metrics as Prometheus does.
func scrape(t *testing.T, s *Server) map[string]*dto.MetricFamily {
	t.Helper()
	code, _, body := get(t, s, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string, expect float64) {
	t.Helper()
	v, ok := value(t, fams, name, want)
	if !ok {
		t.Errorf("%s%v: missing", name, want)
		return
	}
	if v != expect {
		t.Errorf("%s%v = %v, want %v", name, want, v, expect)
	}
}

func TestMetrics(t *testing.T) {
	s, _ := newTestServer(t, nil)
	m := s.Metrics()
	m.Request(0, 9, 2*time.Millisecond)
	m.Request(0, 9, 3*time.Millisecond)
	m.Request(1, 12, 500*time.Millisecond)
	m.Request(-5, 0, time.Millisecond)
	m.Produced("orders", 0, 10, 1000)
	m.Produced("orders", 1, 5, 400)
	m.Fetched("orders", 0, 7, 700)
	m.ProduceWaiting(1)
	m.Connection("PLAINTEXT", 1)
	m.Connection("PLAINTEXT", 1)
	m.Connection("PLAINTEXT", -1)
	m.FetchWaiting(1)
	m.FetchWaiting(1)
	m.FetchWaiting(-1)
	testWait(t, func() bool { return m.lastLag() != nil })

	fams := scrape(t, s)
	mustValue(t, fams, "quill_requests_total", map[string]string{"api": "Produce"}, 2)
	mustValue(t, fams, "quill_requests_total", map[string]string{"api": "Fetch"}, 1)
	mustValue(t, fams, "quill_requests_total", map[string]string{"api": "unknown"}, 1)
	mustValue(t, fams, "quill_request_duration_seconds", map[string]string{"api": "Produce"}, 2)
	mustValue(t, fams, "quill_topic_records_in_total", map[string]string{"topic": "orders"}, 15)
	mustValue(t, fams, "quill_topic_bytes_in_total", map[string]string{"topic": "orders"}, 1400)
	mustValue(t, fams, "quill_topic_bytes_out_total", map[string]string{"topic": "orders"}, 700)
	mustValue(t, fams, "quill_topic_records_out_total", map[string]string{"topic": "orders"}, 7)
	mustValue(t, fams, "quill_produce_purgatory_size", nil, 1)
	mustValue(t, fams, "quill_connections_active", map[string]string{"listener": "PLAINTEXT"}, 1)
	mustValue(t, fams, "quill_connections_total", map[string]string{"listener": "PLAINTEXT"}, 2)
	mustValue(t, fams, "quill_fetch_purgatory_size", nil, 1)
	mustValue(t, fams, "quill_log_size_bytes", map[string]string{"topic": "orders", "partition": "0"}, 1000)
	mustValue(t, fams, "quill_log_start_offset", map[string]string{"topic": "orders", "partition": "0"}, 5)
	mustValue(t, fams, "quill_log_end_offset", map[string]string{"topic": "orders", "partition": "0"}, 12)
	mustValue(t, fams, "quill_high_watermark", map[string]string{"topic": "orders", "partition": "0"}, 10)
	mustValue(t, fams, "quill_under_replicated_partitions", nil, 1)
	mustValue(t, fams, "quill_offline_partitions", nil, 1)
	mustValue(t, fams, "quill_partitions", nil, 4)
	mustValue(t, fams, "quill_topics", nil, 3)
	mustValue(t, fams, "quill_brokers", nil, 2)
	mustValue(t, fams, "quill_controller_active", nil, 1)
	mustValue(t, fams, "quill_controller_id", nil, 1)
	mustValue(t, fams, "quill_broker_info", map[string]string{"node_id": "1", "cluster_id": "c-1"}, 1)
	mustValue(t, fams, "quill_consumer_groups", map[string]string{"state": "Stable"}, 1)
	mustValue(t, fams, "quill_consumer_group_members", map[string]string{"group": "billing"}, 1)
	mustValue(t, fams, "quill_consumer_group_lag", map[string]string{"group": "billing", "topic": "orders", "partition": "0"}, 7)
	mustValue(t, fams, "quill_consumer_group_committed_offset", map[string]string{"group": "billing", "topic": "orders", "partition": "0"}, 3)
	mustValue(t, fams, "quill_consumer_group_poll_error", nil, 0)
	if _, ok := value(t, fams, "quill_consumer_group_lag", map[string]string{"partition": "1"}); ok {
		t.Errorf("unknown lag (-1) exported")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Errorf("no Go runtime metrics")
	}
}

func TestMetricsDropDeletedTopics(t *testing.T) {
	st := newFakeState()
	s, _ := newTestServer(t, func(c *Config) { c.State = st })
	s.Metrics().Produced("orders", 0, 1, 10)
	if _, ok := value(t, scrape(t, s), "quill_topic_records_in_total", map[string]string{"topic": "orders"}); !ok {
		t.Fatal("orders missing")
	}
	st.mu.Lock()
	c := *st.cluster
	c.Topics = c.Topics[:2]
	st.cluster = &c
	st.mu.Unlock()
	if _, ok := value(t, scrape(t, s), "quill_topic_records_in_total", map[string]string{"topic": "orders"}); ok {
		t.Fatal("deleted topic still exported")
	}
}

func TestObserveMetadata(t *testing.T) {
	m := NewMetrics()
	prev := newFakeState().cluster
	next := *prev
	next.Topics = append([]Topic(nil), prev.Topics...)
	orders := next.Topics[2]
	orders.Partitions = []Partition{
		{ID: 0, Leader: 2, LeaderEpoch: 1, Replicas: []int32{1, 2}, ISR: []int32{2}}, // shrink + leader change
		{ID: 1, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}},              // expand
	}
	next.Topics[2] = orders
	var buf bytes.Buffer
	m.SetLogger(slog.New(slog.NewTextHandler(&buf, nil)))
	m.ObserveMetadata(nil, prev)
	m.ObserveMetadata(prev, &next)
	if m.isrShrinks.Load() != 1 || m.isrExpands.Load() != 1 || m.leaderChanges.Load() != 1 {
		t.Fatalf("shrinks %d expands %d leader changes %d", m.isrShrinks.Load(), m.isrExpands.Load(), m.leaderChanges.Load())
	}
	logs := buf.String()
	if strings.Count(logs, "partition ISR changed") != 2 || strings.Count(logs, "partition leader changed") != 1 ||
		!strings.Contains(logs, "topic=orders partition=0 leader=2 previous_leader=1") {
		t.Fatalf("log lines:\n%s", logs)
	}
}

// The observer runs on every request: once a key, topic or listener has
// been seen, it must not allocate.
func TestObserverDoesNotAllocate(t *testing.T) {
	m := NewMetrics()
	m.Request(0, 9, time.Millisecond)
	m.Produced("orders", 0, 1, 1)
	m.Fetched("orders", 0, 1, 1)
	m.Connection("PLAINTEXT", 1)
	allocs := testing.AllocsPerRun(1000, func() {
		m.Request(0, 9, time.Millisecond)
		m.Produced("orders", 0, 1, 100)
		m.Fetched("orders", 0, 1, 100)
		m.Connection("PLAINTEXT", 1)
		m.Connection("PLAINTEXT", -1)
		m.FetchWaiting(1)
		m.FetchWaiting(-1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per observed event set", allocs)
	}
}

func TestObserverConcurrent(t *testing.T) {
	m := NewMetrics()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m.Produced([]string{"a", "b", "c"}[(g+i)%3], 0, 1, 10)
				m.Request(int16(i%70), 0, time.Microsecond)
			}
		}()
	}
	wg.Wait()
	tp := m.Throughput()
	if tp.RecordsIn != 8000 || tp.BytesIn != 80000 || tp.Requests != 8000 {
		t.Fatalf("throughput %+v", tp)
	}
}

func BenchmarkObserverProduced(b *testing.B) {
	m := NewMetrics()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Produced("orders", 0, 10, 1000)
			m.Request(0, 9, time.Millisecond)
		}
	})
}

func testWait(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClusterAPI(t *testing.T) {
	s, _ := newTestServer(t, nil)
	testWait(t, func() bool { return s.Metrics().lastLag() != nil })
	var c ClusterSummary
	getJSON(t, s, "/api/cluster", &c)
	if c.ClusterID != "c-1" || c.ControllerID != 1 || len(c.Brokers) != 2 || c.Topics != 3 || c.InternalTopics != 1 ||
		c.Partitions != 4 || c.UnderReplicatedPartitions != 2 || c.OfflinePartitions != 1 || c.LogSize != 1250 ||
		c.Groups != 1 || c.Version != "test" {
		t.Fatalf("cluster %+v", c)
	}
}

func TestTopicsAPI(t *testing.T) {
	s, _ := newTestServer(t, nil)
	var ts []TopicSummary
	getJSON(t, s, "/api/topics", &ts)
	if len(ts) != 3 {
		t.Fatalf("topics %+v", ts)
	}
	o := ts[2]
	if o.Name != "orders" || o.Partitions != 2 || o.ReplicationFactor != 2 || o.UnderReplicated != 1 || o.Size != 1200 || o.Messages != 8 {
		t.Fatalf("orders %+v", o)
	}
	if ts[1].Offline != 1 {
		t.Fatalf("gone %+v", ts[1])
	}

	var d TopicDetail
	getJSON(t, s, "/api/topics/orders", &d)
	if len(d.Partitions) != 2 || d.Partitions[0].HighWatermark != 10 || d.Partitions[1].Size != 200 || len(d.Partitions[1].ISR) != 1 {
		t.Fatalf("detail %+v", d)
	}
	var g TopicDetail
	getJSON(t, s, "/api/topics/gone", &g)
	if g.Partitions[0].LogEndOffset != -1 || g.Partitions[0].Leader != -1 {
		t.Fatalf("remote partition %+v", g.Partitions[0])
	}
	if code, _, _ := get(t, s, "/api/topics/nope"); code != 404 {
		t.Fatalf("unknown topic: %d", code)
	}
	var cfgs []ConfigEntry
	getJSON(t, s, "/api/topics/orders/configs", &cfgs)
	if len(cfgs) != 1 || cfgs[0].Name != "cleanup.policy" {
		t.Fatalf("configs %+v", cfgs)
	}
	if code, _, _ := get(t, s, "/api/topics/nope/configs"); code != 404 {
		t.Fatalf("configs of unknown topic: %d", code)
	}
}

func TestMessagesAPI(t *testing.T) {
	s, fk := newTestServer(t, nil)
	var page MessagePage
	getJSON(t, s, "/api/topics/orders/messages?partition=1&offset=5&limit=3", &page)
	if fk.lastMsg != (MessageQuery{Topic: "orders", Partition: 1, Offset: 5, Timestamp: -1, Limit: 3}) {
		t.Fatalf("query %+v", fk.lastMsg)
	}
	if len(page.Messages) != 1 || string(page.Messages[0].Value) != "<script>alert(1)</script>" || string(page.Messages[0].Key) != "k" {
		t.Fatalf("page %+v", page)
	}
	getJSON(t, s, "/api/topics/orders/messages?timestamp=1700000000000", &page)
	if fk.lastMsg != (MessageQuery{Topic: "orders", Offset: -1, Timestamp: 1700000000000, Limit: 20}) {
		t.Fatalf("query %+v", fk.lastMsg)
	}
	for path, want := range map[string]int{
		"/api/topics/orders/messages?partition=x":  400,
		"/api/topics/orders/messages?offset=-1":    400,
		"/api/topics/orders/messages?limit=0":      400,
		"/api/topics/orders/messages?limit=100000": 400,
		"/api/topics/orders/messages?partition=2":  404,
		"/api/topics/missing/messages?partition=0": 404,
	} {
		if code, _, body := get(t, s, path); code != want {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
}

func TestGroupsAPI(t *testing.T) {
	s, _ := newTestServer(t, nil)
	var gs []GroupLag
	getJSON(t, s, "/api/groups", &gs)
	if len(gs) != 1 || gs[0].TotalLag != 7 {
		t.Fatalf("groups %+v", gs)
	}
	var g GroupDetail
	getJSON(t, s, "/api/groups/billing", &g)
	if g.Group != "billing" || len(g.MemberList) != 1 || g.MemberList[0].Assigned["orders"][1] != 1 {
		t.Fatalf("group %+v", g)
	}
	if code, _, _ := get(t, s, "/api/groups/nope"); code != 404 {
		t.Fatalf("unknown group: %d", code)
	}
}

func TestKafkaUnavailable(t *testing.T) {
	s, _ := newTestServer(t, func(c *Config) {
		c.Kafka = func() (Kafka, error) { return nil, errors.New("no PLAINTEXT listener") }
	})
	for _, p := range []string{"/api/groups", "/api/topics/orders/configs", "/api/topics/orders/messages"} {
		if code, _, _ := get(t, s, p); code != 503 {
			t.Errorf("%s: %d, want 503", p, code)
		}
	}
	// What needs no client still works.
	if code, _, _ := get(t, s, "/api/topics"); code != 200 {
		t.Errorf("/api/topics: %d", code)
	}
}

func TestGroupPollFailureKeepsLastAnswer(t *testing.T) {
	s, fk := newTestServer(t, func(c *Config) { c.GroupPollInterval = -1 })
	m := s.Metrics()
	m.setLag(fk.groups, nil)
	m.setLag(nil, errors.New("coordinator away"))
	fams := scrape(t, s)
	mustValue(t, fams, "quill_consumer_group_poll_error", nil, 1)
	mustValue(t, fams, "quill_consumer_group_lag", map[string]string{"group": "billing", "partition": "0"}, 7)
}

func TestConsole(t *testing.T) {
	s, _ := newTestServer(t, nil)
	code, hdr, body := get(t, s, "/")
	if code != 200 || !strings.Contains(body, "<title>Quill console</title>") {
		t.Fatalf("/: %d %s", code, body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		if code, _, _ := get(t, s, p); code != 200 {
			t.Errorf("%s: %d", p, code)
		}
	}
	if code, _, _ := get(t, s, "/api/nope"); code != 404 {
		t.Errorf("/api/nope: %d", code)
	}
}

// The console must put server data on the page only as text: no HTML
// parsing sinks, no outside URLs.
func TestConsoleAssetsSafe(t *testing.T) {
	for _, name := range []string{"console/app.js", "console/index.html", "console/style.css"} {
		b, err := consoleFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://", "//cdn"} {
			if strings.Contains(src, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}
