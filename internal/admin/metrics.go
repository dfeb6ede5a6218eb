package admin

import (
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metrics counts what the protocol server does and exposes it, with the
// cluster state read at scrape time, on a private Prometheus registry.
//
// Its Request, Produced, Fetched, Connection and FetchWaiting methods are
// the server's observer: they run on request goroutines, so each is a
// lock-free map or array lookup and an atomic add, with no allocation once
// a topic, listener or API key has been seen.
type Metrics struct {
	reg   *prometheus.Registry
	state State // nil until SetState; read only at scrape time

	apis        [maxAPIKey + 2]atomic.Pointer[apiStats] // last slot: keys out of range
	latency     *prometheus.HistogramVec
	topics      cowMap[topicStats]
	conns       cowMap[connStats]
	fetchWait   atomic.Int64
	produceWait atomic.Int64

	isrShrinks    atomic.Uint64
	isrExpands    atomic.Uint64
	leaderChanges atomic.Uint64

	lagMu sync.Mutex
	lag   *lagSnapshot // guarded by lagMu

	log atomic.Pointer[slog.Logger] // for metadata events; nil: quiet
}

// maxAPIKey bounds the request array; Kafka's keys are below 100.
const maxAPIKey = 127

type apiStats struct {
	name    string
	count   atomic.Uint64
	latency prometheus.Observer
}

type topicStats struct {
	bytesIn    atomic.Uint64
	recordsIn  atomic.Uint64
	bytesOut   atomic.Uint64
	recordsOut atomic.Uint64
}

type connStats struct {
	active atomic.Int64
	total  atomic.Uint64
}

// lagSnapshot is the result of the last group poll.
type lagSnapshot struct {
	at     time.Time
	groups []GroupLag
	err    error
}

// cowMap is a copy-on-write map from string to *V: lookups are a pointer
// load and a map read (no lock, no allocation); inserts, which happen once
// per key, copy the map under a mutex.
type cowMap[V any] struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*V]
}

func (c *cowMap[V]) get(k string) *V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var next map[string]*V
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
		next = maps.Clone(*m)
	} else {
		next = map[string]*V{}
	}
	v := new(V)
	next[k] = v
	c.m.Store(&next)
	return v
}

// snapshot returns the current map; it must not be modified.
func (c *cowMap[V]) snapshot() map[string]*V {
	if m := c.m.Load(); m != nil {
		return *m
	}
	return nil
}

