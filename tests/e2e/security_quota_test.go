package e2e

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
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
