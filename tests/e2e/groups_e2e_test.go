package e2e

// End-to-end consumer group tests with real clients in separate processes
// (kcat -G, confluent-kafka-python members) and franz-go members with the
// eager, cooperative-sticky and KIP-848 protocols: queue vs
// publish-subscribe, commits across broker restarts, and group admin.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupBroker starts a broker tuned for fast group tests.
func groupBroker(t *testing.T) *testutil.Broker {
	return testutil.StartBroker(t, testutil.WithOverrides(map[string]string{
		"group.initial.rebalance.delay.ms":     "0",
		"group.consumer.heartbeat.interval.ms": "500", // KIP-848 reconciliation pace
	}))
}

// ---- background client processes ----

// lineBuf collects a process's output lines.
type lineBuf struct {
	mu    sync.Mutex
	part  []byte
	lines []string
}

func (l *lineBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.part[:i]))
		l.part = l.part[i+1:]
	}
	return len(p), nil
}

func (l *lineBuf) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// memberProc is a client process (kcat, python) running in the background,
// in its own process group, killed by PID in t.Cleanup.
type memberProc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  *os.File
	out    lineBuf
	errOut lineBuf
	done   chan struct{}
	err    error
}

func startMemberProc(t *testing.T, name string, bin string, args ...string) *memberProc {
	t.Helper()
	p := &memberProc{t: t, name: name, done: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &p.out, &p.errOut
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, bin, err)
	}
	r.Close()
	p.cmd, p.stdin = cmd, w
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		w.Close()
		if t.Failed() {
			t.Logf("----- %s (pid %d) exit=%v stdout (last lines) -----\n%s\n----- stderr -----\n%s",
				name, cmd.Process.Pid, p.err, tailLines(p.out.Lines(), 40), tailLines(p.errOut.Lines(), 40))
		}
	})
	return p
}

func tailLines(ls []string, n int) string {
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

func (p *memberProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL to this process only and waits for it.
func (p *memberProc) kill() {
	if p.exited() {
		return
	}
	_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("%s (pid %d) did not exit 10s after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// wait waits (bounded) for the process to exit and fails unless it exits 0.
func (p *memberProc) wait(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	if p.err != nil {
		p.t.Fatalf("%s exited with %v; stderr:\n%s", p.name, p.err, tailLines(p.errOut.Lines(), 40))
	}
}

// lastAssign is the partition list of the process's last "ASSIGN" line
// (python member), and how many ASSIGN/REVOKE lines it printed.
func (p *memberProc) lastAssign() (parts []int32, ok bool, callbacks int) {
	for _, l := range p.out.Lines() {
		switch {
		case strings.HasPrefix(l, "ASSIGN"):
			parts, ok = parseParts(strings.TrimSpace(strings.TrimPrefix(l, "ASSIGN"))), true
			callbacks++
		case strings.HasPrefix(l, "REVOKE"):
			callbacks++
		}
	}
	return parts, ok, callbacks
}

// waitGen waits for the "GEN" line a python member prints after its last
// on_assign ("ASSIGN" line) and returns it: the generation id librdkafka
// joined with.
func (p *memberProc) waitGen(t *testing.T) int32 {
	t.Helper()
	var g int32
	testutil.WaitFor(t, 10*time.Second, p.name+"'s generation", func() (bool, string) {
		lines := p.out.Lines()
		gen := ""
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "ASSIGN"):
				gen = ""
			case strings.HasPrefix(l, "GEN "):
				gen = strings.TrimPrefix(l, "GEN ")
			}
		}
		if gen == "" {
			return false, "no GEN line after the last ASSIGN"
		}
		n, err := strconv.ParseInt(gen, 10, 32)
		if err != nil {
			t.Fatalf("%s: unreadable generation %q", p.name, gen)
		}
		g = int32(n)
		return true, ""
	})
	return g
}

func parseParts(s string) []int32 {
	out := []int32{}
	for _, f := range strings.Split(s, ",") {
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err == nil {
			out = append(out, int32(n))
		}
	}
	slices.Sort(out)
	return out
}

// ---- group inspection ----

// groupView is a classic group as DescribeGroups shows it: state and each
// member's assigned partitions of topic, keyed by client id.
type groupView struct {
	state   string
	members map[string][]int32
	ids     map[string]string // client id -> member id
}

func (v groupView) String() string {
	var keys []string
	for k := range v.members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	fmt.Fprintf(&sb, "state=%s", v.state)
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s:%v", k, v.members[k])
	}
	return sb.String()
}

