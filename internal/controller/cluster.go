package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/quillstream/quill/internal/metadata"
)

// Cluster mode: broker registration, heartbeats and fencing, leader
// elections from the ISR, ISR changes from partition leaders
// (AlterPartition) and controlled shutdown. The active controller (the
// Raft leader, once it has applied every earlier entry) takes every
// decision; the others only forward heartbeats and proposals.

// Cluster configures cluster mode; the zero value is single-node mode.
type Cluster struct {
	Voters []Voter
	// Listener, if set, is the bound CONTROLLER listener; otherwise the
	// voter address of this node (or ListenAddr) is bound.
	Listener   net.Listener
	ListenAddr string
	// Broker: this node is also a broker and registers itself.
	Broker            bool
	HeartbeatInterval time.Duration // broker.heartbeat.interval.ms
	SessionTimeout    time.Duration // broker.session.timeout.ms
	// Unclean says whether a topic allows unclean leader election
	// (unclean.leader.election.enable); nil: never.
	Unclean       func(img *metadata.Image, t *metadata.Topic) bool
	SnapshotEvery int // entries between metadata snapshots; 0: 1000
	// ElectionTimeout is controller.quorum.election.timeout.ms; 0: 1 s.
	ElectionTimeout time.Duration
	// RebalanceInterval is leader.imbalance.check.interval.seconds when
	// auto.leader.rebalance.enable is true: the active controller moves
	// leadership back to preferred replicas that are live and in sync.
	// 0: never.
	RebalanceInterval time.Duration
}

// Heartbeat is a broker's registration and liveness signal, sent to the
// active controller every HeartbeatInterval.
type Heartbeat struct {
	Node        int32  `json:"node"`
	Incarnation string `json:"incarnation"`
	Host        string `json:"host"`
	Port        int32  `json:"port"`
	Rack        string `json:"rack,omitempty"`
	// Endpoints are every advertised listener (absent from older nodes).
	Endpoints []metadata.Endpoint `json:"endpoints,omitempty"`
	// Shutdown asks for a controlled shutdown: move leadership away and
	// fence the broker.
	Shutdown bool `json:"shutdown,omitempty"`
}

type clusterState struct {
	inc  string
	stop chan struct{}
	wg   sync.WaitGroup

	mu          sync.Mutex
	shutdown    bool                // this broker asked for a controlled shutdown
	seen        map[int32]time.Time // leader: last heartbeat per broker
	beats       map[int32]Heartbeat // leader: latest heartbeat per broker
	activeSince time.Time
}

// errConflict rejects a conditional change computed on an image that
// another change has since replaced; the caller recomputes and retries.
var errConflict = &Error{Kafka: kerr.NotController, Message: "controller: metadata changed concurrently; retry"}

// commitError keeps a commit's Kafka error, or makes one.
func commitError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return fail(kerr.UnknownServerError, "%v", err)
}

// commitAt commits records computed on the image at offset base: in
// cluster mode they apply only if no other change came first.
func (c *Controller) commitAt(base int64, recs []metadata.Record) error {
	if c.obs != nil && len(recs) > 0 {
		return c.obs.propose(recs, base)
	}
	if c.raft == nil || len(recs) == 0 {
		return c.commit(recs)
	}
	return c.raft.propose(recs, base)
}

// publish makes img current and tells the subscribers.
func (c *Controller) publish(img *metadata.Image) {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.publishLocked(img)
}

// REQUIRES: applyMu held.
func (c *Controller) publishLocked(next *metadata.Image) {
	prev := c.image.Load()
	c.image.Store(next)
	for _, fn := range c.subs {
		fn(prev, next)
	}
}

// applyRecords applies one committed Raft entry at index idx; every member
// reaches the same result.
func (c *Controller) applyRecords(idx int64, ent raftEntry) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	prev := c.image.Load()
	if ent.Base >= 0 && prev.Offset != ent.Base {
		return errConflict
	}
	b := metadata.NewBuilder(prev)
	for _, r := range ent.Records {
		if r.Cluster != nil && prev.ClusterID != "" {
			return fail(kerr.InvalidRequest, "cluster id is already %s", prev.ClusterID)
		}
		if r.Topic != nil {
			if _, ok := prev.Topics[r.Topic.Name]; ok {
				return fail(kerr.TopicAlreadyExists, "topic %q already exists", r.Topic.Name)
			}
		}
		if err := b.Apply(idx, r); err != nil {
			return fail(kerr.InvalidRequest, "controller: invalid change: %v", err)
		}
	}
	c.publishLocked(b.Image())
	return nil
}

