package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quillstream/quill/internal/config"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/interbroker"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/replica"
	"github.com/quillstream/quill/internal/server"
)

// Cluster mode wiring (docs/cluster.md): controller.quorum.voters set makes
// this node a member of a Raft controller quorum and turns on replication.

// controllerCluster returns the controller's cluster settings; the zero
// value (no voters) keeps the single-node file log.
func controllerCluster(cfg *config.Broker) (controller.Cluster, error) {
	var cc controller.Cluster
	if len(cfg.ControllerQuorumVoters) == 0 {
		return cc, nil
	}
	isVoter := false
	for _, v := range cfg.ControllerQuorumVoters {
		cc.Voters = append(cc.Voters, controller.Voter{ID: v.ID, Host: v.Host, Port: v.Port})
		isVoter = isVoter || v.ID == cfg.NodeID
	}
	switch {
	case cfg.HasRole("controller") && !isVoter:
		return cc, fmt.Errorf("process.roles includes controller but node.id %d is not in controller.quorum.voters", cfg.NodeID)
	case !cfg.HasRole("controller") && isVoter:
		return cc, fmt.Errorf("node.id %d is in controller.quorum.voters but process.roles=%s has no controller role", cfg.NodeID, strings.Join(cfg.ProcessRoles, ","))
	case !cfg.HasRole("controller"):
		// A broker-only node follows the metadata log as an observer
		// (docs/decisions/0009-broker-only-observers.md): no CONTROLLER
		// listener of its own.
		cc.Broker = true
		cc.HeartbeatInterval = time.Duration(cfg.BrokerHeartbeatIntervalMs) * time.Millisecond
		cc.SessionTimeout = time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond
		return cc, nil
	}
	for _, l := range cfg.Listeners {
		if slices.ContainsFunc(cfg.ControllerListenerNames, func(n string) bool { return strings.EqualFold(n, l.Name) }) {
			cc.ListenAddr = net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
			break
		}
	}
	if cc.ListenAddr == "" {
		return cc, fmt.Errorf("controller.listener.names: none of %v is in listeners", cfg.ControllerListenerNames)
	}
	cc.Broker = cfg.HasRole("broker")
	cc.HeartbeatInterval = time.Duration(cfg.BrokerHeartbeatIntervalMs) * time.Millisecond
	cc.SessionTimeout = time.Duration(cfg.BrokerSessionTimeoutMs) * time.Millisecond
	cc.ElectionTimeout = time.Duration(cfg.ControllerQuorumElectionTimeoutMs) * time.Millisecond
	if cfg.AutoLeaderRebalanceEnable {
		cc.RebalanceInterval = time.Duration(cfg.LeaderImbalanceCheckIntervalSeconds) * time.Second
	}
	cc.Unclean = func(img *metadata.Image, t *metadata.Topic) bool {
		v, ok := t.Configs["unclean.leader.election.enable"]
		if !ok {
			v, ok = img.BrokerConfigs["unclean.leader.election.enable"]
		}
		if !ok {
			return cfg.UncleanLeaderElectionEnable
		}
		return strings.EqualFold(v, "true")
	}
	return cc, nil
}

// enableReplication starts follower fetchers and ISR management; they
// reach leaders on the inter-broker listener (interbroker.go).
func (b *broker) enableReplication() error {
	if !b.ctrl.ClusterMode() {
		return nil
	}
	sec, err := interBrokerSecurity(b.cfg)
	if err != nil {
		return err
	}
	b.bootstrapScramUser(sec)
	ctrl := b.ctrl
	dialer := &interbroker.Dialer{NodeID: b.cfg.NodeID, Image: ctrl.Image, Security: sec,
		CheckResponse: server.ValidatePeerResponse}
	b.peerDialer = dialer
	b.replicas.EnableReplication(replica.ReplicationConfig{
		LagTimeMax:       time.Duration(b.cfg.ReplicaLagTimeMaxMs) * time.Millisecond,
		FetchWaitMax:     time.Duration(b.cfg.ReplicaFetchWaitMaxMs) * time.Millisecond,
		FetchMaxBytes:    b.cfg.ReplicaFetchMaxBytes,
		FetchRespMaxByte: b.cfg.ReplicaFetchResponseMaxBytes,
		AlterPartition:   ctrl.AlterPartition,
		Dial: func(ctx context.Context, id int32) (replica.Conn, error) {
			c, err := dialer.Dial(ctx, id)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return c, nil
		},
	})
	return nil
}

// createInternalTopicLater creates an internal topic once the quorum is up
// and rf brokers have registered.
func (b *broker) createInternalTopicLater(name string, rf int16, create func() error) {
	go func() {
		for {
			select {
			case <-b.stopping:
				return
			case <-time.After(500 * time.Millisecond):
			}
			img := b.ctrl.Image()
			if img.Topics[name] != nil {
				return
			}
			live := 0
			for _, br := range img.Brokers {
				if !br.Fenced {
					live++
				}
			}
			if live < int(rf) {
				continue
			}
			if err := create(); err == nil {
				return
			}
		}
	}()
}

// followTxnLeadership loads and unloads __transaction_state partitions
// as this broker gains and loses their leadership.
func (b *broker) followTxnLeadership() {
	if !b.ctrl.ClusterMode() || b.txn == nil {
		return
	}
	self := b.cfg.NodeID
	b.ctrl.Subscribe(func(prev, next *metadata.Image) {
		if prev == nil {
			return
		}
		nt, pt := next.Topics[server.TxnStateTopic], prev.Topics[server.TxnStateTopic]
		if nt == nil || pt == nt {
			return
		}
		for _, p := range nt.Partitions {
			var old *metadata.Partition
			if pt != nil && int(p.ID) < len(pt.Partitions) {
				old = &pt.Partitions[p.ID]
			}
			switch {
			case p.Leader == self && (old == nil || old.Leader != self || old.LeaderEpoch != p.LeaderEpoch):
				id, epoch := p.ID, p.LeaderEpoch
				go func() {
					if err := b.txn.Load(id, epoch); err != nil {
						b.log.Error("cannot load transaction coordinator partition", "partition", id, "err", err)
					}
				}()
			case p.Leader != self && old != nil && old.Leader == self:
				b.txn.Unload(p.ID)
			}
		}
	})
}