func describeGroupView(t *testing.T, adm *kadm.Client, group, topic string) (groupView, error) {
	dg, err := adm.DescribeGroups(ctxT(t, 5*time.Second), group)
	if err != nil {
		return groupView{}, err
	}
	g, ok := dg[group]
	if !ok {
		return groupView{}, fmt.Errorf("group %s missing from DescribeGroups", group)
	}
	if g.Err != nil {
		return groupView{}, g.Err
	}
	v := groupView{state: g.State, members: map[string][]int32{}, ids: map[string]string{}}
	for _, m := range g.Members {
		ps := []int32{}
		if ca, ok := m.Assigned.AsConsumer(); ok {
			for _, tp := range ca.Topics {
				if tp.Topic == topic {
					ps = append(ps, tp.Partitions...)
				}
			}
		}
		slices.Sort(ps)
		v.members[m.ClientID] = ps
		v.ids[m.ClientID] = m.MemberID
	}
	return v, nil
}

// settled reports whether v is Stable with exactly the named members, each
// owning at least one partition, together owning 0..parts-1 exactly once.
func (v groupView) settled(parts int32, names ...string) (bool, string) {
	if v.state != "Stable" {
		return false, v.String()
	}
	if len(v.members) != len(names) {
		return false, v.String()
	}
	owned := map[int32]int{}
	for _, n := range names {
		ps, ok := v.members[n]
		if !ok || len(ps) == 0 {
			return false, v.String()
		}
		for _, p := range ps {
			owned[p]++
		}
	}
	for p := int32(0); p < parts; p++ {
		if owned[p] != 1 {
			return false, fmt.Sprintf("partition %d owned %d times: %s", p, owned[p], v)
		}
	}
	return true, ""
}

func produceValues(t *testing.T, cl *kgo.Client, topic string, parts int32, from, to int) {
	t.Helper()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % parts, Value: []byte(strconv.Itoa(i))})
	}
	produceSync(t, cl, recs...)
}

func manualProducer(t *testing.T, b *testutil.Broker) *kgo.Client {
	return b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(2*time.Millisecond))
}

// ---- 1. kcat -G ----

// TestGroupE2EKcatBalanced: two `kcat -G` processes in one group on a
// 4-partition topic split the partitions (DescribeGroups) and together print
// every record produced afterwards exactly once, each record by the member
// owning its partition.
func TestGroupE2EKcatBalanced(t *testing.T) {
	t.Parallel()
	kcat := testutil.RequireKcat(t)
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts, n = 4, 400
	createTopic(t, adm, topic, parts, nil)

	var members []*memberProc
	names := []string{"kcat-1", "kcat-2"}
	for _, name := range names {
		members = append(members, startMemberProc(t, name, kcat,
			"-b", b.Addr(), "-q", "-u", "-f", "%p %o %s\\n",
			"-X", "client.id="+name,
			"-X", "session.timeout.ms=6000",
			"-X", "heartbeat.interval.ms=500",
			"-X", "auto.offset.reset=earliest",
			"-X", "fetch.wait.max.ms=100",
			"-G", group, topic))
	}
	var view groupView
	testutil.WaitFor(t, 40*time.Second, "two kcat members splitting 4 partitions", func() (bool, string) {
		for _, m := range members {
			if m.exited() {
				t.Fatalf("%s exited: %v\n%s", m.name, m.err, tailLines(m.errOut.Lines(), 20))
			}
		}
		v, err := describeGroupView(t, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		view = v
		return v.settled(parts, names...)
	})
	t.Logf("group: %s", view)

	produceValues(t, manualProducer(t, b), topic, parts, 0, n)

	count := map[string]int{}
	byMember := map[string]map[int32]bool{}
	testutil.WaitFor(t, 40*time.Second, "every record printed by the kcat members", func() (bool, string) {
		count = map[string]int{}
		byMember = map[string]map[int32]bool{}
		for i, m := range members {
			byMember[names[i]] = map[int32]bool{}
			for _, l := range m.out.Lines() {
				f := strings.Fields(l)
				if len(f) != 3 {
					t.Fatalf("%s printed an unexpected line %q", m.name, l)
				}
				p, _ := strconv.Atoi(f[0])
				byMember[names[i]][int32(p)] = true
				count[f[2]]++
			}
		}
		return len(count) >= n, fmt.Sprintf("%d of %d distinct records printed", len(count), n)
	})
	for v, c := range count {
		if c != 1 {
			t.Errorf("record %s printed %d times", v, c)
		}
	}
	for _, name := range names {
		got := slices.Sorted(func(yield func(int32) bool) {
			for p := range byMember[name] {
				if !yield(p) {
					return
				}
			}
		})
		if !slices.Equal(got, view.members[name]) {
			t.Errorf("%s printed records of partitions %v, its assignment is %v", name, got, view.members[name])
		}
	}
}

// ---- 2. confluent-kafka-python members ----

func startPyMember(t *testing.T, b *testutil.Broker, topic, group, name, sessionMs, instance string) *memberProc {
	t.Helper()
	root, err := testutil.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(root, "tests", "e2e", "py", "confluent_group_member.py"), b.Addr(), topic, group, name, sessionMs}
	if instance != "" {
		args = append(args, instance)
	}
	return startMemberProc(t, name, testutil.SystemPython, args...)
}

