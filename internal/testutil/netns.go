package testutil

// Network cuts between cluster nodes (docs/cluster.md, "Fault tests").
//
// StartNetCluster builds a private network per test: a Linux bridge in the
// root namespace with address 10.213.X.254/24, and per node a network
// namespace joined to the bridge by a veth pair, with address 10.213.X.<id>
// on its side. Each node's `quill server` runs inside its namespace
// (`ip netns exec`, which execs quill in place: the PID the test holds is
// quill's), with its client and controller listeners on that address. The
// test process stays in the root namespace and reaches every node through
// the bridge, as clients on another host would.
//
// Two kinds of fault, with what Kafka does under each:
//
//   - Cut(id): the node loses its peers but keeps its clients. Blackhole
//     routes in the node's namespace (to every peer) and in every peer's
//     namespace (to the node) drop the traffic in both directions, on
//     connections already open (their segments vanish, as on a broken
//     link) and on new ones. This is the "zombie leader" of Kafka's
//     design: the node still believes it leads its partitions, so clients
//     that reach it can append, but with acks=all nothing it appends is
//     acknowledged, because the followers in its ISR stop fetching and the
//     ISR can only shrink through the controller, which it cannot reach.
//     The controller quorum fences it (no heartbeats) and elects new
//     leaders from the rest of the ISR. acks=1 (or acks=0) writes to it
//     are answered and then lost when it rejoins and truncates its log to
//     the new leader's: Kafka's documented cost of acks=1.
//   - Isolate(id): Cut plus the node's link down, so clients cannot reach
//     it either (a node that dropped off the network entirely).
//
// Heal(id) undoes either. Everything is removed in t.Cleanup, after the
// processes are killed, also when the test fails.
//
// Root and iproute2 are required: without them the test is skipped, or
// fails if QUILL_REQUIRE_NETNS=1 (scripts/test.sh sets it when it runs as
// root, so CI cannot skip these tests silently).

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// NetCluster is a Cluster whose nodes run in network namespaces that the
// test can cut off from each other.
type NetCluster struct {
	*Cluster
	subnet int    // X of 10.213.X.0/24
	bridge string // in the root namespace

	mu       sync.Mutex
	cut      map[int32]bool // guarded by mu: nodes cut off from their peers
	isolated map[int32]bool // guarded by mu: nodes with their link down
}

// RequireNetns skips the test (or fails it, with QUILL_REQUIRE_NETNS=1)
// unless network namespaces can be created: root and the `ip` command.
func RequireNetns(t testing.TB) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "network namespaces need root (run as root, or under a CI job that does)"
	} else if _, err := exec.LookPath("ip"); err != nil {
		reason = "the `ip` command (iproute2) is not installed: apt-get install iproute2"
	}
	if reason != "" {
		netnsUnavailable(t, reason)
	}
}

func netnsUnavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("QUILL_REQUIRE_NETNS") == "1" {
		t.Fatalf("network-cut test cannot run: %s (QUILL_REQUIRE_NETNS=1)", reason)
	}
	t.Skipf("network-cut test skipped: %s", reason)
}