// IsActive says whether this node is the active controller (cluster mode),
// or always true in single-node mode.
func (c *Controller) IsActive() bool {
	if c.obs != nil {
		return false
	}
	return c.raft == nil || c.raft.ready.Load()
}

// ActiveController returns the node id of the active controller, -1 if
// unknown. Single-node mode: this node.
func (c *Controller) ActiveController() int32 {
	if c.obs != nil {
		return c.obs.lead.Load()
	}
	if c.raft == nil {
		return c.cfg.NodeID
	}
	if l := c.raft.lead.Load(); l != 0 {
		return int32(l - 1)
	}
	return -1
}

// ClusterMode says whether a Raft quorum holds the metadata.
func (c *Controller) ClusterMode() bool { return c.raft != nil || c.obs != nil }

// Voters returns the configured quorum.
func (c *Controller) Voters() []Voter { return c.cfg.Voters }

// QuorumStatus describes the quorum as this node sees it.
type QuorumStatus struct {
	Leader       int32
	Term         uint64
	Applied      uint64
	LastIndex    uint64           // leader only
	VoterApplied map[int32]uint64 // leader only: match index per voter
}

// Quorum returns the quorum status (cluster mode).
func (c *Controller) Quorum() QuorumStatus {
	qs := QuorumStatus{Leader: c.ActiveController()}
	if c.obs != nil {
		qs.Applied = c.obs.applied.Load()
		qs.Term = c.obs.term.Load()
		return qs
	}
	if c.raft == nil {
		return qs
	}
	st := c.raft.node.Status()
	qs.Term = st.GetTerm()
	qs.Applied = c.raft.appliedIdx.Load()
	qs.LastIndex, _ = c.raft.store.LastIndex()
	if len(st.Progress) > 0 {
		qs.VoterApplied = map[int32]uint64{}
		for id, p := range st.Progress {
			qs.VoterApplied[int32(id-1)] = p.Match
		}
	}
	return qs
}

// WaitReady waits until a controller is active and this node has a cluster
// id and, if it is a broker, its own registration in the image.
func (c *Controller) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		img := c.image.Load()
		br := img.Brokers[c.cfg.NodeID]
		if c.ActiveController() >= 0 && img.ClusterID != "" && (!c.cfg.Broker || br != nil && c.clus != nil && br.Incarnation == c.clus.inc && !br.Fenced) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller: no quorum after %v (is a majority of controller.quorum.voters running?)", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Controller) startCluster() {
	cs := &clusterState{inc: metadata.NewUUID().String(), stop: make(chan struct{}),
		seen: map[int32]time.Time{}, beats: map[int32]Heartbeat{}}
	c.clus = cs
	if c.cfg.HeartbeatInterval <= 0 {
		c.cfg.HeartbeatInterval = 500 * time.Millisecond
	}
	if c.cfg.SessionTimeout <= 0 {
		c.cfg.SessionTimeout = 9 * time.Second
	}
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		c.runHeartbeats()
	}()
	if c.raft == nil {
		return // an observer takes no controller decisions
	}
	cs.wg.Add(1)
	go func() {
		defer cs.wg.Done()
		c.runActive()
	}()
}

func (c *Controller) stopCluster() {
	close(c.clus.stop)
	c.clus.wg.Wait()
}

func (c *Controller) heartbeat() Heartbeat {
	c.clus.mu.Lock()
	defer c.clus.mu.Unlock()
	return Heartbeat{Node: c.cfg.NodeID, Incarnation: c.clus.inc, Host: c.cfg.Host, Port: c.cfg.Port,
		Rack: c.cfg.Rack, Endpoints: c.cfg.Endpoints, Shutdown: c.clus.shutdown}
}

func (c *Controller) sendHeartbeat() {
	if !c.cfg.Broker {
		return
	}
	hb := c.heartbeat()
	lead := c.ActiveController()
	switch {
	case lead < 0:
	case c.obs != nil:
		c.obs.tr.sendHeartbeat(lead, hb)
	case lead == c.cfg.NodeID:
		c.handleHeartbeat(hb)
	default:
		c.raft.tr.sendHeartbeat(lead, hb)
	}
}