// waitPySettled waits until DescribeGroups shows exactly the named python
// members, Stable, covering the topic, and each member's last on_assign
// agrees with it.
func waitPySettled(t *testing.T, adm *kadm.Client, group, topic string, parts int32, timeout time.Duration, procs map[string]*memberProc, names ...string) groupView {
	t.Helper()
	var view groupView
	testutil.WaitFor(t, timeout, fmt.Sprintf("group settled on members %v", names), func() (bool, string) {
		for _, n := range names {
			if procs[n].exited() {
				t.Fatalf("%s exited: %v\n%s", n, procs[n].err, tailLines(procs[n].errOut.Lines(), 20))
			}
		}
		v, err := describeGroupView(t, adm, group, topic)
		if err != nil {
			return false, err.Error()
		}
		view = v
		if ok, msg := v.settled(parts, names...); !ok {
			return false, msg
		}
		for _, n := range names {
			ps, ok, _ := procs[n].lastAssign()
			if !ok || !slices.Equal(ps, v.members[n]) {
				return false, fmt.Sprintf("%s: last on_assign %v, DescribeGroups %v", n, ps, v.members[n])
			}
		}
		return true, ""
	})
	return view
}

// TestGroupE2EConfluentMembers: three confluent-kafka-python members in
// separate processes join and split 6 partitions; one closes (LeaveGroup)
// and its partitions move to the other two; one is SIGKILLed and its
// partitions move to the last one after its 6 s session timeout. Together
// they consume every record.
func TestGroupE2EConfluentMembers(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts, n = 6, 120
	createTopic(t, adm, topic, parts, nil)
	produceValues(t, manualProducer(t, b), topic, parts, 0, n)

	procs := map[string]*memberProc{}
	for _, name := range []string{"py-1", "py-2", "py-3"} {
		procs[name] = startPyMember(t, b, topic, group, name, "6000", "")
	}
	v := waitPySettled(t, adm, group, topic, parts, 60*time.Second, procs, "py-1", "py-2", "py-3")
	t.Logf("three members: %s", v)
	for name, ps := range v.members {
		if len(ps) != 2 {
			t.Errorf("%s owns %v; the range assignor gives 2 of 6 partitions to each of 3 members", name, ps)
		}
	}

	// A member leaves: close() sends LeaveGroup.
	leaving := v.members["py-3"]
	if _, err := procs["py-3"].stdin.WriteString("close\n"); err != nil {
		t.Fatal(err)
	}
	procs["py-3"].wait(30 * time.Second)
	v = waitPySettled(t, adm, group, topic, parts, 30*time.Second, procs, "py-1", "py-2")
	t.Logf("after py-3 left (had %v): %s", leaving, v)

	// A member is killed: its partitions move after the session timeout.
	killed := v.members["py-2"]
	procs["py-2"].kill()
	v = waitPySettled(t, adm, group, topic, parts, 45*time.Second, procs, "py-1")
	t.Logf("after py-2 was killed (had %v): %s", killed, v)

	// Every record was consumed by some member (at least once).
	seen := map[string]bool{}
	testutil.WaitFor(t, 30*time.Second, "every record consumed by some member", func() (bool, string) {
		for _, p := range procs {
			for _, l := range p.out.Lines() {
				if f := strings.Fields(l); len(f) == 4 && f[0] == "MSG" {
					seen[f[3]] = true
				}
			}
		}
		return len(seen) == n, fmt.Sprintf("%d of %d records seen", len(seen), n)
	})
	for _, p := range procs {
		for _, l := range p.out.Lines() {
			if strings.HasPrefix(l, "ERROR") {
				t.Errorf("%s: %s", p.name, l)
			}
		}
	}
}

