package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// KIP-848 consumer groups across broker restarts and mixed with classic
// members.

// cgMemberView is one member of a ConsumerGroupDescribe answer.
type cgMemberView struct {
	id         string
	epoch      int32
	assignment []int32
}

func describeCGView(t *testing.T, adm *kadm.Client, group, topic string) (epoch, assignmentEpoch int32, members map[string]cgMemberView, err error) {
	dg, err := adm.DescribeConsumerGroups(ctxT(t, 5*time.Second), group)
	if err != nil {
		return 0, 0, nil, err
	}
	g, ok := dg[group]
	if !ok || g.Err != nil {
		return 0, 0, nil, fmt.Errorf("group missing or failed: %v", g.Err)
	}
	members = map[string]cgMemberView{}
	for _, m := range g.Members {
		members[m.ClientID] = cgMemberView{m.MemberID, m.MemberEpoch, slices.Sorted(maps.Keys(m.Assignment[topic]))}
	}
	return g.Epoch, g.AssignmentEpoch, members, nil
}

// TestGroupE2EConsumerGroupSurvivesRestart: two franz-go members using the
// KIP-848 protocol (uniform assignor) consume a topic, committing after
// every poll. The broker is restarted cleanly and then killed with
// SIGKILL; each time ConsumerGroupDescribe shows the same group epoch,
// member ids, member epochs and assignments as before (restored from
// __consumer_offsets, no fencing, no reassignment), the clients report the
// same member id and epoch, and consumption goes on: every record is
// consumed, and a record is consumed twice only if its commit failed while
// the broker was down.
func TestGroupE2EConsumerGroupSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts = 4
	createTopic(t, adm, topic, parts, nil)
	prod := manualProducer(t, b)

	ctx := ctxT(t, 150*time.Second)
	var mu sync.Mutex
	counts := map[string]int{}
	uncommitted := map[string]bool{} // consumed, but the commit failed
	names := []string{"kip848-a", "kip848-b"}
	var clients []*kgo.Client
	var clientLog lineBuf
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("----- franz-go log (last lines) -----\n%s", tailLines(clientLog.Lines(), 80))
		}
	})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, name := range names {
		cl := b.Client(t, kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.WithLogger(kgo.BasicLogger(&clientLog, kgo.LogLevelInfo, func() string { return name + " " })),
			kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()), // server assignor "uniform"
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(512))
		clients = append(clients, cl)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				fs := cl.PollFetches(pctx)
				cancel()
				if ctx.Err() != nil {
					return
				}
				recs := fs.Records()
				if len(recs) == 0 {
					continue
				}
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := cl.CommitRecords(cctx, recs...)
				cancel()
				mu.Lock()
				for _, r := range recs {
					counts[string(r.Value)]++
					if err != nil {
						uncommitted[string(r.Value)] = true
					}
				}
				mu.Unlock()
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	var epoch int32
	var before map[string]cgMemberView
	settle := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, what, func() (bool, string) {
			if ok, msg := consumerGroupSettled(t, adm, group, topic, parts, names); !ok {
				return false, msg
			}
			e, ae, ms, err := describeCGView(t, adm, group, topic)
			if err != nil {
				return false, err.Error()
			}
			for _, m := range ms {
				if m.epoch != e {
					return false, fmt.Sprintf("member %s at epoch %d, group epoch %d", m.id, m.epoch, e)
				}
			}
			if ae != e {
				return false, fmt.Sprintf("assignment epoch %d, group epoch %d", ae, e)
			}
			epoch, before = e, ms
			return true, ""
		})
	}
	produced := 0
	produce := func(n int) {
		produceValues(t, prod, topic, parts, produced, produced+n)
		produced += n
	}
	consumedAll := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, what, func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(counts) == produced, fmt.Sprintf("%d of %d records", len(counts), produced)
		})
	}
	produce(200)
	settle("two KIP-848 members Stable")
	consumedAll("records produced before the restarts consumed")
	clientMeta := func() map[string][2]any {
		out := map[string][2]any{}
		for i, cl := range clients {
			id, gen := cl.GroupMetadata()
			out[names[i]] = [2]any{id, gen}
		}
		return out
	}
	t.Logf("before: epoch %d members %+v", epoch, before)
	metaBefore := clientMeta()

	for _, crash := range []bool{false, true} {
		how := "SIGTERM"
		if crash {
			how = "SIGKILL"
			b.Kill()
			b.Start()
		} else {
			b.Restart()
		}
		// Right after the load, before anyone had to rejoin: the restored
		// group as it was.
		wantEpoch, want := epoch, before
		testutil.WaitFor(t, 30*time.Second, "ConsumerGroupDescribe after the "+how+" restart", func() (bool, string) {
			e, _, ms, err := describeCGView(t, adm, group, topic)
			if err != nil {
				return false, err.Error()
			}
			if e != wantEpoch || !maps.EqualFunc(ms, want, func(a, b cgMemberView) bool {
				return a.id == b.id && a.epoch == b.epoch && slices.Equal(a.assignment, b.assignment)
			}) {
				t.Fatalf("after the %s restart: epoch %d members %+v; before: epoch %d members %+v", how, e, ms, wantEpoch, want)
			}
			return true, ""
		})
		produce(200)
		consumedAll("records produced after the " + how + " restart consumed")
		settle("the group Stable after the " + how + " restart")
		if epoch != wantEpoch {
			t.Errorf("after the %s restart the group epoch moved %d -> %d: the group rebalanced", how, wantEpoch, epoch)
		}
		if m := clientMeta(); !maps.Equal(m, metaBefore) {
			t.Errorf("after the %s restart the clients report %v, before %v (fenced or rejoined)", how, m, metaBefore)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for v, c := range counts {
		if c > 1 && !uncommitted[v] {
			t.Errorf("record %s consumed %d times though its commit succeeded", v, c)
		}
	}
	for _, l := range clientLog.Lines() {
		if strings.Contains(l, "FENCED_MEMBER_EPOCH") || strings.Contains(l, "UNKNOWN_MEMBER_ID") {
			t.Errorf("client log: %s", l)
		}
	}
}

// consumeLoop polls cl until stop closes, committing after every poll and
// recording each record's consumer; a record whose commit failed is marked
// uncommitted (it may be consumed again).
type consumeLog struct {
	mu          sync.Mutex
	by          map[string][]string // record value -> consumers, in order
	uncommitted map[string]bool
}

func (l *consumeLog) loop(ctx context.Context, stop <-chan struct{}, cl *kgo.Client, name string) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		recs := fs.Records()
		if len(recs) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := cl.CommitRecords(cctx, recs...)
		cancel()
		l.mu.Lock()
		for _, r := range recs {
			l.by[string(r.Value)] = append(l.by[string(r.Value)], name)
			if err != nil {
				l.uncommitted[string(r.Value)] = true
			}
		}
		l.mu.Unlock()
	}
}

