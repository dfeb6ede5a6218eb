package controller

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/quillstream/quill/internal/metadata"
)

// quorum is an in-process controller quorum on 127.0.0.1.
type quorum struct {
	t      *testing.T
	dirs   []string
	voters []Voter
	nodes  []*Controller
	opts   func(*Config)
}

func newQuorum(t *testing.T, n int, opts func(*Config)) *quorum {
	t.Helper()
	q := &quorum{t: t, opts: opts}
	base := t.TempDir()
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		q.voters = append(q.voters, Voter{ID: int32(i + 1), Host: "127.0.0.1", Port: port})
		q.dirs = append(q.dirs, filepath.Join(base, fmt.Sprint(i+1)))
	}
	q.nodes = make([]*Controller, n)
	for i := range n {
		q.start(i)
	}
	t.Cleanup(func() {
		for _, c := range q.nodes {
			if c != nil {
				c.Close()
			}
		}
	})
	return q
}

func (q *quorum) config(i int) Config {
	cfg := Config{Dir: q.dirs[i], NodeID: int32(i + 1), Host: "127.0.0.1", Port: int32(9000 + i),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Cluster: Cluster{Voters: q.voters, Broker: true, HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: time.Second}}
	if q.opts != nil {
		q.opts(&cfg)
	}
	return cfg
}

