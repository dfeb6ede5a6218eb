package e2e

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

type throttleHook struct{ max atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if int64(d) > h.max.Load() {
		h.max.Store(int64(d))
	}
}

// TestSecurityQuotas: a producer_byte_rate quota of user alice, set with
// AlterClientQuotas, throttles her producer (ThrottleMillis, KIP-219) and
// no one else's; DescribeClientQuotas lists it; removing it lifts it.
func TestSecurityQuotas(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t, nil)
	adm := sb.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	alice := "alice"
	entity := []kadm.ClientQuotaEntityComponent{{Type: "user", Name: &alice}}
	res, err := adm.AlterClientQuotas(ctxT(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{
		Entity: entity,
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 20000}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter quotas: %v %+v", err, res)
	}
	desc, err := adm.DescribeClientQuotas(ctxT(t, 10*time.Second), false, []kadm.DescribeClientQuotaComponent{{Type: "user", MatchName: &alice, MatchType: 0}})
	if err != nil || len(desc) != 1 || len(desc[0].Values) != 1 || desc[0].Values[0].Value != 20000 {
		t.Fatalf("describe quotas: %v %+v", err, desc)
	}

	produce := func(user string, n int) time.Duration {
		h := new(throttleHook)
		cl := sb.client(t, append(sb.plainOpts(user, user+"-secret"), kgo.WithHooks(h), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
		for i := 0; i < n; i++ {
			produceSync(t, cl, &kgo.Record{Topic: topic, Value: bytes.Repeat([]byte("q"), 60000)})
		}
		return time.Duration(h.max.Load())
	}
	if d := produce("alice", 1); d < time.Second {
		t.Errorf("alice at 60 kB/s against 20 kB/s: throttled %v", d)
	}
	if d := produce("bob", 3); d != 0 {
		t.Errorf("bob (no quota) throttled %v", d)
	}

	// consumer_byte_rate for the default user (everyone without their own).
	res, err = adm.AlterClientQuotas(ctxT(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "user"}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 20000}},
	}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("alter quotas: %v %+v", err, res)
	}
	h := new(throttleHook)
	cl := sb.client(t, append(sb.plainOpts("carol", "carol-secret"), kgo.WithHooks(h), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	got := 0
	ctx := ctxT(t, 20*time.Second)
	for got < 4 && ctx.Err() == nil {
		got += cl.PollFetches(ctx).NumRecords()
	}
	if d := time.Duration(h.max.Load()); got < 4 || d < time.Second {
		t.Errorf("carol consumed %d records of 60 kB against 20 kB/s, throttled %v", got, d)
	}

	res, err = adm.AlterClientQuotas(ctxT(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{
		Entity: []kadm.ClientQuotaEntityComponent{{Type: "user"}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}},
	}, {
		Entity: entity,
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Remove: true}},
	}})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("remove quotas: %v %+v", err, res)
	}
	if desc, err = adm.DescribeClientQuotas(ctxT(t, 10*time.Second), false, nil); err != nil || len(desc) != 0 {
		t.Errorf("quotas after removal: %v %+v", err, desc)
	}
}

// TestSecurityRequestQuota: a request_percentage quota (KIP-124) on a
// client id throttles that client after a burst of requests (throttle time
// in the responses) while a client without a quota is never throttled, and
// removing the quota ends the throttling.
func TestSecurityRequestQuota(t *testing.T) {
	t.Parallel()
	b := testutil.StartBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	createTopic(t, adm, topic, 1, nil)
	slow := "slowpoke"
	entity := []kadm.ClientQuotaEntityComponent{{Type: "client-id", Name: &slow}}
	alter := func(op kadm.AlterClientQuotaOp) {
		t.Helper()
		res, err := adm.AlterClientQuotas(ctxT(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{Entity: entity, Ops: []kadm.AlterClientQuotaOp{op}}})
		if err == nil {
			err = res[0].Err
		}
		if err != nil {
			t.Fatalf("alter quota %+v: %v", op, err)
		}
	}
	// Not a positive double: refused.
	res, err := adm.AlterClientQuotas(ctxT(t, 10*time.Second), []kadm.AlterClientQuotaEntry{{Entity: entity,
		Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: -1}}}})
	if err != nil || res[0].Err == nil {
		t.Fatalf("request_percentage=-1 accepted: %v %+v", err, res)
	}
	alter(kadm.AlterClientQuotaOp{Key: "request_percentage", Value: 0.001}) // 10 µs per second
	desc, err := adm.DescribeClientQuotas(ctxT(t, 10*time.Second), true, []kadm.DescribeClientQuotaComponent{{Type: "client-id", MatchName: &slow, MatchType: 0}})
	if err != nil || len(desc) != 1 || len(desc[0].Values) != 1 || desc[0].Values[0].Key != "request_percentage" || desc[0].Values[0].Value != 0.001 {
		t.Fatalf("describe quotas: %v %+v", err, desc)
	}

	// burst sends up to n ListOffsets requests as clientID and returns the
	// largest throttle time seen; it stops at the first throttled response.
	burst := func(clientID string, n int) time.Duration {
		h := new(throttleHook)
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ClientID(clientID), kgo.WithHooks(h))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		for i := 0; i < n && h.max.Load() == 0; i++ {
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = topic
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			if _, err := req.RequestWith(ctxT(t, 30*time.Second), cl); err != nil {
				t.Fatalf("ListOffsets as %s: %v", clientID, err)
			}
		}
		return time.Duration(h.max.Load())
	}
	if d := burst(slow, 200); d <= 0 {
		t.Errorf("client %s with request_percentage=0.001 was never throttled in 200 requests", slow)
	}
	if d := burst("unquoted", 200); d != 0 {
		t.Errorf("client without a quota throttled %v", d)
	}
	alter(kadm.AlterClientQuotaOp{Key: "request_percentage", Remove: true})
	if d := burst(slow, 200); d != 0 {
		t.Errorf("client %s throttled %v after its quota was removed", slow, d)
	}
}