// TestGroupE2EMixedClassicAndConsumerProtocol: one franz-go member using
// the classic protocol (JoinGroup/SyncGroup, cooperative-sticky) and one
// using KIP-848 (ConsumerGroupHeartbeat) in the same group. The classic
// member starts alone (a classic group); the KIP-848 member's join upgrades
// the group, the server-side assignor splits the partitions and the classic
// member gets its share through SyncGroup: ConsumerGroupDescribe shows both
// (member types classic and consumer) with disjoint partitions covering the
// topic, and together they consume every record, each some. When the
// KIP-848 member leaves, the group downgrades to classic and the classic
// member owns every partition and consumes what follows. A record is
// consumed twice only if its commit failed.
//
// In the kip848-first variant the KIP-848 member starts alone (a consumer
// group) and the classic member joins it through the bridge.
func TestGroupE2EMixedClassicAndConsumerProtocol(t *testing.T) {
	t.Parallel()
	for _, classicFirst := range []bool{true, false} {
		name := map[bool]string{true: "classic-first", false: "kip848-first"}[classicFirst]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testMixedGroup(t, classicFirst)
		})
	}
}

func testMixedGroup(t *testing.T, classicFirst bool) {
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts = 4
	createTopic(t, adm, topic, parts, nil)
	prod := manualProducer(t, b)

	ctx := ctxT(t, 150*time.Second)
	var clientLog lineBuf
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("----- franz-go log (last lines) -----\n%s", tailLines(clientLog.Lines(), 80))
		}
	})
	log := &consumeLog{by: map[string][]string{}, uncommitted: map[string]bool{}}
	var wg sync.WaitGroup
	start := func(name string, stop <-chan struct{}, opts ...kgo.Opt) *kgo.Client {
		opts = append([]kgo.Opt{kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.WithLogger(kgo.BasicLogger(&clientLog, kgo.LogLevelInfo, func() string { return name + " " })),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
			kgo.FetchMaxWait(100 * time.Millisecond), kgo.FetchMaxPartitionBytes(512)}, opts...)
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); log.loop(ctx, stop, cl, name) }()
		return cl
	}
	produced := 0
	produce := func(n int) {
		produceValues(t, prod, topic, parts, produced, produced+n)
		produced += n
	}
	consumedAll := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 60*time.Second, what, func() (bool, string) {
			log.mu.Lock()
			defer log.mu.Unlock()
			return len(log.by) == produced, fmt.Sprintf("%d of %d records", len(log.by), produced)
		})
	}
	consumedBy := func(from int) map[string]int {
		log.mu.Lock()
		defer log.mu.Unlock()
		out := map[string]int{}
		for i := from; i < produced; i++ {
			for _, n := range log.by[fmt.Sprint(i)] {
				out[n]++
			}
		}
		return out
	}

	stopClassic, stop848 := make(chan struct{}), make(chan struct{})
	var classic, kip848 *kgo.Client
	startClassic := func() {
		classic = start("classic", stopClassic, kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	start848 := func() {
		kip848 = start("kip848", stop848, kgo.ServerSideBalancer(), kgo.Balancers(kgo.CooperativeStickyBalancer()))
	}
	defer func() { close(stopClassic); wg.Wait(); classic.Close() }()
	produce(100)
	if classicFirst {
		startClassic()
		testutil.WaitFor(t, 40*time.Second, "the classic member alone in a classic group", func() (bool, string) {
			v, err := describeGroupView(t, adm, group, topic)
			if err != nil {
				return false, err.Error()
			}
			return v.settled(parts, "classic")
		})
		consumedAll("records consumed by the classic member")
		start848()
	} else {
		start848()
		testutil.WaitFor(t, 40*time.Second, "the KIP-848 member alone in a consumer group", func() (bool, string) {
			return consumerGroupSettled(t, adm, group, topic, parts, []string{"kip848"})
		})
		consumedAll("records consumed by the KIP-848 member")
		startClassic()
	}
	names := []string{"classic", "kip848"}
	testutil.WaitFor(t, 60*time.Second, "the mixed group settled on both members", func() (bool, string) {
		ok, msg := consumerGroupSettled(t, adm, group, topic, parts, names)
		if !ok {
			return false, msg
		}
		dg, err := adm.DescribeConsumerGroups(ctxT(t, 5*time.Second), group)
		if err != nil {
			return false, err.Error()
		}
		for _, m := range dg[group].Members {
			if want := map[string]int8{"classic": 0, "kip848": 1}[m.ClientID]; m.MemberType != want {
				return false, fmt.Sprintf("%s has member type %d, want %d", m.ClientID, m.MemberType, want)
			}
		}
		return true, ""
	})
	mark := produced
	produce(400)
	testutil.WaitFor(t, 60*time.Second, "records produced since both joined consumed by both members", func() (bool, string) {
		by := consumedBy(mark)
		log.mu.Lock()
		n := len(log.by)
		log.mu.Unlock()
		return n == produced && by["classic"] > 0 && by["kip848"] > 0, fmt.Sprintf("%d of %d records; since both joined, per member: %v", n, produced, by)
	})
	t.Logf("since both joined, consumed per member: %v", consumedBy(mark))

	// The KIP-848 member leaves: downgrade, the classic member takes all.
	close(stop848)
	kip848.Close()
	testutil.WaitFor(t, 60*time.Second, "the downgraded classic group with the classic member owning everything", func() (bool, string) {
		v, err := describeGroupView(t, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		return v.settled(parts, "classic")
	})
	mark = produced
	produce(100)
	consumedAll("records produced after the downgrade consumed")
	if by := consumedBy(mark); by["classic"] < produced-mark || by["kip848"] != 0 {
		t.Errorf("after the downgrade: consumed per member %v, want all %d by the classic member", by, produced-mark)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	for v, who := range log.by {
		if len(who) > 1 && !log.uncommitted[v] {
			t.Errorf("record %s consumed by %v though its commit succeeded", v, who)
		}
	}
}