// TestGroupE2EConfluentStatic: two static members (group.instance.id); one
// is SIGKILLed and restarted within its session timeout with the same
// instance id. It gets its partitions back without a rebalance: the other
// member sees no revoke/assign callback, its member id is unchanged and the
// group keeps the same assignment.
func TestGroupE2EConfluentStatic(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts = 4
	createTopic(t, adm, topic, parts, nil)
	produceValues(t, manualProducer(t, b), topic, parts, 0, 40)

	// 30 s sessions: the restart must happen within the session timeout.
	procs := map[string]*memberProc{
		"static-1": startPyMember(t, b, topic, group, "static-1", "30000", "inst-1"),
		"static-2": startPyMember(t, b, topic, group, "static-2", "30000", "inst-2"),
	}
	before := waitPySettled(t, adm, group, topic, parts, 60*time.Second, procs, "static-1", "static-2")
	t.Logf("before: %s", before)
	_, _, cb2 := procs["static-2"].lastAssign()
	gen1, gen2 := procs["static-1"].waitGen(t), procs["static-2"].waitGen(t)
	if gen1 != gen2 {
		t.Fatalf("the two members joined generations %d and %d", gen1, gen2)
	}

	procs["static-1"].kill()
	procs["static-1"] = startPyMember(t, b, topic, group, "static-1", "30000", "inst-1")
	after := waitPySettled(t, adm, group, topic, parts, 25*time.Second, procs, "static-1", "static-2")
	t.Logf("after the static restart: %s", after)
	for name := range before.members {
		if !slices.Equal(before.members[name], after.members[name]) {
			t.Errorf("%s: assignment %v before the restart, %v after", name, before.members[name], after.members[name])
		}
	}
	t.Logf("generation %d; static-1's member id %s before, %s after", gen1, before.ids["static-1"], after.ids["static-1"])
	if g := procs["static-1"].waitGen(t); g != gen1 {
		t.Errorf("restarted static-1 got its assignment in generation %d, was %d: the group rebalanced", g, gen1)
	}
	if before.ids["static-2"] != after.ids["static-2"] {
		t.Errorf("static-2's member id changed from %s to %s", before.ids["static-2"], after.ids["static-2"])
	}
	if _, _, cb := procs["static-2"].lastAssign(); cb != cb2 {
		t.Errorf("static-2 got %d rebalance callbacks during static-1's restart (a rebalance happened):\n%s",
			cb-cb2, tailLines(procs["static-2"].out.Lines(), 20))
	}
}

// ---- 3. queue vs publish-subscribe ----

