package server

// Client quotas: DescribeClientQuotas (key 48, versions 0-1) and
// AlterClientQuotas (key 49, versions 0-1), stored in the metadata log
// (metadata.ClientQuotaRecord), and the enforcement of producer_byte_rate,
// consumer_byte_rate and request_percentage (KIP-124) per user and client
// id.
//
// The quota that applies to a request is found in Kafka's order: user and
// client id, user and default client, user, default user and client id,
// default user and default client, default user, client id, default
// client. Rates are measured over quota.window.num windows of
// quota.window.size.seconds (11 of 1 s by default). A request that takes
// its entity over a quota is answered at once with the throttle time in
// ThrottleMillis (KIP-219), and the connection's next request waits that
// long; when both a byte rate and the request rate are exceeded the longer
// throttle wins, as in Kafka.
//
// request_percentage is the share of one thread's time that the entity's
// requests may take, in percent: each request's handling time (from the
// decoded request to the built response, without the time it waits for
// data, replicas or a rebalance) is recorded as time*100 per second of
// window. Exempt, as in Kafka: ApiVersions and the SASL requests (served
// before the check), and what brokers send each other with ClusterAction
// (follower Fetch, WriteTxnMarkers). controller_mutation_rate and
// connection_creation_rate are stored and described but not enforced.

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/metadata"
)

const (
	defaultQuotaWindows    = 11          // quota.window.num
	defaultQuotaWindowSize = time.Second // quota.window.size.seconds
	quotaProduceKey        = "producer_byte_rate"
	quotaConsumerKey       = "consumer_byte_rate"
	quotaRequestKey        = "request_percentage"
	writeTxnMarkersKey     = 27
	joinGroupKey           = 11
	syncGroupKey           = 14
)

var quotaKeys = map[string]bool{
	quotaProduceKey: true, quotaConsumerKey: true, quotaRequestKey: true,
	"controller_mutation_rate": true, "connection_creation_rate": true,
}

func (s *Server) registerQuotaHandlers() {
	handle(s, 0, 1, s.handleDescribeClientQuotas)
	handle(s, 0, 1, s.handleAlterClientQuotas)
}

func validQuotaEntity(ent []metadata.QuotaEntity) string {
	if len(ent) == 0 {
		return "empty entity"
	}
	seen := map[string]bool{}
	for _, e := range ent {
		switch e.Type {
		case "user", "client-id", "ip":
		default:
			return fmt.Sprintf("unknown entity type %q", e.Type)
		}
		if seen[e.Type] {
			return fmt.Sprintf("entity type %q given twice", e.Type)
		}
		seen[e.Type] = true
	}
	if seen["ip"] && len(ent) > 1 {
		return "an ip entity cannot be combined with user or client-id"
	}
	return ""
}

func (s *Server) handleAlterClientQuotas(r *request, req *kmsg.AlterClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	allowed := s.allowed(r, auth.OpAlterConfigs, auth.ResourceCluster, auth.ClusterResource)
	var changes []controller.QuotaChange
	for _, e := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		var ent []metadata.QuotaEntity
		for _, p := range e.Entity {
			re.Entity = append(re.Entity, kmsg.AlterClientQuotasResponseEntryEntity{Type: p.Type, Name: p.Name})
			ent = append(ent, metadata.QuotaEntity{Type: p.Type, Name: p.Name})
		}
		fail := func(k *kerr.Error, msg string) {
			re.ErrorCode, re.ErrorMessage = k.Code, strPtr(msg)
		}
		var mine []controller.QuotaChange
		switch msg := validQuotaEntity(ent); {
		case !allowed:
			fail(kerr.ClusterAuthorizationFailed, "altering quotas needs AlterConfigs on the cluster")
		case msg != "":
			fail(kerr.InvalidRequest, msg)
		default:
			for _, op := range e.Ops {
				ipKey := op.Key == "connection_creation_rate"
				switch {
				case !quotaKeys[op.Key]:
					fail(kerr.InvalidRequest, fmt.Sprintf("unknown quota key %q", op.Key))
				case ipKey != (ent[0].Type == "ip"):
					fail(kerr.InvalidRequest, fmt.Sprintf("quota key %q does not apply to this entity", op.Key))
				case !op.Remove && (op.Value <= 0 || math.IsInf(op.Value, 0) || math.IsNaN(op.Value)):
					fail(kerr.InvalidRequest, fmt.Sprintf("quota %s must be positive", op.Key))
				default:
					var v *float64
					if !op.Remove {
						val := op.Value
						v = &val
					}
					mine = append(mine, controller.QuotaChange{Entity: ent, Key: op.Key, Value: v})
					continue
				}
				break
			}
		}
		if re.ErrorCode == 0 {
			changes = append(changes, mine...)
		}
		resp.Entries = append(resp.Entries, re)
	}
	if !req.ValidateOnly && len(changes) > 0 {
		if err := s.ctrl.AlterClientQuotas(changes); err != nil {
			for i := range resp.Entries {
				if resp.Entries[i].ErrorCode == 0 {
					resp.Entries[i].ErrorCode, resp.Entries[i].ErrorMessage = errorCodeMessage(err)
				}
			}
		}
	}
	return resp, nil
}