// ipCmd runs `ip args...` and returns its combined output on failure.
func ipCmd(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (c *NetCluster) ns(id int32) string   { return fmt.Sprintf("qn%d-%d", c.subnet, id) }
func (c *NetCluster) veth(id int32) string { return fmt.Sprintf("qv%d-%d", c.subnet, id) }

// Host is node id's address.
func (c *NetCluster) Host(id int32) string { return fmt.Sprintf("10.213.%d.%d", c.subnet, id) }

// claimSubnet creates this test's bridge on a free 10.213.X.0/24: the
// bridge's name (qbrX) is the lock that keeps parallel tests, in this
// process or another, off each other's subnets.
func (c *NetCluster) claimSubnet(t testing.TB) {
	t.Helper()
	start := rand.IntN(250)
	var lastErr error
	for i := range 250 {
		x := 1 + (start+i)%250
		name := fmt.Sprintf("qbr%d", x)
		err := ipCmd("link", "add", name, "type", "bridge")
		if err == nil {
			c.subnet, c.bridge = x, name
			return
		}
		lastErr = err
		if !strings.Contains(err.Error(), "File exists") {
			netnsUnavailable(t, err.Error())
		}
	}
	t.Fatalf("no free 10.213.X.0/24 subnet: %v", lastErr)
}

// StartNetCluster starts n nodes (node.id 1..n, each broker and
// controller) in network namespaces on a private bridge, with the same
// short timeouts as StartCluster, and waits until every node is
// registered. opts apply to every node.
func StartNetCluster(t testing.TB, n int, opts ...Option) *NetCluster {
	t.Helper()
	RequireNetns(t)
	c := &NetCluster{cut: map[int32]bool{}, isolated: map[int32]bool{}}
	c.claimSubnet(t)
	// Registered before any broker: cleanups run last-in first-out, so the
	// processes are killed before their namespaces go.
	t.Cleanup(func() { c.teardown(t, n) })
	must := func(args ...string) {
		t.Helper()
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("addr", "add", fmt.Sprintf("10.213.%d.254/24", c.subnet), "dev", c.bridge)
	must("link", "set", c.bridge, "up")
	for id := int32(1); id <= int32(n); id++ {
		_ = ipCmd("netns", "del", c.ns(id)) // left over by a killed run holding the same subnet
		must("netns", "add", c.ns(id))
		must("link", "add", c.veth(id), "type", "veth", "peer", "name", "eth0", "netns", c.ns(id))
		must("link", "set", c.veth(id), "master", c.bridge, "up")
		must("-n", c.ns(id), "addr", "add", c.Host(id)+"/24", "dev", "eth0")
		must("-n", c.ns(id), "link", "set", "eth0", "up")
		must("-n", c.ns(id), "link", "set", "lo", "up") // admin listener on 127.0.0.1
	}

	// Every node has its own address, so every node uses the same ports.
	const port, ctrlPort = 9092, 9093
	var voters []string
	for id := 1; id <= n; id++ {
		voters = append(voters, fmt.Sprintf("%d@%s:%d", id, c.Host(int32(id)), ctrlPort))
	}
	c.Cluster = &Cluster{t: t}
	for id := int32(1); id <= int32(n); id++ {
		host := c.Host(id)
		// The same settings as StartCluster's.
		o := append([]Option{
			WithHost(host),
			WithPort(port),
			WithWrapper("ip", "netns", "exec", c.ns(id)),
			WithOverrides(map[string]string{
				"node.id":                                  fmt.Sprint(id),
				"process.roles":                            "broker,controller",
				"controller.quorum.voters":                 strings.Join(voters, ","),
				"controller.listener.names":                "CONTROLLER",
				"listeners":                                fmt.Sprintf("PLAINTEXT://%s:%d,CONTROLLER://%s:%d", host, port, host, ctrlPort),
				"advertised.listeners":                     fmt.Sprintf("PLAINTEXT://%s:%d", host, port),
				"broker.heartbeat.interval.ms":             "250",
				"broker.session.timeout.ms":                "2000",
				"replica.lag.time.max.ms":                  "3000",
				"offsets.topic.replication.factor":         fmt.Sprint(min(n, 3)),
				"transaction.state.log.replication.factor": fmt.Sprint(min(n, 3)),
				"offsets.topic.num.partitions":             "5",
				"transaction.state.log.num.partitions":     "5",
				"admin.listeners":                          "",
			}),
		}, opts...)
		c.Brokers = append(c.Brokers, StartBroker(t, o...))
	}
	c.WaitBrokers(n)
	return c
}

// teardown removes the namespaces, veth pairs and the bridge. Errors are
// reported but do not stop the rest of the teardown.
func (c *NetCluster) teardown(t testing.TB, n int) {
	for id := int32(1); id <= int32(n); id++ {
		// Deleting the root side of a veth pair deletes both ends.
		if err := ipCmd("link", "del", c.veth(id)); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			t.Errorf("netns teardown: %v", err)
		}
		if err := ipCmd("netns", "del", c.ns(id)); err != nil && !strings.Contains(err.Error(), "No such file") {
			t.Errorf("netns teardown: %v", err)
		}
	}
	if err := ipCmd("link", "del", c.bridge); err != nil {
		t.Errorf("netns teardown: %v", err)
	}
}

// blackhole adds (or with del, removes) a route in node from's namespace
// that drops everything sent to node to.
func (c *NetCluster) blackhole(from, to int32, del bool) error {
	op := "add"
	if del {
		op = "del"
	}
	err := ipCmd("-n", c.ns(from), "route", op, "blackhole", c.Host(to)+"/32")
	if err != nil && (del && strings.Contains(err.Error(), "No such process") || !del && strings.Contains(err.Error(), "File exists")) {
		return nil
	}
	return err
}

// Cut cuts node id off from every other node, in both directions, while
// clients in the root namespace still reach it (see the file comment).
func (c *NetCluster) Cut(id int32) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for other := int32(1); other <= int32(len(c.Brokers)); other++ {
		if other == id {
			continue
		}
		for _, e := range [2]error{c.blackhole(id, other, false), c.blackhole(other, id, false)} {
			if e != nil {
				c.t.Fatalf("cut node %d: %v", id, e)
			}
		}
	}
	c.cut[id] = true
}

