package testutil

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Cluster is N `quill server` processes on 127.0.0.1 forming one cluster:
// by default every node is broker and controller
// (process.roles=broker,controller); StartClusterRoles mixes in
// controller-only and broker-only nodes. Brokers have a PLAINTEXT listener
// for clients (another with WithClientListener), controllers a CONTROLLER
// listener for the Raft quorum. Timeouts are shortened so failures show
// within seconds.
type Cluster struct {
	t          testing.TB
	Brokers    []*Broker // Brokers[i] is node.id i+1 (controller-only nodes too)
	roles      []string  // roles[i]: process.roles of node i+1
	clientOpts []kgo.Opt // WithClientListener's client options
}

// StartCluster starts n combined nodes and waits until each answers
// ApiVersions and the cluster has a registered broker per node. opts apply
// to every node.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	roles := make([]string, n)
	for i := range roles {
		roles[i] = "broker,controller"
	}
	return StartClusterRoles(t, roles, opts...)
}

// StartClusterRoles starts one node per entry of roles, node i+1 with
// process.roles=roles[i] ("broker,controller", "controller" or
// "broker"); the nodes with the controller role are the voters. It waits
// until every broker is registered. A controller-only node has no client
// listener: its Addr is not served and it is ready once its CONTROLLER
// port accepts connections.
func StartClusterRoles(t testing.TB, roles []string, opts ...Option) *Cluster {
	t.Helper()
	n := len(roles)
	ports := make([]int, n)
	ctrl := make([]int, n)
	var voters []string
	brokers := 0
	for i := range n {
		ports[i], ctrl[i] = FreePort(t), FreePort(t)
		if strings.Contains(roles[i], "controller") {
			voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ctrl[i]))
		}
		if strings.Contains(roles[i], "broker") {
			brokers++
		}
	}
	c := &Cluster{t: t, roles: roles}
	var bc brokerConfig
	for _, o := range opts {
		o(&bc)
	}
	c.clientOpts = bc.clientOpts
	lname := bc.listenerName()
	for i := range n {
		isBroker, isController := strings.Contains(roles[i], "broker"), strings.Contains(roles[i], "controller")
		var listeners []string
		if isBroker {
			listeners = append(listeners, fmt.Sprintf("%s://127.0.0.1:%d", lname, ports[i]))
		}
		if isController {
			listeners = append(listeners, fmt.Sprintf("CONTROLLER://127.0.0.1:%d", ctrl[i]))
		}
		kv := map[string]string{
			"node.id":                                  fmt.Sprint(i + 1),
			"process.roles":                            roles[i],
			"controller.quorum.voters":                 strings.Join(voters, ","),
			"controller.listener.names":                "CONTROLLER",
			"listeners":                                strings.Join(listeners, ","),
			"broker.heartbeat.interval.ms":             "250",
			"broker.session.timeout.ms":                "2000",
			"replica.lag.time.max.ms":                  "3000",
			"offsets.topic.replication.factor":         fmt.Sprint(min(brokers, 3)),
			"transaction.state.log.replication.factor": fmt.Sprint(min(brokers, 3)),
			"offsets.topic.num.partitions":             "5",
			"transaction.state.log.num.partitions":     "5",
			"admin.listeners":                          "",
		}
		o := []Option{WithPort(ports[i])}
		if isBroker {
			kv["advertised.listeners"] = fmt.Sprintf("%s://127.0.0.1:%d", lname, ports[i])
		} else {
			addr := fmt.Sprintf("127.0.0.1:%d", ctrl[i])
			o = append(o, func(bc *brokerConfig) {
				bc.ready = func(*Broker) error {
					conn, err := net.DialTimeout("tcp", addr, time.Second)
					if err == nil {
						conn.Close()
					}
					return err
				}
			})
		}
		o = append(append(o, WithOverrides(kv)), opts...)
		c.Brokers = append(c.Brokers, StartBroker(t, o...))
	}
	c.WaitBrokers(brokers)
	return c
}