// runHeartbeats sends this broker's heartbeats to the active controller.
func (c *Controller) runHeartbeats() {
	t := time.NewTicker(c.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-c.clus.stop:
			return
		case <-t.C:
			c.sendHeartbeat()
		}
	}
}

// handleHeartbeat records a heartbeat on the active controller.
func (c *Controller) handleHeartbeat(hb Heartbeat) {
	cs := c.clus
	cs.mu.Lock()
	cs.seen[hb.Node] = time.Now()
	cs.beats[hb.Node] = hb
	cs.mu.Unlock()
}

// becameActive runs when this node's leadership is established.
func (c *Controller) becameActive() {
	cs := c.clus
	cs.mu.Lock()
	now := time.Now()
	cs.activeSince = now
	// Every broker gets a full session from now: heartbeats went to the
	// previous controller.
	for id := range c.image.Load().Brokers {
		cs.seen[id] = now
	}
	cs.mu.Unlock()
}

// runActive is the active controller's loop: cluster id, registrations,
// fencing and elections.
func (c *Controller) runActive() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	lastRebalance := time.Now()
	for {
		select {
		case <-c.clus.stop:
			return
		case <-t.C:
		}
		if !c.raft.ready.Load() || c.raft.lead.Load() != c.raft.id {
			continue
		}
		if c.image.Load().ClusterID == "" {
			id := c.cfg.ClusterID
			if id == "" {
				id = metadata.NewUUID().String()
			}
			if err := c.commitAt(c.image.Load().Offset, []metadata.Record{{Cluster: &metadata.ClusterRecord{ClusterID: id}}}); err == nil {
				c.log.Info("controller: new cluster", "cluster", id)
			}
			continue
		}
		c.reconcile()
		c.completeReassignments() // reassign.go
		if c.cfg.RebalanceInterval > 0 && time.Since(lastRebalance) >= c.cfg.RebalanceInterval {
			lastRebalance = time.Now()
			c.rebalance()
		}
	}
}

// rebalance runs preferred-leader elections where the preferred replica
// could lead (Kafka's auto.leader.rebalance.enable, without its imbalance
// ratio: every such partition moves).
func (c *Controller) rebalance() {
	img := c.image.Load()
	parts := TopicPartitions{}
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			pref := p.Replicas[0]
			if b := img.Brokers[pref]; p.Leader != pref && b != nil && !b.Fenced && slices.Contains(p.ISR, pref) {
				parts[t.Name] = append(parts[t.Name], p.ID)
			}
		}
	}
	if len(parts) > 0 {
		c.ElectLeaders(false, parts)
	}
}

// reconcile turns heartbeats (and their absence) into registrations,
// fencing and leader changes.
func (c *Controller) reconcile() {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	cs := c.clus
	now := time.Now()
	cs.mu.Lock()
	beats := make(map[int32]Heartbeat, len(cs.beats))
	for id, hb := range cs.beats {
		beats[id] = hb
	}
	seen := make(map[int32]time.Time, len(cs.seen))
	for id, t := range cs.seen {
		seen[id] = t
	}
	cs.mu.Unlock()

	var recs []metadata.Record
	reincarnated := map[int32]bool{}
	fenced := map[int32]bool{}
	for _, br := range img.Brokers {
		fenced[br.ID] = br.Fenced
	}
	ids := make([]int32, 0, len(beats))
	for id := range beats {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		hb := beats[id]
		if now.Sub(seen[id]) > c.cfg.SessionTimeout {
			continue
		}
		br := img.Brokers[id]
		switch {
		case br == nil || br.Incarnation != hb.Incarnation || br.Host != hb.Host || br.Port != hb.Port || br.Rack != hb.Rack ||
			!slices.Equal(br.Endpoints, hb.Endpoints):
			var epoch int64 = 1
			if br != nil {
				epoch = br.Epoch + 1
				reincarnated[id] = br.Incarnation != hb.Incarnation
			}
			recs = append(recs, metadata.Record{Broker: &metadata.BrokerRecord{ID: id, Host: hb.Host, Port: hb.Port,
				Rack: hb.Rack, Endpoints: hb.Endpoints, Epoch: epoch, Incarnation: hb.Incarnation, Fenced: hb.Shutdown}})
			fenced[id] = hb.Shutdown
			c.log.Info("controller: broker registered", "broker", id, "epoch", epoch, "host", hb.Host, "port", hb.Port)
		case br.Fenced != hb.Shutdown:
			b := *br
			b.Fenced = hb.Shutdown
			recs = append(recs, brokerRecord(&b))
			fenced[id] = b.Fenced
			if b.Fenced {
				c.log.Info("controller: controlled shutdown of broker", "broker", id)
			} else {
				c.log.Info("controller: broker unfenced", "broker", id)
			}
		}
	}
	for _, br := range img.SortedBrokers() {
		if br.Fenced || fenced[br.ID] {
			continue
		}
		last, ok := seen[br.ID]
		if !ok {
			last = cs.activeSince
		}
		if now.Sub(last) > c.cfg.SessionTimeout {
			b := *br
			b.Fenced = true
			recs = append(recs, brokerRecord(&b))
			fenced[br.ID] = true
			c.log.Warn("controller: broker fenced: no heartbeat", "broker", br.ID, "for", now.Sub(last).Round(time.Millisecond))
		}
	}
	recs = append(recs, c.electLocked(img, fenced, reincarnated)...)
	if len(recs) == 0 {
		return
	}
	if err := c.commitAt(img.Offset, recs); err != nil && !errors.Is(err, errConflict) && !errors.Is(err, errNotController) {
		c.log.Warn("controller: cluster change not committed", "err", err)
	}
}