// Isolate cuts node id off from its peers and from clients: its link goes
// down.
func (c *NetCluster) Isolate(id int32) {
	c.t.Helper()
	c.Cut(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := ipCmd("-n", c.ns(id), "link", "set", "eth0", "down"); err != nil {
		c.t.Fatalf("isolate node %d: %v", id, err)
	}
	c.isolated[id] = true
}

// Heal reconnects node id with its peers (and clients).
func (c *NetCluster) Heal(id int32) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isolated[id] {
		// Bringing the link up restores its subnet route too.
		if err := ipCmd("-n", c.ns(id), "link", "set", "eth0", "up"); err != nil {
			c.t.Fatalf("heal node %d: %v", id, err)
		}
		delete(c.isolated, id)
	}
	for other := int32(1); other <= int32(len(c.Brokers)); other++ {
		if other == id {
			continue
		}
		if c.cut[other] {
			continue // still cut off: keep the routes to it
		}
		for _, e := range [2]error{c.blackhole(id, other, true), c.blackhole(other, id, true)} {
			if e != nil {
				c.t.Fatalf("heal node %d: %v", id, e)
			}
		}
	}
	delete(c.cut, id)
}

// Connected returns the ids of the nodes that are running and not cut off,
// in order.
func (c *NetCluster) Connected() []int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int32
	for i, b := range c.Brokers {
		id := int32(i + 1)
		if b.Running() && !c.cut[id] {
			out = append(out, id)
		}
	}
	return out
}

// RequestOn sends req to node id itself (not to whichever broker a client
// would pick: a cut node and the majority disagree about the cluster).
func (c *NetCluster) RequestOn(ctx context.Context, id int32, req kmsg.Request) (kmsg.Response, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Node(id).Addr()), kgo.RequestRetries(0),
		kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return cl.SeedBrokers()[0].Request(ctx, req)
}

// DescribeOn returns a partition's metadata as node id sees it.
func (c *NetCluster) DescribeOn(id int32, topic string, partition int32) (Partition, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	kr, err := c.RequestOn(ctx, id, req)
	if err != nil {
		return Partition{}, err
	}
	resp := kr.(*kmsg.MetadataResponse)
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return Partition{}, fmt.Errorf("topic %s: error code %d", topic, t.ErrorCode)
		}
		for _, p := range t.Partitions {
			if p.Partition == partition {
				return Partition{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas,
					ISR: p.ISR, Offline: p.OfflineReplicas}, nil
			}
		}
	}
	return Partition{}, fmt.Errorf("node %d: no partition %s-%d", id, topic, partition)
}