// retain drops the keys keep rejects.
func (c *cowMap[V]) retain(keep func(string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.m.Load()
	if m == nil {
		return
	}
	var next map[string]*V
	for k := range *m {
		if !keep(k) {
			if next == nil {
				next = maps.Clone(*m)
			}
			delete(next, k)
		}
	}
	if next != nil {
		c.m.Store(&next)
	}
}

// latencyBuckets span a local produce (sub-millisecond) to a long-polling
// fetch (up to fetch.max.wait.ms, 30 s at most in practice).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics returns metrics with the Go runtime and process collectors
// registered beside Quill's own.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "quill_request_duration_seconds",
		Help:    "Time from reading a request to handing its response to the connection, by API. Fetch includes its long-poll wait.",
		Buckets: latencyBuckets,
	}, []string{"api"})
	m.reg.MustRegister(m.latency, (*collector)(m),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the private registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetState sets where scrape-time metrics come from. Call it before the
// first scrape.
func (m *Metrics) SetState(s State) { m.state = s }

func (m *Metrics) api(key int16) *apiStats {
	i := int(key)
	if i < 0 || i > maxAPIKey {
		i = maxAPIKey + 1
	}
	if a := m.apis[i].Load(); a != nil {
		return a
	}
	name := "unknown"
	if i <= maxAPIKey {
		if n := kmsg.NameForKey(key); n != "" && n != "Unknown" {
			name = n
		} else {
			name = "key" + strconv.Itoa(i)
		}
	}
	a := &apiStats{name: name, latency: m.latency.WithLabelValues(name)}
	if m.apis[i].CompareAndSwap(nil, a) {
		return a
	}
	return m.apis[i].Load()
}

// Request counts one handled request and its latency.
func (m *Metrics) Request(key, version int16, d time.Duration) {
	a := m.api(key)
	a.count.Add(1)
	a.latency.Observe(d.Seconds())
}

// Produced counts a batch appended by a Produce request.
func (m *Metrics) Produced(topic string, partition int32, records int, bytes int) {
	t := m.topics.get(topic)
	t.recordsIn.Add(uint64(records))
	t.bytesIn.Add(uint64(bytes))
}

// Fetched counts records and record bytes returned by a Fetch.
func (m *Metrics) Fetched(topic string, partition int32, records int, bytes int) {
	t := m.topics.get(topic)
	t.recordsOut.Add(uint64(records))
	t.bytesOut.Add(uint64(bytes))
}

// ProduceWaiting tracks acks=all produces waiting for their replicas.
func (m *Metrics) ProduceWaiting(delta int) { m.produceWait.Add(int64(delta)) }

// Connection tracks connections opening (+1) and closing (-1).
func (m *Metrics) Connection(listener string, delta int) {
	c := m.conns.get(listener)
	c.active.Add(int64(delta))
	if delta > 0 {
		c.total.Add(uint64(delta))
	}
}

// FetchWaiting tracks fetches parked in their long poll.
func (m *Metrics) FetchWaiting(delta int) { m.fetchWait.Add(int64(delta)) }

// SetLogger makes ObserveMetadata log each leader and ISR change.
func (m *Metrics) SetLogger(l *slog.Logger) { m.log.Store(l) }

// ObserveMetadata counts ISR shrinks and expands and leader changes
// between two versions of the metadata, logging one line for each. prev
// may be nil (the first version).
func (m *Metrics) ObserveMetadata(prev, next *Cluster) {
	if prev == nil || next == nil {
		return
	}
	log := m.log.Load()
	for i := range next.Topics {
		nt := &next.Topics[i]
		pt := prev.Topic(nt.Name)
		if pt == nil || pt.ID != nt.ID {
			continue
		}
		for j := range nt.Partitions {
			if j >= len(pt.Partitions) {
				break
			}
			np, pp := &nt.Partitions[j], &pt.Partitions[j]
			switch {
			case len(np.ISR) < len(pp.ISR):
				m.isrShrinks.Add(1)
			case len(np.ISR) > len(pp.ISR):
				m.isrExpands.Add(1)
			}
			if log != nil && !slices.Equal(np.ISR, pp.ISR) {
				log.Info("partition ISR changed", "topic", nt.Name, "partition", np.ID,
					"isr", np.ISR, "previous_isr", pp.ISR, "replicas", np.Replicas)
			}
			if np.Leader != pp.Leader || np.LeaderEpoch != pp.LeaderEpoch {
				m.leaderChanges.Add(1)
				if log != nil {
					log.Info("partition leader changed", "topic", nt.Name, "partition", np.ID,
						"leader", np.Leader, "previous_leader", pp.Leader, "leader_epoch", np.LeaderEpoch)
				}
			}
		}
	}
}

// setLag records the result of a group poll.
func (m *Metrics) setLag(groups []GroupLag, err error) {
	m.lagMu.Lock()
	defer m.lagMu.Unlock()
	s := &lagSnapshot{at: now(), err: err, groups: groups}
	if err != nil && m.lag != nil {
		s.groups = m.lag.groups // keep the last good answer
	}
	m.lag = s
}

// lastLag returns the last group poll, or nil before the first.
func (m *Metrics) lastLag() *lagSnapshot {
	m.lagMu.Lock()
	defer m.lagMu.Unlock()
	return m.lag
}

// Throughput is a point of the console's live charts: cumulative counters
// the browser turns into rates.
type Throughput struct {
	Time        int64                      `json:"time"` // ms since the epoch
	BytesIn     uint64                     `json:"bytesIn"`
	BytesOut    uint64                     `json:"bytesOut"`
	RecordsIn   uint64                     `json:"recordsIn"`
	Requests    uint64                     `json:"requests"`
	Connections int64                      `json:"connections"`
	Topics      map[string]TopicThroughput `json:"topics"`
}

// TopicThroughput is one topic's cumulative counters.
type TopicThroughput struct {
	BytesIn   uint64 `json:"bytesIn"`
	BytesOut  uint64 `json:"bytesOut"`
	RecordsIn uint64 `json:"recordsIn"`
}

// Throughput returns the counters now.
func (m *Metrics) Throughput() Throughput {
	t := Throughput{Time: now().UnixMilli(), Topics: map[string]TopicThroughput{}}
	for name, s := range m.topics.snapshot() {
		tt := TopicThroughput{BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), RecordsIn: s.recordsIn.Load()}
		t.Topics[name] = tt
		t.BytesIn += tt.BytesIn
		t.BytesOut += tt.BytesOut
		t.RecordsIn += tt.RecordsIn
	}
	for i := range m.apis {
		if a := m.apis[i].Load(); a != nil {
			t.Requests += a.count.Load()
		}
	}
	for _, c := range m.conns.snapshot() {
		t.Connections += c.active.Load()
	}
	return t
}

// collector produces the metrics computed at scrape time.
type collector Metrics