func (s *Server) handleDescribeClientQuotas(r *request, req *kmsg.DescribeClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !s.allowed(r, auth.OpDescribeConfigs, auth.ResourceCluster, auth.ClusterResource) {
		resp.ErrorCode, resp.ErrorMessage = kerr.ClusterAuthorizationFailed.Code, strPtr("describing quotas needs DescribeConfigs on the cluster")
		return resp, nil
	}
	for _, c := range req.Components {
		if c.MatchType < 0 || c.MatchType > 2 || (c.MatchType == 0) != (c.Match != nil) {
			resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, strPtr("invalid match type or match")
			return resp, nil
		}
	}
	img := s.ctrl.Image()
	for _, k := range sortedQuotaKeys(img.Quotas) {
		q := img.Quotas[k]
		if !quotaMatches(q.Entity, req.Components, req.Strict) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range q.Entity {
			e.Entity = append(e.Entity, kmsg.DescribeClientQuotasResponseEntryEntity{Type: p.Type, Name: p.Name})
		}
		for _, key := range sortedKeysF(q.Values) {
			e.Values = append(e.Values, kmsg.DescribeClientQuotasResponseEntryValue{Key: key, Value: q.Values[key]})
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp, nil
}

func quotaMatches(ent []metadata.QuotaEntity, comps []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	if strict && len(ent) != len(comps) {
		return false
	}
	for _, c := range comps {
		found := false
		for _, e := range ent {
			if e.Type != c.EntityType {
				continue
			}
			switch c.MatchType {
			case 0:
				found = e.Name != nil && *e.Name == *c.Match
			case 1:
				found = e.Name == nil
			case 2:
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func sortedQuotaKeys(m map[string]metadata.ClientQuota) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slicesSort(out)
	return out
}

func sortedKeysF(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slicesSort(out)
	return out
}

// quotaTracker measures rates per quota type and entity.
type quotaTracker struct {
	windows int           // quota.window.num; set by New, read-only
	size    time.Duration // quota.window.size.seconds; set by New, read-only

	mu    sync.Mutex
	rates map[string]*rateWindow // by quota type and entity key; guarded by mu
}

// rateWindow is a sampled rate: the amounts recorded in each of the last
// len(buckets) windows of the tracker's window size.
type rateWindow struct {
	buckets []float64
	start   []int64 // window number (unix nanos / size) of each bucket
	first   time.Time
}

func newRateWindow(windows int) *rateWindow {
	return &rateWindow{buckets: make([]float64, windows), start: make([]int64, windows)}
}

// record adds n at now and returns the rate per second over the windows.
func (b *rateWindow) record(now time.Time, n float64, size time.Duration) float64 {
	windows := len(b.buckets)
	if b.first.IsZero() {
		b.first = now
	}
	w := now.UnixNano() / int64(size)
	i := int(w % int64(windows))
	if b.start[i] != w {
		b.start[i], b.buckets[i] = w, 0
	}
	b.buckets[i] += n
	var total float64
	for j := range b.buckets {
		if w-b.start[j] < int64(windows) {
			total += b.buckets[j]
		}
	}
	// Kafka counts the whole window once it has run that long, and at
	// least one window at the start.
	inWindow := time.Duration(now.UnixNano() - w*int64(size))
	elapsed := min(now.Sub(b.first), time.Duration(windows-1)*size+inWindow)
	elapsed = max(elapsed, size)
	return total / elapsed.Seconds()
}

// resolveQuota finds the quota of key for (user, clientID) in Kafka's
// order, returning its value and the entity key it came from.
func resolveQuota(img *metadata.Image, key, user, clientID string) (float64, string, bool) {
	if len(img.Quotas) == 0 {
		return 0, "", false
	}
	u, c := &user, &clientID
	for _, ent := range [][]metadata.QuotaEntity{
		{{Type: "user", Name: u}, {Type: "client-id", Name: c}},
		{{Type: "user", Name: u}, {Type: "client-id"}},
		{{Type: "user", Name: u}},
		{{Type: "user"}, {Type: "client-id", Name: c}},
		{{Type: "user"}, {Type: "client-id"}},
		{{Type: "user"}},
		{{Type: "client-id", Name: c}},
		{{Type: "client-id"}},
	} {
		k := metadata.QuotaKey(ent)
		if v, ok := img.Quotas[k].Values[key]; ok {
			return v, k, true
		}
	}
	return 0, "", false
}

// throttle records amount n of quota key for the request's entity and
// returns how long the client must wait (0: within the quota, or no
// quota applies).
func (s *Server) throttle(r *request, key string, n float64) time.Duration {
	user := strings.TrimPrefix(r.c.principal(), "User:")
	limit, ent, ok := resolveQuota(s.ctrl.Image(), key, user, r.clientID)
	if !ok {
		return 0
	}
	t := &s.quotas
	t.mu.Lock()
	if t.rates == nil {
		t.rates = map[string]*rateWindow{}
	}
	rw := t.rates[key+"\x01"+ent]
	if rw == nil {
		rw = newRateWindow(t.windows)
		t.rates[key+"\x01"+ent] = rw
	}
	rate := rw.record(time.Now(), n, t.size)
	t.mu.Unlock()
	if rate <= limit {
		return 0
	}
	// How long until the rate over the whole window is back at the quota.
	all := time.Duration(t.windows) * t.size
	d := time.Duration((rate - limit) / limit * float64(all))
	return min(d, all)
}

// quotaExempt reports whether a request is exempt from the request quota:
// what brokers send each other under ClusterAction (ApiVersions and the
// SASL requests never reach the check).
func quotaExempt(r *request) bool {
	switch req := r.body.(type) {
	case *kmsg.FetchRequest:
		return req.ReplicaID >= 0 || (r.version >= 15 && req.ReplicaState.ID >= 0)
	}
	return r.key == writeTxnMarkersKey
}

// applyQuotas throttles responses whose entity is over its byte-rate or
// request quota. handling is the time the request took, without waits.
func (c *conn) applyQuotas(r *request, resp kmsg.Response, handling time.Duration) {
	if len(c.s.ctrl.Image().Quotas) == 0 || quotaExempt(r) {
		return
	}
	var d time.Duration
	switch req := r.body.(type) {
	case *kmsg.ProduceRequest:
		var n int64
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				n += int64(len(p.Records))
			}
		}
		if n > 0 {
			d = c.s.throttle(r, quotaProduceKey, float64(n))
		}
	case *kmsg.FetchRequest:
		if n := fetchBytes(resp); n > 0 {
			d = c.s.throttle(r, quotaConsumerKey, float64(n))
		}
	}
	if r.key == joinGroupKey || r.key == syncGroupKey {
		// Their time is mostly the rebalance wait, which the group
		// coordinator does not report: they count nothing, but are
		// throttled like any request while the entity is over.
		handling = 0
	}
	d = max(d, c.s.throttle(r, quotaRequestKey, max(handling, 0).Seconds()*100))
	if d <= 0 {
		return
	}
	ms := int32(d / time.Millisecond)
	if fr, ok := resp.(*fetchFrame); ok {
		fr.ThrottleMillis = max(fr.ThrottleMillis, ms)
	} else if resp != nil {
		if f := reflect.ValueOf(resp).Elem().FieldByName("ThrottleMillis"); f.IsValid() && f.CanSet() {
			f.SetInt(max(f.Int(), int64(ms)))
		}
	}
	c.sec.throttleUntil = time.Now().Add(d)
}

// fetchBytes is the record bytes of a Fetch response, zero-copy or not.
func fetchBytes(resp kmsg.Response) int64 {
	var n int64
	if f, ok := resp.(*fetchFrame); ok {
		for _, s := range f.recs {
			n += s.Size
		}
	}
	if resp == nil {
		return n
	}
	for _, t := range fetchResponseOf(resp).Topics {
		for _, p := range t.Partitions {
			n += int64(len(p.RecordBatches))
		}
	}
	return n
}

// waitThrottle delays a throttled connection's next request (KIP-219: the
// broker mutes the channel for the throttle time after responding).
func (c *conn) waitThrottle() {
	if c.sec.throttleUntil.IsZero() {
		return
	}
	d := time.Until(c.sec.throttleUntil)
	c.sec.throttleUntil = time.Time{}
	if d <= 0 {
		return
	}
	c.bw.Flush() // the throttled response goes out before the wait
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.s.closing:
	}
}

func slicesSort(s []string) { slices.Sort(s) }