// IsBroker says whether node id has the broker role.
func (c *Cluster) IsBroker(id int32) bool {
	return c.roles == nil || strings.Contains(c.roles[id-1], "broker")
}

// IsController says whether node id is a controller quorum voter.
func (c *Cluster) IsController(id int32) bool {
	return c.roles == nil || strings.Contains(c.roles[id-1], "controller")
}

// Addrs returns every broker's client address.
func (c *Cluster) Addrs() []string {
	var out []string
	for i, b := range c.Brokers {
		if c.IsBroker(int32(i + 1)) {
			out = append(out, b.Addr())
		}
	}
	return out
}

// Node returns the broker with node.id id.
func (c *Cluster) Node(id int32) *Broker { return c.Brokers[id-1] }

// Client returns a franz-go client seeded with every node, closed in
// t.Cleanup.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{
		kgo.SeedBrokers(c.Addrs()...),
		kgo.ClientID("quill-e2e-cluster"),
		kgo.RetryTimeout(30 * time.Second),
	}, c.clientOpts...)
	all = append(all, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client over Client.
func (c *Cluster) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	return kadm.NewClient(c.Client(t, opts...))
}

// running returns the clients' seeds of the nodes still running.
func (c *Cluster) running() []string {
	var out []string
	for i, b := range c.Brokers {
		if b.Running() && c.IsBroker(int32(i+1)) {
			out = append(out, b.Addr())
		}
	}
	return out
}

// liveAdmin is a fresh admin client over the running nodes only (a client
// seeded with a dead node waits on it; a long-lived one serves cached
// metadata). Close it after use.
func (c *Cluster) liveAdmin() *kadm.Client {
	opts := append([]kgo.Opt{kgo.SeedBrokers(c.running()...), kgo.RetryTimeout(5 * time.Second)}, c.clientOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		c.t.Fatalf("kgo client: %v", err)
	}
	return kadm.NewClient(cl)
}

// WaitBrokers waits until Metadata lists n (unfenced) brokers.
func (c *Cluster) WaitBrokers(n int) {
	c.t.Helper()
	WaitFor(c.t, 60*time.Second, fmt.Sprintf("%d registered brokers", n), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		adm := c.liveAdmin()
		defer adm.Close()
		m, err := adm.BrokerMetadata(ctx)
		if err != nil {
			return false, err.Error()
		}
		return len(m.Brokers) == n, fmt.Sprintf("%d brokers", len(m.Brokers))
	})
}

// Partition describes a partition as the running nodes see it.
type Partition struct {
	Leader, LeaderEpoch int32
	Replicas, ISR       []int32
	Offline             []int32
}

// Describe returns a partition's metadata from a running node.
func (c *Cluster) Describe(topic string, partition int32) (Partition, error) {
	adm := c.liveAdmin()
	defer adm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := adm.Metadata(ctx, topic)
	if err != nil {
		return Partition{}, err
	}
	td, ok := m.Topics[topic]
	if !ok || td.Err != nil {
		return Partition{}, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	p, ok := td.Partitions[partition]
	if !ok {
		return Partition{}, fmt.Errorf("no partition %d", partition)
	}
	return Partition{Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR, Offline: p.OfflineReplicas}, nil
}

// WaitPartition waits until cond holds for the partition.
func (c *Cluster) WaitPartition(topic string, partition int32, what string, cond func(Partition) bool) Partition {
	c.t.Helper()
	var last Partition
	WaitFor(c.t, 60*time.Second, what, func() (bool, string) {
		p, err := c.Describe(topic, partition)
		if err != nil {
			return false, err.Error()
		}
		last = p
		return cond(p), fmt.Sprintf("%+v", p)
	})
	return last
}

// Pause stops a node with SIGSTOP (a hung process); Resume continues it.
func (c *Cluster) Pause(b *Broker) { b.signal(syscall.SIGSTOP) }

// Resume continues a paused node.
func (c *Cluster) Resume(b *Broker) { b.signal(syscall.SIGCONT) }

func (b *Broker) signal(sig syscall.Signal) {
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}