func brokerRecord(b *metadata.Broker) metadata.Record {
	return metadata.Record{Broker: b.Record()}
}

// electLocked recomputes leaders and ISRs given which brokers are fenced
// (and which restarted, losing their place in the ISR): fenced brokers
// leave the ISR unless they are its last member (it keeps the replica that
// has every committed record, so a clean election stays possible), and a
// partition whose leader is fenced gets the first live ISR member in
// replica order, or, with unclean election, the first live replica, or
// none (-1: offline). Every leader change bumps the leader epoch; every
// change the partition epoch.
func (c *Controller) electLocked(img *metadata.Image, fenced, reincarnated map[int32]bool) []metadata.Record {
	live := func(id int32) bool {
		f, ok := fenced[id]
		return ok && !f
	}
	var recs []metadata.Record
	for _, t := range img.SortedTopics() {
		for _, p := range t.Partitions {
			isr := slices.DeleteFunc(slices.Clone(p.ISR), func(id int32) bool { return !live(id) || reincarnated[id] })
			if len(isr) == 0 {
				isr = slices.Clone(p.ISR)
			}
			leader := p.Leader
			if leader < 0 || !live(leader) || reincarnated[leader] || !slices.Contains(isr, leader) {
				leader = -1
				for _, r := range p.Replicas {
					if live(r) && slices.Contains(isr, r) {
						leader = r
						break
					}
				}
				if leader < 0 && c.cfg.Unclean != nil && c.cfg.Unclean(img, t) {
					for _, r := range p.Replicas {
						if live(r) {
							leader, isr = r, []int32{r}
							c.log.Warn("controller: unclean leader election", "topic", t.Name, "partition", p.ID, "leader", r)
							break
						}
					}
				}
			}
			bump := leader != p.Leader || (leader >= 0 && reincarnated[leader])
			if !bump && slices.Equal(isr, p.ISR) {
				continue
			}
			np := metadata.PartitionRecord{TopicID: t.ID, Partition: p.ID, Replicas: p.Replicas, ISR: isr,
				Leader: leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}
			if bump {
				np.LeaderEpoch++
				c.log.Info("controller: partition leader changed", "topic", t.Name, "partition", p.ID,
					"leader", leader, "previous", p.Leader, "leaderEpoch", np.LeaderEpoch, "isr", isr)
			}
			recs = append(recs, metadata.Record{Partition: &np})
		}
	}
	return recs
}

// AlterPartition changes a partition's ISR on behalf of its leader (Kafka's
// AlterPartition, key 56): the leader and its epochs must be current, and
// every member must be an unfenced replica.
func (c *Controller) AlterPartition(topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) error {
	for try := 0; try < 5; try++ {
		err := c.alterPartition(topic, partition, leader, leaderEpoch, partitionEpoch, isr)
		if !errors.Is(err, errConflict) {
			return err
		}
	}
	return errConflict
}