// TestGroupE2EQueueVsPubSub: two franz-go members of one group consume with
// synchronous commits (rebalances blocked between poll and commit): every
// record is consumed exactly once across them, and the committed offsets are
// the end offsets. Two other groups each consume every record.
func TestGroupE2EQueueVsPubSub(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	queue := "queue-" + topic
	const parts, n = 4, 1200
	createTopic(t, adm, topic, parts, nil)
	prod := manualProducer(t, b)
	produceValues(t, prod, topic, parts, 0, n/2)

	ctx := ctxT(t, 60*time.Second)
	var mu sync.Mutex
	counts := map[string]int{}
	perMember := []int{0, 0}
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	names := []string{"queue-1", "queue-2"}
	for i, name := range names {
		cl := b.Client(t, kgo.ClientID(name), kgo.ConsumerGroup(queue), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(512))
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
				fs := cl.PollRecords(pctx, 50)
				cancel()
				var ferr error
				fs.EachError(func(tp string, p int32, err error) {
					if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
						ferr = fmt.Errorf("%s: fetch %s[%d]: %w", name, tp, p, err)
					}
				})
				recs := fs.Records()
				if ferr == nil && len(recs) > 0 {
					cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
					ferr = cl.CommitRecords(cctx, recs...)
					ccancel()
					if ferr != nil {
						ferr = fmt.Errorf("%s: synchronous commit of %d records: %w", name, len(recs), ferr)
					} else {
						mu.Lock()
						for _, r := range recs {
							counts[string(r.Value)]++
						}
						perMember[i] += len(recs)
						mu.Unlock()
					}
				}
				cl.AllowRebalance()
				if ferr != nil {
					errs <- ferr
					return
				}
				if ctx.Err() != nil {
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	testutil.WaitFor(t, 40*time.Second, "the queue group settled on two members", func() (bool, string) {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		v, err := describeGroupView(t, adm, queue, topic)
		if err != nil {
			return false, err.Error()
		}
		return v.settled(parts, names...)
	})
	produceValues(t, prod, topic, parts, n/2, n)
	testutil.WaitFor(t, 40*time.Second, "every record consumed by the queue group", func() (bool, string) {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		return len(counts) >= n, fmt.Sprintf("%d of %d distinct records (per member %v)", len(counts), n, perMember)
	})
	mu.Lock()
	for v, c := range counts {
		if c != 1 {
			t.Errorf("queue group: record %s consumed %d times", v, c)
		}
	}
	t.Logf("queue group: records per member %v", perMember)
	if perMember[0] == 0 || perMember[1] == 0 {
		t.Errorf("one queue member consumed nothing: %v", perMember)
	}
	mu.Unlock()

	committed, err := adm.FetchOffsets(ctxT(t, 10*time.Second), queue)
	if err != nil {
		t.Fatalf("OffsetFetch: %v", err)
	}
	for p := int32(0); p < parts; p++ {
		want := int64(n / parts)
		if c, ok := committed.Lookup(topic, p); !ok || c.Err != nil || c.At != want {
			t.Errorf("queue group committed %s[%d] = %+v, want %d", topic, p, c, want)
		}
	}

	// Publish-subscribe: two more groups each see every record.
	for _, g := range []string{"pubsub-a-" + topic, "pubsub-b-" + topic} {
		cl := b.Client(t, kgo.ConsumerGroup(g), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
		seen := map[string]int{}
		gctx := ctxT(t, 30*time.Second)
		for len(seen) < n {
			fs := cl.PollFetches(gctx)
			if gctx.Err() != nil {
				t.Fatalf("group %s: %d of %d records", g, len(seen), n)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Fatalf("group %s: fetch %s[%d]: %v", g, tp, p, err) })
			fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		}
		for v, c := range seen {
			if c != 1 {
				t.Errorf("group %s: record %s seen %d times", g, v, c)
			}
		}
		cl.Close()
	}
}

// ---- 4. franz-go balancers and KIP-848 ----

// TestGroupE2EFranzProtocols: two franz-go members with the eager range
// balancer, with cooperative-sticky, and with the KIP-848 consumer protocol
// (ServerSideBalancer): the group settles on both members owning disjoint
// partitions covering the topic, and together they consume every record,
// each member some of those produced after the group settled.
func TestGroupE2EFranzProtocols(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	for _, tc := range []struct {
		name     string
		protocol string // as DescribeGroups shows it; "" for KIP-848
		opts     []kgo.Opt
	}{
		{"eager-range", "range", []kgo.Opt{kgo.Balancers(kgo.RangeBalancer())}},
		{"cooperative-sticky", "cooperative-sticky", []kgo.Opt{kgo.Balancers(kgo.CooperativeStickyBalancer())}},
		{"kip848", "", []kgo.Opt{kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer())}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			adm := b.Admin(t)
			topic := topicName(t)
			group := "g-" + topic
			const parts, n = 4, 800
			createTopic(t, adm, topic, parts, nil)
			prod := manualProducer(t, b)
			produceValues(t, prod, topic, parts, 0, n/2)

			ctx := ctxT(t, 60*time.Second)
			var mu sync.Mutex
			seen := map[string]bool{}
			late := []int{0, 0} // records >= n/2 per member
			errs := make(chan error, 2)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			names := []string{tc.name + "-1", tc.name + "-2"}
			for i, name := range names {
				opts := append([]kgo.Opt{kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
					kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(500 * time.Millisecond),
					kgo.FetchMaxWait(100 * time.Millisecond), kgo.FetchMaxPartitionBytes(512)}, tc.opts...)
				cl := b.Client(t, opts...)
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
						var ferr error
						fs.EachError(func(tp string, p int32, err error) {
							if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
								ferr = fmt.Errorf("%s: fetch %s[%d]: %w", name, tp, p, err)
							}
						})
						if ferr != nil {
							errs <- ferr
							return
						}
						mu.Lock()
						fs.EachRecord(func(r *kgo.Record) {
							seen[string(r.Value)] = true
							if v, _ := strconv.Atoi(string(r.Value)); v >= n/2 {
								late[i]++
							}
						})
						mu.Unlock()
					}
				}()
			}
			defer func() { close(stop); wg.Wait() }()
			checkErrs := func() {
				select {
				case err := <-errs:
					t.Fatal(err)
				default:
				}
			}

			testutil.WaitFor(t, 40*time.Second, "the group settled on two members", func() (bool, string) {
				checkErrs()
				if tc.protocol == "" {
					return consumerGroupSettled(t, adm, group, topic, parts, names)
				}
				dg, err := adm.DescribeGroups(ctxT(t, 5*time.Second), group)
				if err != nil {
					return false, err.Error()
				}
				if p := dg[group].Protocol; p != tc.protocol && dg[group].State == "Stable" {
					t.Fatalf("group protocol %q, want %q", p, tc.protocol)
				}
				v, err := describeGroupView(t, adm, group, topic)
				if err != nil {
					return false, err.Error()
				}
				return v.settled(parts, names...)
			})
			produceValues(t, prod, topic, parts, n/2, n)
			testutil.WaitFor(t, 40*time.Second, "every record consumed", func() (bool, string) {
				checkErrs()
				mu.Lock()
				defer mu.Unlock()
				return len(seen) >= n && late[0] > 0 && late[1] > 0,
					fmt.Sprintf("%d of %d records; records produced after settling per member: %v", len(seen), n, late)
			})
		})
	}
}

