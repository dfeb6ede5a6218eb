package controller

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startObserver opens a broker-only node (not a voter) following q.
func (q *quorum) startObserver(id int32, dir string) *Controller {
	q.t.Helper()
	cfg := Config{Dir: dir, NodeID: id, Host: "127.0.0.1", Port: 9100 + id,
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Cluster: Cluster{Voters: q.voters, Broker: true, HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: time.Second}}
	c, err := Open(cfg)
	if err != nil {
		q.t.Fatalf("open observer %d: %v", id, err)
	}
	if c.obs == nil {
		q.t.Fatal("a broker that is not a voter must open as an observer")
	}
	return c
}

func TestObserverFollowsProposesAndRestarts(t *testing.T) {
	q := newQuorum(t, 3, func(c *Config) { c.SnapshotEvery = 5 })
	l := q.leader()
	q.registered(l, 3)
	// Enough entries that the voters compacted: the observer starts from
	// a snapshot.
	for i := range 12 {
		if errs := q.nodes[l].CreateTopics([]TopicSpec{{Name: fmt.Sprint("t", i), Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	dir := filepath.Join(t.TempDir(), "obs")
	obs := q.startObserver(4, dir)
	defer func() {
		if obs != nil {
			obs.Close()
		}
	}()
	q.eventually("observer caught up", func() bool { return obs.Image().Topics["t11"] != nil })
	q.eventually("observer registered", func() bool {
		br := q.nodes[q.leader()].Image().Brokers[4]
		return br != nil && !br.Fenced
	})
	if obs.IsActive() {
		t.Fatal("an observer is never the active controller")
	}
	if got, want := obs.ActiveController(), int32(l+1); got != want {
		t.Fatalf("observer's active controller %d, want %d", got, want)
	}
	if qs := obs.Quorum(); qs.Leader != int32(l+1) || qs.Term == 0 || qs.Applied == 0 {
		t.Fatalf("observer's quorum status %+v", qs)
	}

	// A change made on the observer is forwarded and applied everywhere.
	if errs := obs.CreateTopics([]TopicSpec{{Name: "from-observer", Partitions: 2, ReplicationFactor: 3}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("from-observer")
	if obs.Image().Topics["from-observer"] == nil {
		t.Fatal("the proposer must have applied its change when it returns")
	}

	// The active controller dies: the observer follows the new one and
	// stays registered.
	q.stop(l)
	l2 := q.leader()
	q.eventually("observer knows the new controller", func() bool { return obs.ActiveController() == int32(l2+1) })
	if errs := obs.CreateTopics([]TopicSpec{{Name: "after-failover", Partitions: 1, ReplicationFactor: 2}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	q.allHave("after-failover")
	q.eventually("observer still unfenced", func() bool {
		br := q.nodes[l2].Image().Brokers[4]
		return br != nil && !br.Fenced && br.Epoch > 0
	})

	// The observer restarts from its local copy, then catches up.
	obs.Close()
	obs = nil
	if errs := q.nodes[l2].CreateTopics([]TopicSpec{{Name: "while-down", Partitions: 1, ReplicationFactor: 1}}, Defaults{}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	obs = q.startObserver(4, dir)
	if obs.Image().Topics["after-failover"] == nil || obs.Image().ClusterID == "" {
		t.Fatal("a restarted observer must start from its local copy of the metadata log")
	}
	q.eventually("restarted observer caught up", func() bool { return obs.Image().Topics["while-down"] != nil })
	want := q.nodes[l2].Image()
	q.eventually("observer image equals the voters'", func() bool {
		return obs.Image().Offset == q.nodes[l2].Image().Offset || obs.Image().Offset > want.Offset
	})
}
