package e2e

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

type endpoint struct {
	id   int32
	host string
	port int32
}

// KIP-951: Produce v10+ and Fetch v16+ answered with NOT_LEADER_OR_FOLLOWER
// or FENCED_LEADER_EPOCH name the current leader and its endpoint.
func TestClusterLeaderHints(t *testing.T) {
	c := testutil.StartCluster(t, 3)
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 1, 2, nil)
	p := c.WaitPartition(topic, 0, "a leader", func(p testutil.Partition) bool { return p.Leader > 0 && len(p.ISR) == 2 })
	// A failover bumps the leader epoch, so that an older one is fenced.
	first := p.Leader
	c.Node(first).Kill()
	c.WaitPartition(topic, 0, "a new leader", func(p testutil.Partition) bool { return p.Leader > 0 && p.Leader != first })
	c.Node(first).Start()
	c.WaitBrokers(3)
	testutil.WaitFor(t, 60*time.Second, "the partition described after the failover", func() (bool, string) {
		mp, err := partitionVia(t, c.Node(first).Addr(), topic)
		if err != nil {
			return false, err.Error()
		}
		p = testutil.Partition{Leader: mp.Leader, LeaderEpoch: mp.LeaderEpoch}
		return mp.Leader > 0 && mp.Leader != first && mp.LeaderEpoch > 0, fmt.Sprintf("%+v", mp)
	})
	leader := c.Node(p.Leader)
	host, portStr, _ := net.SplitHostPort(leader.Addr())
	port, _ := strconv.Atoi(portStr)
	var other *testutil.Broker // a node that is not the leader
	for id := int32(1); id <= 3; id++ {
		if id != p.Leader {
			other = c.Node(id)
			break
		}
	}
	// Every node must know the partition's leader before it is asked.
	var topicID [16]byte
	testutil.WaitFor(t, 30*time.Second, "every node knows the leader", func() (bool, string) {
		for _, b := range c.Brokers {
			mp, err := partitionVia(t, b.Addr(), topic)
			if err != nil || mp.Leader != p.Leader {
				return false, fmt.Sprintf("%s: %+v %v", b.Addr(), mp, err)
			}
		}
		return true, ""
	})
	{
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		r, err := nodeRequest(t, leader.Addr(), req)
		if err != nil {
			t.Fatal(err)
		}
		topicID = r.(*kmsg.MetadataResponse).Topics[0].TopicID
	}
	checkEndpoints := func(what string, nodes []endpoint) {
		t.Helper()
		if len(nodes) != 1 || nodes[0].id != p.Leader || nodes[0].host != host || int(nodes[0].port) != port {
			t.Fatalf("%s: node endpoints %+v, want only %d at %s:%d", what, nodes, p.Leader, host, port)
		}
	}

	// Produce v11 to a follower.
	r, err := nodeRequest(t, other.Addr(), produceRequest(11, -1, topic, 0, plainBatch("x")))
	if err != nil {
		t.Fatal(err)
	}
	pr := r.(*kmsg.ProduceResponse)
	pp := pr.Topics[0].Partitions[0]
	if pp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to a follower: error %d", pp.ErrorCode)
	}
	if pp.CurrentLeader.LeaderID != p.Leader || pp.CurrentLeader.LeaderEpoch != p.LeaderEpoch {
		t.Fatalf("produce: current leader %+v, want %d epoch %d", pp.CurrentLeader, p.Leader, p.LeaderEpoch)
	}
	var eps []endpoint
	for _, b := range pr.Brokers {
		eps = append(eps, endpoint{b.NodeID, b.Host, b.Port})
	}
	checkEndpoints("produce", eps)

	// Produce v9 has no such fields: the error alone.
	r, err = nodeRequest(t, other.Addr(), produceRequest(9, -1, topic, 0, plainBatch("x")))
	if err != nil {
		t.Fatal(err)
	}
	if pp := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0]; pp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce v9 to a follower: error %d", pp.ErrorCode)
	}

	fetch := func(addr string, epoch int32) *kmsg.FetchResponse {
		t.Helper()
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(16)
		req.ReplicaID = -1
		req.MaxWaitMillis = 0
		req.MaxBytes = 1 << 20
		req.SessionEpoch = -1
		rt := kmsg.NewFetchRequestTopic()
		rt.TopicID = topicID
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = 0
		rp.CurrentLeaderEpoch = epoch
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		r, err := nodeRequest(t, addr, req)
		if err != nil {
			t.Fatal(err)
		}
		return r.(*kmsg.FetchResponse)
	}
	fetchEndpoints := func(fr *kmsg.FetchResponse) (eps []endpoint) {
		for _, b := range fr.Brokers {
			eps = append(eps, endpoint{b.NodeID, b.Host, b.Port})
		}
		return eps
	}

	// Fetch v16 from a follower: NOT_LEADER_OR_FOLLOWER with the hint.
	fr := fetch(other.Addr(), -1)
	fp := fr.Topics[0].Partitions[0]
	if fp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("fetch from a follower: error %d", fp.ErrorCode)
	}
	if fp.CurrentLeader.LeaderID != p.Leader || fp.CurrentLeader.LeaderEpoch != p.LeaderEpoch {
		t.Fatalf("fetch: current leader %+v, want %d epoch %d", fp.CurrentLeader, p.Leader, p.LeaderEpoch)
	}
	checkEndpoints("fetch", fetchEndpoints(fr))

	// Fetch v16 from the leader with an old epoch: FENCED_LEADER_EPOCH.
	fr = fetch(leader.Addr(), p.LeaderEpoch-1)
	fp = fr.Topics[0].Partitions[0]
	if fp.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Fatalf("fetch with an old epoch: error %d", fp.ErrorCode)
	}
	if fp.CurrentLeader.LeaderID != p.Leader || fp.CurrentLeader.LeaderEpoch != p.LeaderEpoch {
		t.Fatalf("fenced fetch: current leader %+v", fp.CurrentLeader)
	}
	checkEndpoints("fenced fetch", fetchEndpoints(fr))

	// A successful fetch carries no hint.
	fr = fetch(leader.Addr(), p.LeaderEpoch)
	if fp := fr.Topics[0].Partitions[0]; fp.ErrorCode != 0 || fp.CurrentLeader.LeaderID != -1 || len(fr.Brokers) != 0 {
		t.Fatalf("fetch from the leader: error %d, leader %+v, %d endpoints", fp.ErrorCode, fp.CurrentLeader, len(fr.Brokers))
	}
}