// BrokersOn returns the (unfenced) broker ids node id's Metadata lists.
func (c *NetCluster) BrokersOn(id int32) ([]int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kr, err := c.RequestOn(ctx, id, kmsg.NewPtrMetadataRequest())
	if err != nil {
		return nil, err
	}
	var ids []int32
	for _, b := range kr.(*kmsg.MetadataResponse).Brokers {
		ids = append(ids, b.NodeID)
	}
	slices.Sort(ids)
	return ids, nil
}

// majority is the node whose view Describe returns: the first running
// node that is not cut off.
func (c *NetCluster) majority() int32 {
	if ids := c.Connected(); len(ids) > 0 {
		return ids[0]
	}
	return 1
}

// Describe returns a partition's metadata as the first connected node sees
// it (Cluster.Describe could ask a cut-off node, whose view is stale).
func (c *NetCluster) Describe(topic string, partition int32) (Partition, error) {
	return c.DescribeOn(c.majority(), topic, partition)
}

// WaitPartition waits until cond holds for the partition as every
// connected node sees it (a node just healed may still serve its stale
// view; a cut-off one is not asked). It returns the first node's view.
func (c *NetCluster) WaitPartition(topic string, partition int32, what string, cond func(Partition) bool) Partition {
	c.t.Helper()
	var first Partition
	WaitFor(c.t, 60*time.Second, what, func() (bool, string) {
		ids := c.Connected()
		if len(ids) == 0 {
			return false, "no connected node"
		}
		for i, id := range ids {
			p, err := c.DescribeOn(id, topic, partition)
			if err != nil {
				return false, fmt.Sprintf("node %d: %v", id, err)
			}
			if !cond(p) {
				return false, fmt.Sprintf("node %d: %+v", id, p)
			}
			if i == 0 {
				first = p
			}
		}
		return true, ""
	})
	return first
}

// WaitPartitionOn waits until cond holds for the partition as node id
// sees it.
func (c *NetCluster) WaitPartitionOn(id int32, topic string, partition int32, what string, cond func(Partition) bool) Partition {
	c.t.Helper()
	var last Partition
	WaitFor(c.t, 60*time.Second, what, func() (bool, string) {
		p, err := c.DescribeOn(id, topic, partition)
		if err != nil {
			return false, err.Error()
		}
		last = p
		return cond(p), fmt.Sprintf("node %d: %+v", id, p)
	})
	return last
}

// WaitBrokers waits until every connected node lists n unfenced brokers.
func (c *NetCluster) WaitBrokers(n int) {
	c.t.Helper()
	WaitFor(c.t, 60*time.Second, fmt.Sprintf("%d registered brokers", n), func() (bool, string) {
		for _, id := range c.Connected() {
			ids, err := c.BrokersOn(id)
			if err != nil {
				return false, fmt.Sprintf("node %d: %v", id, err)
			}
			if len(ids) != n {
				return false, fmt.Sprintf("node %d lists brokers %v", id, ids)
			}
		}
		return true, ""
	})
}

// ActiveControllerOn asks node id (DescribeQuorum) which node it takes
// for the active controller; -1 if it knows none.
func (c *NetCluster) ActiveControllerOn(id int32) (int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	kr, err := c.RequestOn(ctx, id, req)
	if err != nil {
		return -1, err
	}
	resp := kr.(*kmsg.DescribeQuorumResponse)
	if resp.ErrorCode != 0 {
		return -1, fmt.Errorf("DescribeQuorum error code %d", resp.ErrorCode)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, fmt.Errorf("DescribeQuorum: unexpected response shape")
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		return -1, fmt.Errorf("DescribeQuorum partition error code %d", p.ErrorCode)
	}
	return p.LeaderID, nil
}
