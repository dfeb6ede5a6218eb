package replica

import (
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
)

// TP names a partition.
type TP struct {
	Topic     string
	Partition int32
}

// SettingsFunc computes a topic's append settings and log config from its
// overrides and the broker's configuration.
type SettingsFunc func(img *metadata.Image, t *metadata.Topic) (Settings, qlog.Config)

// Manager hosts the partitions of which this broker is a replica.
type Manager struct {
	nodeID   int32
	logs     *qlog.Manager
	settings SettingsFunc
	log      *slog.Logger

	mu    sync.RWMutex
	parts map[TP]*Partition // guarded by mu

	repl *replication // cluster mode (follower.go); nil: single node

	syncer *qlog.GroupSyncer // fsync rounds for flush.messages=1 topics (groupsync.go)

	hwc hwCheckpoints // replication-offset-checkpoint (hwcheckpoint.go)
}

// NewManager returns a manager over the logs in logs.
func NewManager(nodeID int32, logs *qlog.Manager, settings SettingsFunc, logger *slog.Logger) *Manager {
	return &Manager{nodeID: nodeID, logs: logs, settings: settings, log: logger, parts: map[TP]*Partition{},
		syncer: qlog.NewGroupSyncer(0)}
}

// Get returns the hosted partition, or nil.
func (m *Manager) Get(topic string, partition int32) *Partition {
	m.mu.RLock()
	p := m.parts[TP{topic, partition}]
	m.mu.RUnlock()
	return p
}

// All returns every hosted partition.
func (m *Manager) All() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return slices.Collect(maps.Values(m.parts))
}

// Apply brings hosted partitions in line with a new metadata image: opens
// new ones, deletes removed ones, updates settings and leader epochs. It is
// a controller subscription and so runs in metadata order.
func (m *Manager) Apply(prev, next *metadata.Image) {
	brokerChanged := prev == nil || !maps.Equal(prev.BrokerConfigs, next.BrokerConfigs)
	for name, t := range next.Topics {
		var old *metadata.Topic
		if prev != nil {
			old = prev.Topics[name]
		}
		if old == t && !brokerChanged {
			continue
		}
		m.removeUnassigned(t) // reassign.go
		settings, lcfg := m.settings(next, t)
		for _, pm := range t.Partitions {
			if !slices.Contains(pm.Replicas, m.nodeID) {
				continue
			}
			if err := m.ensure(t, pm, settings, lcfg); err != nil {
				m.log.Error("cannot open partition", "topic", name, "partition", pm.ID, "err", err)
			}
		}
	}
	if m.repl != nil {
		defer m.repl.syncFetchers()
	}
	if prev == nil {
		return
	}
	for name, t := range prev.Topics {
		if nt, ok := next.Topics[name]; ok && nt.ID == t.ID {
			continue
		}
		for _, pm := range t.Partitions {
			m.remove(TP{name, pm.ID})
		}
	}
}

func (m *Manager) ensure(t *metadata.Topic, pm metadata.Partition, s Settings, lcfg qlog.Config) error {
	tp := TP{t.Name, pm.ID}
	if lcfg.FlushMessages == 1 && pm.Leader == m.nodeID {
		// fsync before every ack, grouped by the syncer rather than
		// inline in each append (groupsync.go). A follower keeps the
		// inline fsync of AppendFollower: one writer, no acks to group.
		s.SyncBeforeAck = true
		lcfg.FlushMessages = 0
	}
	m.mu.RLock()
	p := m.parts[tp]
	m.mu.RUnlock()
	if p != nil && p.TopicID != t.ID {
		m.remove(tp)
		p = nil
	}
	if p == nil {
		l, err := m.logs.GetOrCreate(t.Name, pm.ID, t.ID, lcfg)
		if err != nil {
			return err
		}
		p = &Partition{
			Topic: t.Name, ID: pm.ID, TopicID: t.ID, log: l, dir: l.Dir(), syncer: m.syncer,
			waiters: map[*Waiter]struct{}{}, now: time.Now, snapshotAt: -1,
		}
		p.settings.Store(&s)
		p.mu.Lock()
		err = p.loadProducers()
		p.segments = l.NumSegments()
		p.hw.Store(m.initialHW(l, tp)) // hwcheckpoint.go
		p.durable.Store(l.LogEndOffset())
		p.mu.Unlock()
		if err != nil {
			return err
		}
		m.mu.Lock()
		m.parts[tp] = p
		m.mu.Unlock()
	} else {
		p.settings.Store(&s)
		p.log.UpdateConfig(lcfg)
	}
	if pm.Leader == m.nodeID && pm.LeaderEpoch > p.log.LatestEpoch() {
		if err := p.log.AssignEpoch(pm.LeaderEpoch, p.log.LogEndOffset()); err != nil {
			return err
		}
	}
	p.epoch.Store(pm.LeaderEpoch)
	m.applyReplication(p, pm)
	return nil
}

func (m *Manager) remove(tp TP) {
	m.mu.Lock()
	p := m.parts[tp]
	delete(m.parts, tp)
	m.mu.Unlock()
	if p == nil {
		return
	}
	p.wake()
	if err := m.logs.Delete(tp.Topic, tp.Partition); err != nil {
		m.log.Error("cannot delete partition", "topic", tp.Topic, "partition", tp.Partition, "err", err)
	}
}

// Checkpoint persists every log's recovery point and log start offset now
// (DeleteRecords must not come back after a crash).
func (m *Manager) Checkpoint() error { return m.logs.Checkpoint() }

// HighWatermark returns a hosted partition's high watermark, or -1.
func (m *Manager) HighWatermark(topic string, partition int32) int64 {
	if p := m.Get(topic, partition); p != nil {
		return p.HighWatermark()
	}
	return -1
}

// Close snapshots producer state; the caller closes the log manager after.
func (m *Manager) Close() {
	m.syncer.Close() // the server has stopped: no more waiters
	for _, p := range m.All() {
		p.mu.Lock()
		p.writeSnapshotLocked()
		p.mu.Unlock()
	}
}