var (
	descBrokerInfo = prometheus.NewDesc("quill_broker_info",
		"Always 1; labels identify this node and its cluster.", []string{"node_id", "cluster_id"}, nil)
	descControllerActive = prometheus.NewDesc("quill_controller_active",
		"1 if this node is the active controller, else 0.", nil, nil)
	descControllerID = prometheus.NewDesc("quill_controller_id",
		"Node id of the active controller; -1 if unknown.", nil, nil)
	descBrokers = prometheus.NewDesc("quill_brokers",
		"Registered brokers.", nil, nil)
	descTopics = prometheus.NewDesc("quill_topics",
		"Topics in the cluster, internal ones included.", nil, nil)
	descPartitions = prometheus.NewDesc("quill_partitions",
		"Partitions in the cluster.", nil, nil)
	descLeaderPartitions = prometheus.NewDesc("quill_leader_partitions",
		"Partitions this node leads.", nil, nil)
	descUnderReplicated = prometheus.NewDesc("quill_under_replicated_partitions",
		"Partitions this node leads whose ISR is smaller than their replica set.", nil, nil)
	descOffline = prometheus.NewDesc("quill_offline_partitions",
		"Partitions in the cluster without a leader.", nil, nil)
	descISRShrinks = prometheus.NewDesc("quill_isr_shrinks_total",
		"Partition ISR shrinks seen in the metadata.", nil, nil)
	descISRExpands = prometheus.NewDesc("quill_isr_expands_total",
		"Partition ISR expansions seen in the metadata.", nil, nil)
	descLeaderChanges = prometheus.NewDesc("quill_leader_changes_total",
		"Partition leader or leader-epoch changes seen in the metadata.", nil, nil)

	descLogSize = prometheus.NewDesc("quill_log_size_bytes",
		"Bytes on disk of a partition replica's log on this node.", []string{"topic", "partition"}, nil)
	descLogStart = prometheus.NewDesc("quill_log_start_offset",
		"First offset of a partition replica's log on this node.", []string{"topic", "partition"}, nil)
	descLogEnd = prometheus.NewDesc("quill_log_end_offset",
		"Offset after the last record of a partition replica's log on this node.", []string{"topic", "partition"}, nil)
	descHighWatermark = prometheus.NewDesc("quill_high_watermark",
		"High watermark of a partition replica on this node.", []string{"topic", "partition"}, nil)

	descBytesIn = prometheus.NewDesc("quill_topic_bytes_in_total",
		"Record-batch bytes appended by Produce requests.", []string{"topic"}, nil)
	descRecordsIn = prometheus.NewDesc("quill_topic_records_in_total",
		"Records appended by Produce requests.", []string{"topic"}, nil)
	descBytesOut = prometheus.NewDesc("quill_topic_bytes_out_total",
		"Record-batch bytes returned by Fetch requests (consumers and followers).", []string{"topic"}, nil)

	descRequests = prometheus.NewDesc("quill_requests_total",
		"Requests handled, by API.", []string{"api"}, nil)
	descConnActive = prometheus.NewDesc("quill_connections_active",
		"Open client connections, by listener.", []string{"listener"}, nil)
	descConnTotal = prometheus.NewDesc("quill_connections_total",
		"Connections accepted, by listener.", []string{"listener"}, nil)
	descFetchPurgatory = prometheus.NewDesc("quill_fetch_purgatory_size",
		"Fetch requests parked waiting for data (long poll).", nil, nil)
	descProducePurgatory = prometheus.NewDesc("quill_produce_purgatory_size",
		"Produce requests (acks=all) waiting for the in-sync replicas.", nil, nil)
	descRecordsOut = prometheus.NewDesc("quill_topic_records_out_total",
		"Records returned by Fetch requests (consumers and followers), counted by offsets: compaction gaps count too.", []string{"topic"}, nil)

	descGroups = prometheus.NewDesc("quill_consumer_groups",
		"Consumer groups, by state, as of the last group poll.", []string{"state"}, nil)
	descGroupMembers = prometheus.NewDesc("quill_consumer_group_members",
		"Members of a group, as of the last group poll.", []string{"group"}, nil)
	descGroupLag = prometheus.NewDesc("quill_consumer_group_lag",
		"Records between a group's committed offset and the partition's high watermark, as of the last group poll.",
		[]string{"group", "topic", "partition"}, nil)
	descGroupOffset = prometheus.NewDesc("quill_consumer_group_committed_offset",
		"A group's committed offset in a partition, as of the last group poll.",
		[]string{"group", "topic", "partition"}, nil)
	descLagPollAge = prometheus.NewDesc("quill_consumer_group_poll_age_seconds",
		"Seconds since the last group poll (consumer group metrics are this old).", nil, nil)
	descLagPollError = prometheus.NewDesc("quill_consumer_group_poll_error",
		"1 if the last group poll failed (the metrics are from the one before), else 0.", nil, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBrokerInfo, descControllerActive, descControllerID, descBrokers,
		descTopics, descPartitions, descLeaderPartitions, descUnderReplicated, descOffline, descISRShrinks, descISRExpands,
		descLeaderChanges, descLogSize, descLogStart, descLogEnd, descHighWatermark, descBytesIn, descRecordsIn,
		descBytesOut, descRequests, descConnActive, descConnTotal, descFetchPurgatory, descProducePurgatory, descRecordsOut, descGroups, descGroupMembers,
		descGroupLag, descGroupOffset, descLagPollAge, descLagPollError} {
		ch <- d
	}
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := (*Metrics)(c)
	if m.state != nil {
		cl := m.state.Cluster()
		m.collectCluster(ch, cl)
		for _, l := range m.state.Logs() {
			p := strconv.Itoa(int(l.Partition))
			ch <- gauge(descLogSize, float64(l.Size), l.Topic, p)
			ch <- gauge(descLogStart, float64(l.LogStartOffset), l.Topic, p)
			ch <- gauge(descLogEnd, float64(l.LogEndOffset), l.Topic, p)
			ch <- gauge(descHighWatermark, float64(l.HighWatermark), l.Topic, p)
		}
		// Series of deleted topics go; a topic created again under the
		// same name starts from zero, as a counter reset.
		m.topics.retain(func(name string) bool { return cl.Topic(name) != nil })
	}
	for name, s := range m.topics.snapshot() {
		ch <- counter(descBytesIn, s.bytesIn.Load(), name)
		ch <- counter(descRecordsIn, s.recordsIn.Load(), name)
		ch <- counter(descBytesOut, s.bytesOut.Load(), name)
		ch <- counter(descRecordsOut, s.recordsOut.Load(), name)
	}
	for i := range m.apis {
		if a := m.apis[i].Load(); a != nil {
			ch <- counter(descRequests, a.count.Load(), a.name)
		}
	}
	for name, s := range m.conns.snapshot() {
		ch <- gauge(descConnActive, float64(s.active.Load()), name)
		ch <- counter(descConnTotal, s.total.Load(), name)
	}
	ch <- gauge(descFetchPurgatory, float64(m.fetchWait.Load()))
	ch <- gauge(descProducePurgatory, float64(m.produceWait.Load()))
	ch <- counter(descISRShrinks, m.isrShrinks.Load())
	ch <- counter(descISRExpands, m.isrExpands.Load())
	ch <- counter(descLeaderChanges, m.leaderChanges.Load())
	m.collectGroups(ch)
}