// consumerGroupSettled checks a KIP-848 group through ConsumerGroupDescribe:
// Stable, the named members, assignments disjoint and covering the topic.
func consumerGroupSettled(t *testing.T, adm *kadm.Client, group, topic string, parts int32, names []string) (bool, string) {
	dg, err := adm.DescribeConsumerGroups(ctxT(t, 5*time.Second), group)
	if err != nil {
		return false, "ConsumerGroupDescribe: " + err.Error()
	}
	g, ok := dg[group]
	if !ok {
		return false, "group missing from ConsumerGroupDescribe"
	}
	if g.Err != nil {
		return false, "ConsumerGroupDescribe: " + g.Err.Error()
	}
	desc := fmt.Sprintf("state=%s epoch=%d assignmentEpoch=%d", g.State, g.Epoch, g.AssignmentEpoch)
	owned := map[int32]int{}
	for _, m := range g.Members {
		ps := m.Assignment[topic]
		desc += fmt.Sprintf(" %s(epoch %d):%v", m.ClientID, m.MemberEpoch, ps)
		if len(ps) == 0 {
			return false, desc
		}
		for p := range ps {
			owned[p]++
		}
	}
	if g.State != "Stable" || len(g.Members) != len(names) {
		return false, desc
	}
	for _, m := range g.Members {
		if !slices.Contains(names, m.ClientID) {
			return false, desc
		}
	}
	for p := int32(0); p < parts; p++ {
		if owned[p] != 1 {
			return false, desc
		}
	}
	return true, ""
}

// ---- 5. commits across broker restarts ----

// TestGroupE2ECommitsSurviveRestart: a member commits part-way and leaves;
// after a clean restart (SIGTERM) a new member resumes exactly at the
// committed offsets and commits further; after kill -9 a third member
// resumes at those. The three together consume every record exactly once.
func TestGroupE2ECommitsSurviveRestart(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts, n = 3, 600
	createTopic(t, b.Admin(t), topic, parts, nil)
	// Small batches, so that each member's records come from every
	// partition and each partition's resume point is checked.
	prod := manualProducer(t, b)
	for i := 0; i < n; i += 12 {
		produceValues(t, prod, topic, parts, i, i+12)
	}

	counts := map[string]int{}
	var prevCommitted map[int32]int64 // nil: nothing committed yet
	step := func(name string, upTo int) map[int32]int64 {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ClientID(name), kgo.RetryTimeout(20*time.Second),
			kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.FetchMaxWait(100*time.Millisecond), kgo.FetchMaxPartitionBytes(512))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx := ctxT(t, 45*time.Second)
		first := map[int32]int64{}
		got := 0
		for got < upTo {
			fs := cl.PollRecords(ctx, upTo-got)
			if ctx.Err() != nil {
				t.Fatalf("%s: timed out after %d of %d records", name, got, upTo)
			}
			fs.EachError(func(tp string, p int32, err error) { t.Fatalf("%s: fetch %s[%d]: %v", name, tp, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				if _, ok := first[r.Partition]; !ok {
					first[r.Partition] = r.Offset
				}
				counts[string(r.Value)]++
				got++
			})
		}
		// Where it started: the committed offset of each partition (0 for
		// partitions without a commit).
		if prevCommitted != nil && len(first) != parts {
			t.Errorf("%s: consumed from partitions %v only; want all %d", name, first, parts)
		}
		for p, off := range first {
			want := prevCommitted[p]
			if off != want {
				t.Errorf("%s: first record of partition %d at offset %d, committed offset was %d", name, p, off, want)
			}
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("%s: commit: %v", name, err)
		}
		cl.Close() // LeaveGroup
		adm := kadm.NewClient(b.Client(t))
		off, err := adm.FetchOffsets(ctxT(t, 15*time.Second), group)
		if err != nil {
			t.Fatalf("OffsetFetch: %v", err)
		}
		out := map[int32]int64{}
		off.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.Err == nil && o.At >= 0 {
				out[o.Partition] = o.At
			}
		})
		return out
	}

	c1 := step("before-restart", 200)
	t.Logf("committed before SIGTERM: %v", c1)
	b.Restart()
	prevCommitted = c1
	c2 := step("after-sigterm", 200)
	t.Logf("committed before SIGKILL: %v", c2)
	b.Kill()
	b.Start()
	prevCommitted = c2
	step("after-sigkill", n-400)

	if len(counts) != n {
		t.Errorf("consumed %d distinct records, want %d", len(counts), n)
	}
	for v, c := range counts {
		if c != 1 {
			t.Errorf("record %s consumed %d times", v, c)
		}
	}
}

