package server

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/metadata"
)

func TestResolveQuotaOrder(t *testing.T) {
	str := func(s string) *string { return &s }
	img := metadata.Empty()
	set := func(v float64, ent ...metadata.QuotaEntity) {
		if img.Quotas == nil {
			img.Quotas = map[string]metadata.ClientQuota{}
		}
		img.Quotas[metadata.QuotaKey(ent)] = metadata.ClientQuota{Entity: ent, Values: map[string]float64{"producer_byte_rate": v}}
	}
	set(8, metadata.QuotaEntity{Type: "client-id"})
	set(7, metadata.QuotaEntity{Type: "client-id", Name: str("app")})
	set(6, metadata.QuotaEntity{Type: "user"})
	set(3, metadata.QuotaEntity{Type: "user", Name: str("alice")})
	set(1, metadata.QuotaEntity{Type: "user", Name: str("alice")}, metadata.QuotaEntity{Type: "client-id", Name: str("app")})
	for _, c := range []struct {
		user, client string
		want         float64
	}{
		{"alice", "app", 1},
		{"alice", "other", 3},
		{"bob", "app", 6},
		{"", "app", 6}, // the default user covers everyone
	} {
		if v, _, ok := resolveQuota(img, "producer_byte_rate", c.user, c.client); !ok || v != c.want {
			t.Errorf("%s/%s: %v %v, want %v", c.user, c.client, v, ok, c.want)
		}
	}
	if _, _, ok := resolveQuota(img, "consumer_byte_rate", "alice", "app"); ok {
		t.Error("consumer quota found where none is set")
	}
}

func TestByteRate(t *testing.T) {
	b := newRateWindow(11)
	now := time.Unix(1000, 0)
	if r := b.record(now, 1000, time.Second); r != 1000 { // at least one window
		t.Errorf("first rate %v", r)
	}
	for i := 1; i <= 20; i++ {
		b.record(now.Add(time.Duration(i)*time.Second), 1000, time.Second)
	}
	if r := b.record(now.Add(21*time.Second), 0, time.Second); r < 900 || r > 1100 {
		t.Errorf("steady rate %v, want about 1000", r)
	}
}

// TestRequestRateWindows: request_percentage is time*100 per second over
// quota.window.num windows of quota.window.size.seconds.
func TestRequestRateWindows(t *testing.T) {
	b := newRateWindow(3)
	now := time.Unix(2000, 0)
	// 50 ms of handling per 2 s window for 10 windows: 2.5 % of a thread.
	var r float64
	for i := range 10 {
		r = b.record(now.Add(time.Duration(i)*2*time.Second), (50*time.Millisecond).Seconds()*100, 2*time.Second)
	}
	if r < 2 || r > 4 {
		t.Errorf("rate %v%%, want about 2.5%% (3 windows of 2 s)", r)
	}
}

func TestQuotaExempt(t *testing.T) {
	follower := kmsg.NewPtrFetchRequest()
	follower.ReplicaID = 2
	consumer := kmsg.NewPtrFetchRequest()
	consumer.ReplicaID = -1
	for _, c := range []struct {
		r    request
		want bool
	}{
		{request{key: 1, version: 12, body: follower}, true},
		{request{key: 1, version: 12, body: consumer}, false},
		{request{key: 27, body: kmsg.NewPtrWriteTxnMarkersRequest()}, true},
		{request{key: 3, body: kmsg.NewPtrMetadataRequest()}, false},
	} {
		if got := quotaExempt(&c.r); got != c.want {
			t.Errorf("%s: exempt %v, want %v", kmsg.NameForKey(c.r.key), got, c.want)
		}
	}
}

func TestQuotaMatches(t *testing.T) {
	alice := "alice"
	ent := []metadata.QuotaEntity{{Type: "client-id"}, {Type: "user", Name: &alice}}
	exact := kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: 0, Match: &alice}
	def := kmsg.DescribeClientQuotasRequestComponent{EntityType: "client-id", MatchType: 1}
	anyIP := kmsg.DescribeClientQuotasRequestComponent{EntityType: "ip", MatchType: 2}
	if !quotaMatches(ent, []kmsg.DescribeClientQuotasRequestComponent{exact}, false) ||
		quotaMatches(ent, []kmsg.DescribeClientQuotasRequestComponent{exact}, true) ||
		!quotaMatches(ent, []kmsg.DescribeClientQuotasRequestComponent{exact, def}, true) ||
		quotaMatches(ent, []kmsg.DescribeClientQuotasRequestComponent{anyIP}, false) {
		t.Error("quota filter mismatch")
	}
}
