package e2e

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/testutil"
)

// Clusters with controller-only and broker-only nodes (docs/cluster.md,
// docs/decisions/0009-broker-only-observers.md): broker-only nodes follow
// the metadata log as observers.

// nodeRequest sends one request to the node at addr (not to whichever
// broker a client would pick).
func nodeRequest(t *testing.T, addr string, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	conn.Close()
	rc := testutil.DialRaw(t, addr)
	defer rc.Close()
	return rc.RequestErr(req, 5*time.Second)
}

// nodeSeesTopic says whether the node at addr lists topic with a leader
// for every partition.
func nodeSeesTopic(t *testing.T, addr, topic string) (bool, string) {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	r, err := nodeRequest(t, addr, req)
	if err != nil {
		return false, err.Error()
	}
	resp := r.(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) == 0 {
		return false, fmt.Sprintf("%s: %+v", addr, resp.Topics)
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.Leader < 0 {
			return false, fmt.Sprintf("%s: partition %d has no leader", addr, p.Partition)
		}
	}
	return true, ""
}

// quorumLeader asks the broker at addr (DescribeQuorum) for the active
// controller.
func quorumLeader(t *testing.T, addr string) (int32, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	r, err := nodeRequest(t, addr, req)
	if err != nil {
		return -1, err
	}
	resp := r.(*kmsg.DescribeQuorumResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("describe quorum: %+v", resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.LeaderID < 0 {
		return -1, fmt.Errorf("describe quorum: leader %d error %d", p.LeaderID, p.ErrorCode)
	}
	return p.LeaderID, nil
}

// waitQuorumLeader waits until the broker at addr names a running
// controller as the active one.
func waitQuorumLeader(t *testing.T, c *testutil.Cluster, addr string, not int32) int32 {
	t.Helper()
	var id int32
	testutil.WaitFor(t, 60*time.Second, "an active controller known to "+addr, func() (bool, string) {
		l, err := quorumLeader(t, addr)
		if err != nil {
			return false, err.Error()
		}
		if l == not || !c.IsController(l) || !c.Node(l).Running() {
			return false, fmt.Sprintf("leader %d", l)
		}
		id = l
		return true, ""
	})
	return id
}

// createTopicRetry creates a topic through the running brokers, retrying
// while the controller quorum fails over.
func createTopicRetry(t *testing.T, seeds []string, topic string, partitions int32, rf int16) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, "topic "+topic+" created", func() (bool, string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			return false, err.Error()
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, rf, nil, topic)
		if err != nil {
			return false, err.Error()
		}
		if e := resp[topic].Err; e != nil && !strings.Contains(e.Error(), "TOPIC_ALREADY_EXISTS") {
			return false, e.Error()
		}
		return true, ""
	})
}

func waitNodeSeesTopic(t *testing.T, addr, topic string) {
	t.Helper()
	testutil.WaitFor(t, 60*time.Second, addr+" sees topic "+topic, func() (bool, string) {
		return nodeSeesTopic(t, addr, topic)
	})
}