func (c *Controller) alterPartition(topic string, partition, leader, leaderEpoch, partitionEpoch int32, isr []int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.image.Load()
	t := img.Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return fail(kerr.UnknownTopicOrPartition, "unknown partition %s-%d", topic, partition)
	}
	p := t.Partitions[partition]
	switch {
	case p.Leader != leader || p.LeaderEpoch != leaderEpoch:
		return fail(kerr.FencedLeaderEpoch, "%s-%d: leader %d epoch %d is not current (leader %d epoch %d)", topic, partition, leader, leaderEpoch, p.Leader, p.LeaderEpoch)
	case p.PartitionEpoch != partitionEpoch:
		return fail(kerr.InvalidUpdateVersion, "%s-%d: partition epoch %d is not current (%d)", topic, partition, partitionEpoch, p.PartitionEpoch)
	case !slices.Contains(isr, leader):
		return fail(kerr.InvalidRequest, "%s-%d: the ISR must contain the leader", topic, partition)
	}
	for _, r := range isr {
		br := img.Brokers[r]
		if !slices.Contains(p.Replicas, r) || br == nil || (br.Fenced && !slices.Contains(p.ISR, r)) {
			return fail(kerr.IneligibleReplica, "%s-%d: broker %d cannot join the ISR", topic, partition, r)
		}
	}
	ordered := make([]int32, 0, len(isr))
	for _, r := range p.Replicas {
		if slices.Contains(isr, r) {
			ordered = append(ordered, r)
		}
	}
	if slices.Equal(ordered, p.ISR) {
		return nil
	}
	rec := metadata.PartitionRecord{TopicID: t.ID, Partition: partition, Replicas: p.Replicas, ISR: ordered,
		Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch + 1}
	if err := c.commitAt(img.Offset, []metadata.Record{{Partition: &rec}}); err != nil {
		return err
	}
	c.log.Info("controller: ISR changed", "topic", topic, "partition", partition, "isr", ordered, "previous", p.ISR)
	return nil
}

// ControlledShutdown asks the active controller to move leadership away
// from this broker and fence it, and waits until the image shows it leads
// nothing (or timeout passes). Single-node mode: nothing to do.
func (c *Controller) ControlledShutdown(timeout time.Duration) error {
	if !c.ClusterMode() || !c.cfg.Broker {
		return nil
	}
	c.clus.mu.Lock()
	c.clus.shutdown = true
	c.clus.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		c.sendHeartbeat()
		img := c.image.Load()
		br := img.Brokers[c.cfg.NodeID]
		if br != nil && br.Fenced && !leadsMovable(img, c.cfg.NodeID) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("controller: controlled shutdown not finished after %v", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.handOver()
	return nil
}

// handOver transfers the quorum leadership to an up-to-date voter when
// this node holds it and is about to stop, so the cluster does not wait an
// election timeout.
func (c *Controller) handOver() {
	if c.raft == nil || c.ActiveController() != c.cfg.NodeID {
		return
	}
	st := c.raft.node.Status()
	for id, p := range st.Progress {
		if id != c.raft.id && p.Match >= st.GetCommit() {
			c.raft.node.TransferLeadership(context.Background(), c.raft.id, id)
			break
		}
	}
	for i := 0; i < 20 && c.ActiveController() == c.cfg.NodeID; i++ {
		time.Sleep(50 * time.Millisecond)
	}
}

// leadsMovable says whether node leads a partition that has another ISR
// member to take over.
func leadsMovable(img *metadata.Image, node int32) bool {
	for _, t := range img.Topics {
		for _, p := range t.Partitions {
			if p.Leader == node && len(p.ISR) > 1 {
				return true
			}
		}
	}
	return false
}

// liveBrokers returns the unfenced brokers ordered by id: new replicas go
// only there.
func liveBrokers(img *metadata.Image) []*metadata.Broker {
	return slices.DeleteFunc(img.SortedBrokers(), func(b *metadata.Broker) bool { return b.Fenced })
}

// placementBrokers orders the live brokers for round-robin replica
// placement. With broker.rack set, racks alternate (Kafka's rack-aware
// assignment): r1-b1, r2-b2, r3-b3, r1-b4, ... so consecutive replicas of a
// partition land in different racks when there are enough racks.
func placementBrokers(img *metadata.Image) []*metadata.Broker {
	live := liveBrokers(img)
	byRack := map[string][]*metadata.Broker{}
	var racks []string
	for _, b := range live {
		if b.Rack == "" {
			return live // racks only count when every broker has one
		}
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	slices.Sort(racks)
	out := make([]*metadata.Broker, 0, len(live))
	for i := 0; len(out) < len(live); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}