// TestGroupE2EMembershipSurvivesRestart: two franz-go members of a Stable
// group keep their member ids and partitions across a clean restart
// (SIGTERM) and a kill -9 of the broker: the group metadata record in
// __consumer_offsets is replayed and the members' heartbeats (or rejoins
// with their member ids) are accepted; the generation stays unless a client
// rejoined by itself. The group consumes records produced afterwards.
func TestGroupE2EMembershipSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := groupBroker(t)
	topic := topicName(t)
	group := "g-" + topic
	const parts = 4
	createTopic(t, b.Admin(t), topic, parts, nil)

	ctx := ctxT(t, 80*time.Second)
	var mu sync.Mutex
	seen := map[string]bool{}
	var members []*kgo.Client
	names := []string{"restart-1", "restart-2"}
	// The clients' own account (heartbeat errors, rejoins) for a failure.
	var clientLog lineBuf
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("----- franz-go log (last lines) -----\n%s", tailLines(clientLog.Lines(), 60))
		}
	})
	for _, name := range names {
		cl := b.Client(t, kgo.ClientID(name), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.WithLogger(kgo.BasicLogger(&clientLog, kgo.LogLevelInfo, func() string { return name + " " })),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(kgo.RangeBalancer()),
			kgo.SessionTimeout(20*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.FetchMaxWait(100*time.Millisecond))
		members = append(members, cl)
		go func() {
			for ctx.Err() == nil {
				pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				fs := cl.PollFetches(pctx)
				cancel()
				mu.Lock()
				fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
				mu.Unlock()
			}
		}()
	}
	type meta struct {
		id  string
		gen int32
	}
	metas := func() []meta {
		var out []meta
		for _, cl := range members {
			id, gen := cl.GroupMetadata()
			out = append(out, meta{id, gen})
		}
		return out
	}
	var view groupView
	var before []meta
	settle := func(what string) {
		t.Helper()
		testutil.WaitFor(t, 40*time.Second, what, func() (bool, string) {
			v, err := describeGroupView(t, b.Admin(t), group, topic)
			if err != nil {
				return false, err.Error()
			}
			view = v
			if ok, msg := v.settled(parts, names...); !ok {
				return false, msg
			}
			m := metas()
			if m[0].gen != m[1].gen || m[0].gen < 0 {
				return false, fmt.Sprintf("members report %+v", m)
			}
			return true, ""
		})
	}
	settle("a Stable group of two members")
	before = metas()
	assigned := view.members
	t.Logf("before: %s, members %+v", view, before)

	produced := 0
	for _, crash := range []bool{false, true} {
		how := "SIGTERM"
		mark := len(clientLog.Lines())
		if crash {
			how = "SIGKILL"
			b.Kill()
			b.Start()
		} else {
			b.Restart()
		}
		// New records reach both members: they fetch again, from the
		// restarted broker, as members of the same generation.
		produceValues(t, manualProducer(t, b), topic, parts, produced, produced+40)
		produced += 40
		testutil.WaitFor(t, 40*time.Second, "records produced after the "+how+" restart consumed", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == produced, fmt.Sprintf("%d of %d records", len(seen), produced)
		})
		settle("the group Stable after the " + how + " restart")
		after := metas()
		t.Logf("after %s: %s, members %+v", how, view, after)
		// Restored membership: the same member ids (an unknown member id
		// would get UNKNOWN_MEMBER_ID and a fresh id on rejoin).
		// Same generation too, unless a client itself rejoined: franz-go
		// ends its group session when a heartbeat cannot reach the broker
		// while it is down, and a rejoining leader rebalances (as in Kafka).
		clientRejoined := false
		for _, l := range clientLog.Lines()[mark:] {
			if strings.Contains(l, "heartbeat errored") && strings.Contains(l, "dial") {
				clientRejoined = true
			}
		}
		for i := range before {
			if after[i].id != before[i].id {
				t.Errorf("%s after the %s restart: member id %s, before %s: the membership was not restored",
					names[i], how, after[i].id, before[i].id)
			}
			if after[i].gen != before[i].gen && !clientRejoined {
				t.Errorf("%s after the %s restart: generation %d, before %d, and no client rejoined: the broker rebalanced",
					names[i], how, after[i].gen, before[i].gen)
			}
		}
		if clientRejoined {
			t.Logf("after %s: a client's heartbeat failed while the broker was down and it rejoined (generation %d -> %d)", how, before[0].gen, after[0].gen)
		}
		before = after
		for n, ps := range assigned {
			if !slices.Equal(view.members[n], ps) {
				t.Errorf("%s after the %s restart owns %v, before %v", n, how, view.members[n], ps)
			}
		}
	}
}

// ---- 6. group admin through the Python AdminClient ----

type pyGroups struct {
	Groups []struct {
		ID           string  `json:"id"`
		Error        *string `json:"error"`
		State        string  `json:"state"`
		ProtocolType string  `json:"protocol_type"`
		Protocol     string  `json:"protocol"`
		Members      []struct {
			ID            string `json:"id"`
			ClientID      string `json:"client_id"`
			AssignmentLen int    `json:"assignment_len"`
		} `json:"members"`
	} `json:"groups"`
}