// 3 controller-only and 2 broker-only nodes: the brokers serve every
// client request, forward metadata changes to the quorum, survive the
// active controller's death and a restart of their own.
func TestClusterControllerOnlyAndBrokerOnlyNodes(t *testing.T) {
	c := testutil.StartClusterRoles(t, []string{"controller", "controller", "controller", "broker", "broker"})
	b4, b5 := c.Node(4), c.Node(5)
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 2, 2, nil)
	cl := c.Client(t) // acks=all
	produceSeq(t, cl, topic, 0, 300)
	got := consumeCluster(t, c.Addrs(), topic+"", 300)
	if len(got) != 300 {
		t.Fatalf("consumed %d records, want 300", len(got))
	}

	// kill -9 the active controller: the quorum elects another, and a new
	// topic created through a broker-only node reaches both.
	active := waitQuorumLeader(t, c, b4.Addr(), -1)
	c.Node(active).Kill()
	newLeader := waitQuorumLeader(t, c, b5.Addr(), active)
	t.Logf("active controller %d killed; %d took over", active, newLeader)
	topic2 := topic + "-after"
	createTopicRetry(t, c.Addrs(), topic2, 1, 2)
	waitNodeSeesTopic(t, b4.Addr(), topic2)
	waitNodeSeesTopic(t, b5.Addr(), topic2)
	produceSeq(t, c.Client(t), topic2, 0, 100)
	checkSeq(t, consumeCluster(t, c.Addrs(), topic2, 100), 100)

	// A broker-only node restarts from its copy of the metadata log and
	// catches up with what changed while it was down.
	b5.Kill()
	// Wait until the controller has fenced it (it leaves the ISR): a node
	// restarted sooner would only be seen as a new incarnation later.
	testutil.WaitFor(t, 60*time.Second, "node 5 out of the ISR", func() (bool, string) {
		p, err := partitionVia(t, b4.Addr(), topic2)
		if err != nil {
			return false, err.Error()
		}
		return len(p.ISR) == 1 && p.Leader == 4, fmt.Sprintf("%+v", p)
	})
	topic3 := topic + "-while-down"
	createTopicRetry(t, []string{b4.Addr()}, topic3, 1, 1)
	b5.Start()
	waitNodeSeesTopic(t, b5.Addr(), topic3)
	c.WaitBrokers(2)
	// It rejoins the ISR of the partitions it replicates (asked of node 4:
	// node 5 answers from its replayed copy until it has caught up).
	testutil.WaitFor(t, 60*time.Second, "both replicas in sync", func() (bool, string) {
		p, err := partitionVia(t, b4.Addr(), topic2)
		if err != nil {
			return false, err.Error()
		}
		return len(p.ISR) == 2, fmt.Sprintf("%+v", p)
	})
	checkSeq(t, consumeCluster(t, []string{b5.Addr()}, topic2, 100), 100)

	// SIGTERM: a broker-only node's controlled shutdown goes through the
	// quorum too; its leaderships move to the other broker.
	b4.Stop()
	if logs := b4.Logs(); strings.Contains(logs, "controlled shutdown incomplete") {
		t.Fatalf("controlled shutdown of a broker-only node did not finish:\n%s", logs)
	}
	c.WaitPartition(topic2, 0, "node 5 leads", func(p testutil.Partition) bool { return p.Leader == 5 })
	checkSeq(t, consumeCluster(t, []string{b5.Addr()}, topic2, 100), 100)
}

// 3 combined nodes and a broker-only one: replicas land on the
// broker-only node too, and it follows a controller failover.
func TestClusterCombinedPlusBrokerOnly(t *testing.T) {
	c := testutil.StartClusterRoles(t, []string{"broker,controller", "broker,controller", "broker,controller", "broker"})
	b4 := c.Node(4)
	topic := topicName(t)
	createClusterTopic(t, c.Admin(t), topic, 4, 3, nil)
	onB4 := false
	for p := int32(0); p < 4; p++ {
		d := c.WaitPartition(topic, p, "partition described", func(testutil.Partition) bool { return true })
		for _, r := range d.Replicas {
			onB4 = onB4 || r == 4
		}
	}
	if !onB4 {
		t.Fatal("no replica placed on the broker-only node")
	}
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	produceSeq(t, cl, topic, 0, 400)

	active := waitQuorumLeader(t, c, b4.Addr(), -1)
	c.Node(active).Kill()
	waitQuorumLeader(t, c, b4.Addr(), active)
	topic2 := topic + "-after"
	createTopicRetry(t, []string{b4.Addr()}, topic2, 1, 3)
	waitNodeSeesTopic(t, b4.Addr(), topic2)
	for id := int32(1); id <= 3; id++ {
		if c.Node(id).Running() {
			waitNodeSeesTopic(t, c.Node(id).Addr(), topic2)
		}
	}
	// Every acknowledged record is still there, read through the
	// broker-only node.
	n := 0
	cons, err := kgo.NewClient(kgo.SeedBrokers(b4.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.RetryTimeout(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	ctx := testutil.Context(t, 60*time.Second)
	for n < 400 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 400 records", n)
		}
		n += fs.NumRecords()
	}
	if n != 400 {
		t.Fatalf("consumed %d records, want 400", n)
	}
}
