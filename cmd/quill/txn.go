package main

import (
	"fmt"
	"time"

	"github.com/quillstream/quill/internal/config"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/server"
	"github.com/quillstream/quill/internal/txn"
)

// startTxn creates __transaction_state if needed and starts the
// transaction coordinator on the partitions this node leads. The server
// must exist (it allocates producer ids) and not serve yet.
func (b *broker) startTxn() error {
	if err := b.ensureTxnStateTopic(); err != nil {
		return err
	}
	local := &server.TxnMarkers{Replicas: b.replicas, Groups: b.groups, Ctrl: b.ctrl}
	var markers txn.MarkerWriter = local
	cluster := b.ctrl.ClusterMode()
	if cluster {
		// Markers go to partition leaders, verifications to other
		// coordinators, over the inter-broker client.
		peers := b.newPeers() // interbroker.go
		b.srv.SetPeers(peers)
		markers = &server.ClusterTxnMarkers{Local: local, Image: b.ctrl.Image, NodeID: b.cfg.NodeID, Peers: peers}
	}
	b.txn = txn.New(txnConfig(b.cfg), txn.Deps{
		Store:   &server.TxnStore{Replicas: b.replicas},
		PIDs:    b.srv,
		Markers: markers,
		Topics:  server.TxnTopics{Ctrl: b.ctrl},
		Logger:  b.log,
	})
	if t := b.ctrl.Image().Topics[server.TxnStateTopic]; t != nil {
		for _, p := range t.Partitions {
			if p.Leader != b.cfg.NodeID {
				continue
			}
			if cluster {
				// Completing transactions found in Prepare* sends
				// markers to other brokers: not before serving.
				id, epoch := p.ID, p.LeaderEpoch
				go func() {
					if err := b.txn.Load(id, epoch); err != nil {
						b.log.Error("cannot load transaction coordinator partition", "partition", id, "err", err)
					}
				}()
				continue
			}
			if err := b.txn.Load(p.ID, p.LeaderEpoch); err != nil && b.stillLeads(server.TxnStateTopic, p.ID, err) { // cluster.go
				return fmt.Errorf("load %s-%d: %w", server.TxnStateTopic, p.ID, err)
			}
		}
	}
	b.srv.SetTxnCoordinator(b.txn)
	b.txn.Run()
	go b.expireProducerIDs()
	return nil
}

// expireProducerIDs drops idle producer ids from the partitions' producer
// state every producer.id.expiration.check.interval.ms
// (producer.id.expiration.ms).
func (b *broker) expireProducerIDs() {
	maxIdle := time.Duration(b.cfg.ProducerIDExpirationMs) * time.Millisecond
	t := time.NewTicker(time.Duration(b.cfg.ProducerIDExpirationCheckIntervalMs) * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-b.stopping:
			return
		case <-t.C:
			if n := b.replicas.ExpireProducers(maxIdle); n > 0 {
				b.log.Info("expired idle producer ids", "count", n)
			}
		}
	}
}

func (b *broker) ensureTxnStateTopic() error {
	if b.ctrl.Image().Topics[server.TxnStateTopic] != nil {
		return nil
	}
	if b.ctrl.ClusterMode() {
		b.createInternalTopicLater(server.TxnStateTopic, b.cfg.TransactionStateLogReplicationFactor, b.createTxnStateTopic) // cluster.go
		return nil
	}
	return b.createTxnStateTopic()
}

func (b *broker) createTxnStateTopic() error {
	errs := b.ctrl.CreateTopics([]controller.TopicSpec{{
		Name: server.TxnStateTopic, Internal: true,
		Partitions: b.cfg.TransactionStateLogNumPartitions, ReplicationFactor: b.cfg.TransactionStateLogReplicationFactor,
		Configs: map[string]string{
			"cleanup.policy":      "compact",
			"compression.type":    "producer",
			"segment.bytes":       fmt.Sprint(b.cfg.TransactionStateLogSegmentBytes),
			"min.insync.replicas": fmt.Sprint(b.cfg.TransactionStateLogMinISR),
		},
	}}, controller.Defaults{}, false)
	if errs[0] != nil {
		return fmt.Errorf("create %s: %w", server.TxnStateTopic, errs[0])
	}
	return nil
}

func txnConfig(cfg *config.Broker) txn.Config {
	c := txn.DefaultConfig()
	c.NumPartitions = cfg.TransactionStateLogNumPartitions
	c.OffsetsPartitions = cfg.OffsetsTopicNumPartitions
	c.MaxTimeout = time.Duration(cfg.TransactionMaxTimeoutMs) * time.Millisecond
	c.AbortCheckInterval = time.Duration(cfg.TransactionAbortTimedOutTransactionCleanupIntervalMs) * time.Millisecond
	c.IDExpiration = time.Duration(cfg.TransactionalIDExpirationMs) * time.Millisecond
	c.IDExpirationCheckInterval = time.Duration(cfg.TransactionRemoveExpiredTransactionalIDCleanupInterval) * time.Millisecond
	return c
}