func pyListGroups(t *testing.T, b *testutil.Broker, group string) pyGroups {
	t.Helper()
	args := []string{b.Addr()}
	if group != "" {
		args = append(args, group)
	}
	r := testutil.Python(t, 60*time.Second, "confluent_group_admin.py", args...)
	if r.Err != nil {
		t.Fatalf("confluent_group_admin.py: %v", r)
	}
	var out pyGroups
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &out); err != nil {
		t.Fatalf("confluent_group_admin.py output: %v\n%s", err, r.Stdout)
	}
	return out
}

// TestGroupE2EAdminPython: confluent-kafka-python's AdminClient.list_groups
// (ListGroups, and DescribeGroups for one group) shows a Stable group with
// its member and an Empty group with only offsets; DeleteGroups of the
// non-empty group fails with NON_EMPTY_GROUP and of the empty one succeeds,
// after which list_groups no longer shows it.
func TestGroupE2EAdminPython(t *testing.T) {
	t.Parallel()
	testutil.RequirePython(t, "confluent_kafka")
	b := groupBroker(t)
	adm := b.Admin(t)
	topic := topicName(t)
	active, empty := "active-"+topic, "empty-"+topic
	const parts = 2
	createTopic(t, adm, topic, parts, nil)
	produceValues(t, manualProducer(t, b), topic, parts, 0, 10)

	// An empty group with committed offsets.
	cl := b.Client(t, kgo.ConsumerGroup(empty), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit())
	ctx := ctxT(t, 30*time.Second)
	got := 0
	for got < 10 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("empty group: consumed %d of 10", got)
		}
		got += len(fs.Records())
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	cl.Close()

	// A group with one live member.
	member := b.Client(t, kgo.ClientID("admin-member"), kgo.ConsumerGroup(active), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.Balancers(kgo.RangeBalancer()))
	go func() {
		for ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			member.PollFetches(pctx)
			cancel()
		}
	}()
	testutil.WaitFor(t, 30*time.Second, "the active group Stable", func() (bool, string) {
		v, err := describeGroupView(t, adm, active, topic)
		if err != nil {
			return false, err.Error()
		}
		return v.settled(parts, "admin-member")
	})

	all := pyListGroups(t, b, "")
	states := map[string]string{}
	for _, g := range all.Groups {
		states[g.ID] = g.State
	}
	if _, ok := states[active]; !ok {
		t.Errorf("list_groups does not list %s: %+v", active, all)
	}
	if _, ok := states[empty]; !ok {
		t.Errorf("list_groups does not list %s: %+v", empty, all)
	}

	one := pyListGroups(t, b, active)
	if len(one.Groups) != 1 {
		t.Fatalf("list_groups(group=%s): %+v", active, one)
	}
	g := one.Groups[0]
	if g.ID != active || g.Error != nil || g.State != "Stable" || g.ProtocolType != "consumer" || g.Protocol != "range" ||
		len(g.Members) != 1 || g.Members[0].ClientID != "admin-member" || g.Members[0].AssignmentLen == 0 {
		t.Errorf("list_groups(group=%s) = %+v; want Stable, consumer/range, one member admin-member with an assignment", active, g)
	}
	e := pyListGroups(t, b, empty)
	if len(e.Groups) != 1 || e.Groups[0].State != "Empty" || len(e.Groups[0].Members) != 0 || e.Groups[0].ProtocolType != "consumer" {
		t.Errorf("list_groups(group=%s) = %+v; want Empty, consumer, no members", empty, e)
	}

	del, err := adm.DeleteGroups(ctxT(t, 15*time.Second), active, empty)
	if err != nil {
		t.Fatalf("DeleteGroups: %v", err)
	}
	if r := del[active]; !errors.Is(r.Err, kerr.NonEmptyGroup) {
		t.Errorf("DeleteGroups(%s) with a live member: %v, want NON_EMPTY_GROUP", active, r.Err)
	}
	if r := del[empty]; r.Err != nil {
		t.Errorf("DeleteGroups(%s), an empty group: %v", empty, r.Err)
	}
	all = pyListGroups(t, b, "")
	names := map[string]bool{}
	for _, g := range all.Groups {
		names[g.ID] = true
	}
	if names[empty] || !names[active] {
		t.Errorf("after DeleteGroups: list_groups shows %v; want %s gone and %s present", names, empty, active)
	}
	off, err := adm.FetchOffsets(ctxT(t, 10*time.Second), empty)
	if err != nil {
		t.Fatalf("OffsetFetch of the deleted group: %v", err)
	}
	off.Each(func(o kadm.OffsetResponse) {
		if o.At >= 0 {
			t.Errorf("deleted group %s still has offset %+v", empty, o)
		}
	})
}