func (m *Metrics) collectCluster(ch chan<- prometheus.Metric, cl *Cluster) {
	ch <- gauge(descBrokerInfo, 1, strconv.Itoa(int(cl.NodeID)), cl.ClusterID)
	active := 0.0
	if cl.ControllerID == cl.NodeID {
		active = 1
	}
	ch <- gauge(descControllerActive, active)
	ch <- gauge(descControllerID, float64(cl.ControllerID))
	ch <- gauge(descBrokers, float64(len(cl.Brokers)))
	ch <- gauge(descTopics, float64(len(cl.Topics)))
	var parts, leader, under, offline int
	for i := range cl.Topics {
		for j := range cl.Topics[i].Partitions {
			p := &cl.Topics[i].Partitions[j]
			parts++
			if p.Offline() {
				offline++
			}
			if p.Leader == cl.NodeID {
				leader++
				if p.UnderReplicated() {
					under++
				}
			}
		}
	}
	ch <- gauge(descPartitions, float64(parts))
	ch <- gauge(descLeaderPartitions, float64(leader))
	ch <- gauge(descUnderReplicated, float64(under))
	ch <- gauge(descOffline, float64(offline))
}

func (m *Metrics) collectGroups(ch chan<- prometheus.Metric) {
	s := m.lastLag()
	if s == nil {
		return
	}
	ch <- gauge(descLagPollAge, now().Sub(s.at).Seconds())
	failed := 0.0
	if s.err != nil {
		failed = 1
	}
	ch <- gauge(descLagPollError, failed)
	states := map[string]int{}
	for _, g := range s.groups {
		states[g.State]++
		ch <- gauge(descGroupMembers, float64(g.Members), g.Group)
		for _, p := range g.Partitions {
			part := strconv.Itoa(int(p.Partition))
			if p.Lag >= 0 {
				ch <- gauge(descGroupLag, float64(p.Lag), g.Group, p.Topic, part)
			}
			if p.Committed >= 0 {
				ch <- gauge(descGroupOffset, float64(p.Committed), g.Group, p.Topic, part)
			}
		}
	}
	for state, n := range states {
		ch <- gauge(descGroups, float64(n), state)
	}
}