// followCoordinatorLeadership loads and unloads __consumer_offsets
// partitions as this broker gains and loses their leadership.
func (b *broker) followCoordinatorLeadership() {
	if !b.ctrl.ClusterMode() {
		return
	}
	self := b.cfg.NodeID
	b.ctrl.Subscribe(func(prev, next *metadata.Image) {
		if prev == nil {
			return
		}
		nt := next.Topics[server.OffsetsTopic]
		if nt == nil {
			return
		}
		pt := prev.Topics[server.OffsetsTopic]
		if pt == nt {
			return
		}
		for _, p := range nt.Partitions {
			was := pt != nil && int(p.ID) < len(pt.Partitions) && pt.Partitions[p.ID].Leader == self &&
				pt.Partitions[p.ID].LeaderEpoch == p.LeaderEpoch
			now := p.Leader == self
			switch {
			case now && !was:
				id := p.ID
				go func() {
					if err := b.groups.Load(id); err != nil {
						b.log.Error("cannot load group coordinator partition", "partition", id, "err", err)
					}
				}()
			case !now && pt != nil && int(p.ID) < len(pt.Partitions) && pt.Partitions[p.ID].Leader == self:
				b.groups.Unload(p.ID)
			}
		}
	})
}

// controlledShutdown moves leadership away before the broker stops.
func (b *broker) controlledShutdown() {
	if !b.ctrl.ClusterMode() {
		return
	}
	b.log.Info("controlled shutdown: moving partition leadership away")
	if err := b.ctrl.ControlledShutdown(15 * time.Second); err != nil {
		b.log.Warn("controlled shutdown incomplete", "err", err)
	}
}

// runController runs a controller-only quorum member
// (process.roles=controller): the Raft log and the active controller's
// duties, no broker.
func runController(cfg *config.Broker, logger *slog.Logger) error {
	cc, err := controllerCluster(cfg)
	if err != nil {
		return err
	}
	metaDir := cfg.MetadataLogDir
	if metaDir == "" {
		metaDir = filepath.Join(cfg.LogDirs[0], "__cluster_metadata-0")
	}
	ctrl, err := controller.Open(controller.Config{Dir: metaDir, NodeID: cfg.NodeID, ClusterID: cfg.ClusterID,
		Logger: logger, Cluster: cc})
	if err != nil {
		return fmt.Errorf("open metadata log: %w", err)
	}
	logger.Info(fmt.Sprintf("quill started: node %d (controller) on %s, metadata in %s", cfg.NodeID, cc.ListenAddr, metaDir))
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	if err := ctrl.Close(); err != nil {
		return err
	}
	logger.Info("shutdown complete")
	return nil
}

// checkpointHighWatermarks writes replication-offset-checkpoint every
// replica.high.watermark.checkpoint.interval.ms (cluster mode: a single
// node's high watermark is its log end).
func (b *broker) checkpointHighWatermarks(ctx context.Context) {
	if !b.ctrl.ClusterMode() {
		return
	}
	b.replicas.RunHighWatermarkCheckpoints(ctx, time.Duration(b.cfg.ReplicaHighWatermarkCheckpointIntervalMs)*time.Millisecond)
}

// finalHighWatermarks writes the checkpoint once more at clean shutdown,
// after replication stopped.
func (b *broker) finalHighWatermarks() {
	if !b.ctrl.ClusterMode() {
		return
	}
	if err := b.replicas.CheckpointHighWatermarks(); err != nil {
		b.log.Warn("cannot write high watermark checkpoint", "err", err)
	}
}

// stillLeads says whether a coordinator partition whose load at startup
// failed with err is still led by this broker. In cluster mode the image
// read at startup may be stale (a restarted node replays its copy of the
// metadata log, then learns what changed): a partition whose leadership
// moved meanwhile is unloaded while loading, which is no reason to stop
// (followCoordinatorLeadership and followTxnLeadership load it again if
// leadership comes back).
func (b *broker) stillLeads(topic string, partition int32, err error) bool {
	if !b.ctrl.ClusterMode() {
		return true
	}
	t := b.ctrl.Image().Topics[topic]
	if t != nil && int(partition) < len(t.Partitions) && t.Partitions[partition].Leader == b.cfg.NodeID {
		return true
	}
	b.log.Info("coordinator partition not loaded: leadership moved during startup", "topic", topic, "partition", partition, "err", err)
	return false
}

// removeStrayLogs deletes, once this broker's metadata has caught up (its
// own registration of this run is in the image), the partition
// directories it no longer hosts: partitions reassigned away or topics
// deleted while it was down. Kafka does the same at startup.
func (b *broker) removeStrayLogs(ctx context.Context) {
	go func() {
		for ctx.Err() == nil {
			if err := b.ctrl.WaitReady(10 * time.Second); err == nil {
				break
			}
		}
		if ctx.Err() != nil {
			return
		}
		removed, refused := b.replicas.RemoveStray(b.ctrl.Image())
		if refused {
			b.log.Warn("the metadata knows none of the topics in log.dirs; not removing any partition directory (a lost or foreign metadata log?)")
		}
		for _, d := range removed {
			b.log.Info("removed stray partition directory", "dir", d)
		}
	}()
}