func (q *quorum) start(i int) {
	q.t.Helper()
	var err error
	for try := 0; try < 50; try++ { // the port may linger in TIME_WAIT
		if q.nodes[i], err = Open(q.config(i)); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	q.t.Fatalf("start node %d: %v", i+1, err)
}

func (q *quorum) stop(i int) {
	q.nodes[i].Close()
	q.nodes[i] = nil
}

// leader waits for an active controller and returns its index.
func (q *quorum) leader() int {
	q.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, c := range q.nodes {
			if c != nil && c.IsActive() && c.Image().ClusterID != "" {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	q.t.Fatal("no active controller")
	return -1
}

func (q *quorum) eventually(what string, f func() bool) {
	q.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			for i, c := range q.nodes {
				if c != nil {
					q.t.Logf("node %d: quorum %+v image offset %d topics %d", i+1, c.Quorum(), c.Image().Offset, len(c.Image().Topics))
				}
			}
			q.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (q *quorum) registered(l, n int) {
	q.t.Helper()
	q.eventually(fmt.Sprint(n, " brokers registered"), func() bool {
		return len(liveBrokers(q.nodes[l].Image())) == n
	})
}

func (q *quorum) allHave(topic string) {
	q.t.Helper()
	q.eventually("topic "+topic+" everywhere", func() bool {
		for _, c := range q.nodes {
			if c != nil && c.Image().Topics[topic] == nil {
				return false
			}
		}
		return true
	})
}

func TestQuorumElectsReplicatesAndFailsOver(t *testing.T) {
	q := newQuorum(t, 3, nil)
	l := q.leader()
	q.registered(l, 3)
	// A change proposed on a follower is forwarded to the leader.
	f := (l + 1) % 3
	q.registered(f, 3) // placement reads the follower's image, which may lag
	if errs := q.nodes[f].CreateTopics([]TopicSpec{{Name: "a", Partitions: 3, ReplicationFactor: 3}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("a")
	cluster := q.nodes[l].Image().ClusterID
	for _, c := range q.nodes {
		if c.Image().ClusterID != cluster {
			t.Fatalf("cluster ids differ")
		}
	}

	// Kill the active controller: another takes over, fences the dead
	// broker and moves its leaderships.
	dead := int32(l + 1)
	q.stop(l)
	l2 := q.leader()
	if l2 == l {
		t.Fatal("same leader")
	}
	if errs := q.nodes[l2].CreateTopics([]TopicSpec{{Name: "b", Partitions: 1, ReplicationFactor: 2}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("b")
	q.eventually("dead broker fenced and leaderships moved", func() bool {
		img := q.nodes[l2].Image()
		if !img.Brokers[dead].Fenced {
			return false
		}
		for _, p := range img.Topics["a"].Partitions {
			if p.Leader == dead || p.Leader < 0 || len(p.ISR) != 2 {
				return false
			}
		}
		return true
	})
	epochs := map[int32]int32{}
	for _, p := range q.nodes[l2].Image().Topics["a"].Partitions {
		epochs[p.ID] = p.LeaderEpoch
	}

	// The dead node restarts, replays its log and catches up.
	q.start(l)
	q.allHave("b")
	q.eventually("restarted broker unfenced", func() bool {
		br := q.nodes[q.leader()].Image().Brokers[dead]
		return br != nil && !br.Fenced
	})
	if got := q.nodes[l].Image().ClusterID; got != cluster {
		t.Fatalf("restarted node has cluster %q, want %q", got, cluster)
	}
}

func TestQuorumSnapshotAndRestart(t *testing.T) {
	q := newQuorum(t, 3, func(c *Config) { c.SnapshotEvery = 5 })
	l := q.leader()
	q.registered(l, 3)
	for i := range 20 {
		if errs := q.nodes[l].CreateTopics([]TopicSpec{{Name: fmt.Sprint("t", i), Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	q.allHave("t19")
	if _, err := os.Stat(filepath.Join(q.dirs[l], "raft.snap")); err != nil {
		t.Fatal("no snapshot written:", err)
	}
	// Restart every node: each rebuilds the image from snapshot + log.
	for i := range q.nodes {
		q.stop(i)
	}
	for i := range q.nodes {
		q.start(i)
	}
	q.allHave("t19")
	for _, c := range q.nodes {
		if n := len(c.Image().Topics); n != 20 {
			t.Fatalf("node %d has %d topics after restart", c.cfg.NodeID, n)
		}
	}
	// A node that lost its directory catches up from a snapshot.
	q.stop(2)
	os.RemoveAll(q.dirs[2])
	q.start(2)
	q.allHave("t19")
	l = q.leader()
	q.registered(l, 3)
	if errs := q.nodes[l].CreateTopics([]TopicSpec{{Name: "after", Partitions: 1, ReplicationFactor: 3}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("after")
}

func TestQuorumRefusesOtherCluster(t *testing.T) {
	q := newQuorum(t, 3, nil)
	q.leader()
	q.eventually("cluster id everywhere", func() bool {
		for _, c := range q.nodes {
			if c.Image().ClusterID == "" {
				return false
			}
		}
		return true
	})
	// Node 3's directory is replaced with one from another cluster.
	other := newQuorum(t, 3, nil)
	other.leader()
	other.eventually("other cluster id", func() bool { return other.nodes[2].Image().ClusterID != "" })
	otherID := other.nodes[2].Image().ClusterID
	for i := range other.nodes {
		other.stop(i)
	}
	q.stop(2)
	os.RemoveAll(q.dirs[2])
	if err := os.Rename(other.dirs[2], q.dirs[2]); err != nil {
		t.Fatal(err)
	}
	// Its quorum.json names other voters' ids (the same ids), so it opens,
	// but the cluster id differs: peers refuse it and it refuses them.
	q.start(2)
	time.Sleep(2 * time.Second)
	if got := q.nodes[2].Image().ClusterID; got != otherID {
		t.Fatalf("foreign node changed cluster to %s", got)
	}
	l := q.leader()
	if errs := q.nodes[l].CreateTopics([]TopicSpec{{Name: "x", Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	time.Sleep(500 * time.Millisecond)
	if q.nodes[2].Image().Topics["x"] != nil {
		t.Fatal("foreign node joined the cluster")
	}
}

// A quorum of one voter elects itself and survives a restart.
func TestQuorumOfOne(t *testing.T) {
	q := newQuorum(t, 1, nil)
	l := q.leader()
	q.registered(l, 1)
	if errs := q.nodes[0].CreateTopics([]TopicSpec{{Name: "solo", Partitions: 2, ReplicationFactor: 1}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	start, err := q.nodes[0].AllocateProducerIDs(10)
	if err != nil {
		t.Fatal(err)
	}
	q.stop(0)
	q.start(0)
	q.allHave("solo")
	if next, _ := q.nodes[0].AllocateProducerIDs(10); next != start+10 {
		t.Fatalf("producer ids after restart start at %d, want %d", next, start+10)
	}
}

func TestPlacementAlternatesRacks(t *testing.T) {
	img := metadata.Empty()
	for i, rack := range []string{"a", "a", "b", "b", "c", "c"} {
		img.Brokers[int32(i+1)] = &metadata.Broker{ID: int32(i + 1), Rack: rack}
	}
	var got []int32
	for _, b := range placementBrokers(img) {
		got = append(got, b.ID)
	}
	if want := []int32{1, 3, 5, 2, 4, 6}; !slices.Equal(got, want) {
		t.Fatalf("placement order %v, want %v", got, want)
	}
	img.Brokers[7] = &metadata.Broker{ID: 7}
	if len(placementBrokers(img)) != 7 || placementBrokers(img)[1].ID != 2 {
		t.Fatal("without a rack on every broker, plain id order")
	}
}

// KAFKA-FACTS 8: with unclean.leader.election.enable=false a partition
// whose only in-sync replica is fenced stays offline; enabling it elects a
// live out-of-sync replica.
func TestFencedLastISRMemberAndUncleanElection(t *testing.T) {
	q := newQuorum(t, 3, func(c *Config) {
		c.Unclean = func(img *metadata.Image, tp *metadata.Topic) bool {
			return tp.Configs["unclean.leader.election.enable"] == "true"
		}
	})
	l := q.leader()
	q.registered(l, 3)
	if errs := q.nodes[l].CreateTopics([]TopicSpec{{Name: "u", Partitions: -1, ReplicationFactor: -1,
		Assignments: map[int32][]int32{0: {2, 3}}}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("u")
	// The leader (2) shrinks the ISR to itself.
	p := q.nodes[1].Image().Topics["u"].Partitions[0]
	if err := q.nodes[1].AlterPartition("u", 0, 2, p.LeaderEpoch, p.PartitionEpoch, []int32{2}); err != nil {
		t.Fatal(err)
	}
	// A stale partition epoch is refused.
	if err := q.nodes[1].AlterPartition("u", 0, 2, p.LeaderEpoch, p.PartitionEpoch, []int32{2, 3}); err == nil {
		t.Fatal("AlterPartition with a stale partition epoch accepted")
	}
	q.stop(1) // broker 2 dies
	part := func() metadata.Partition {
		return q.nodes[q.leader()].Image().Topics["u"].Partitions[0]
	}
	q.eventually("broker 2 fenced", func() bool {
		br := q.nodes[q.leader()].Image().Brokers[2]
		return br != nil && br.Fenced
	})
	time.Sleep(300 * time.Millisecond)
	if got := part(); got.Leader != -1 || !slices.Equal(got.ISR, []int32{2}) {
		t.Fatalf("clean: partition %+v, want offline with ISR [2]", got)
	}
	v := "true"
	if err := q.nodes[q.leader()].AlterConfigs(metadata.ResourceTopic, "u", []ConfigChange{{Name: "unclean.leader.election.enable", Value: &v}}, false); err != nil {
		t.Fatal(err)
	}
	q.eventually("unclean election of 3", func() bool {
		got := part()
		return got.Leader == 3 && slices.Equal(got.ISR, []int32{3}) && got.LeaderEpoch > p.LeaderEpoch
	})
}

// A controller-only voter (process.roles=controller) takes part in the
// quorum but never registers as a broker; when it leads and closes, it
// hands the leadership over.
func TestControllerOnlyVoter(t *testing.T) {
	q := newQuorum(t, 3, func(c *Config) { c.Broker = c.NodeID != 3 })
	l := q.leader()
	q.registered(l, 2)
	if b := q.nodes[l].Image().Brokers[3]; b != nil {
		t.Fatalf("controller-only node registered as broker: %+v", b)
	}
	if errs := q.nodes[2].CreateTopics([]TopicSpec{{Name: "c", Partitions: 2, ReplicationFactor: 2}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("c")
	start := time.Now()
	q.stop(l)
	l2 := q.leader()
	if l2 == l {
		t.Fatal("same leader")
	}
	t.Logf("new active controller %d after %v", l2+1, time.Since(start))
}
