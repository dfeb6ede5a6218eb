package main

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/quillstream/quill/internal/admin"
	"github.com/quillstream/quill/internal/config"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/server"
)

// adminServer is the admin HTTP listener (metrics, health, console).
type adminServer interface {
	Start() error
	Stop(ctx context.Context)
}

type nopAdmin struct{}

func (nopAdmin) Start() error             { return nil }
func (nopAdmin) Stop(ctx context.Context) {}

// newAdmin builds the admin listener and the observer that feeds its
// metrics. It runs before the protocol server is created, so everything
// that needs b.srv reads it lazily.
func newAdmin(b *broker) (adminServer, server.Observer, error) {
	if len(b.cfg.AdminListeners) == 0 {
		return nopAdmin{}, nil, nil
	}
	st := &adminState{b: b}
	metrics := admin.NewMetrics()
	// Subscribe calls back at once with the current image, then after
	// every change, in log order, under the controller's lock.
	b.ctrl.Subscribe(func(prev, next *metadata.Image) {
		c := st.convert(next)
		old := st.cluster.Swap(c)
		metrics.ObserveMetadata(old, c)
	})
	pprofOn := b.cfg.AdminPprofEnable
	srv, err := admin.New(admin.Config{
		Listeners: b.cfg.AdminListeners,
		Pprof:     pprofOn,
		State:     st,
		Metrics:   metrics,
		Ready:     b.kafkaReady,
		Kafka: func() (admin.Kafka, error) {
			addr, err := b.kafkaAddr()
			if err != nil {
				return nil, err
			}
			return admin.NewKafka(addr)
		},
		Version: version,
		Logger:  b.log,
	})
	if err != nil {
		return nil, nil, err
	}
	return &defaultableAdmin{Server: srv, b: b}, metrics, nil
}

// defaultableAdmin lets the broker start when the default admin address is
// taken (a second broker on one machine, tests): the admin listener is
// optional unless admin.listeners was configured explicitly.
type defaultableAdmin struct {
	*admin.Server
	b *broker
}

func (a *defaultableAdmin) Start() error {
	err := a.Server.Start()
	if err != nil && !a.b.cfg.IsSet("admin.listeners") {
		a.b.log.Warn("admin listener not started: the default address is unavailable; set admin.listeners to choose another (empty disables it)",
			"admin.listeners", strings.Join(a.b.cfg.AdminListeners, ","), "err", err)
		return nil
	}
	return err
}

// adminState adapts the broker to admin.State.
type adminState struct {
	b       *broker
	cluster atomic.Pointer[admin.Cluster]
}

func (s *adminState) Cluster() *admin.Cluster { return s.cluster.Load() }

func (s *adminState) Logs() []admin.LogState {
	all := s.b.replicas.All()
	out := make([]admin.LogState, 0, len(all))
	for _, p := range all {
		l := p.Log()
		out = append(out, admin.LogState{Topic: p.Topic, Partition: p.ID, HighWatermark: p.HighWatermark(),
			LogStartOffset: l.LogStartOffset(), LogEndOffset: l.LogEndOffset(), Size: l.Size()})
	}
	return out
}

func (s *adminState) convert(img *metadata.Image) *admin.Cluster {
	cfg := s.b.cfg
	c := &admin.Cluster{ClusterID: img.ClusterID, NodeID: cfg.NodeID, ControllerID: -1}
	// Single-voter controller: a node with the controller role is the
	// active controller. The Raft quorum will report its leader instead.
	if cfg.HasRole("controller") || len(cfg.ProcessRoles) == 0 {
		c.ControllerID = cfg.NodeID
	}
	for _, br := range img.SortedBrokers() {
		c.Brokers = append(c.Brokers, admin.Broker{ID: br.ID, Host: br.Host, Port: br.Port, Rack: br.Rack})
	}
	for _, t := range img.SortedTopics() {
		at := admin.Topic{Name: t.Name, ID: t.ID.String(), Internal: t.Internal, Partitions: make([]admin.Partition, len(t.Partitions))}
		for i, p := range t.Partitions {
			// Images are immutable, so the slices can be shared.
			at.Partitions[i] = admin.Partition{ID: p.ID, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR}
		}
		c.Topics = append(c.Topics, at)
	}
	return c
}

// kafkaAddr is the address of the broker's first PLAINTEXT listener, which
// the admin server's own Kafka client uses. A wildcard host is reached on
// loopback.
func (b *broker) kafkaAddr() (string, error) {
	if b.srv == nil {
		return "", errors.New("protocol server not started")
	}
	addrs := b.srv.Addrs()
	var names []config.Listener
	for _, l := range b.cfg.Listeners {
		if !slices.ContainsFunc(b.cfg.ControllerListenerNames, func(n string) bool { return strings.EqualFold(n, l.Name) }) {
			names = append(names, l)
		}
	}
	for i, a := range addrs {
		if i >= len(names) || !strings.EqualFold(names[i].SecurityProtocol, "PLAINTEXT") {
			continue
		}
		tcp, ok := a.(*net.TCPAddr)
		if !ok {
			return a.String(), nil
		}
		host := tcp.IP.String()
		if tcp.IP.IsUnspecified() {
			host = "127.0.0.1"
			if tcp.IP.To4() == nil {
				host = "::1"
			}
		}
		return net.JoinHostPort(host, strconv.Itoa(tcp.Port)), nil
	}
	return "", errors.New("no PLAINTEXT listener: the console cannot read groups, configs or messages")
}

// kafkaReady is /readyz: a Kafka listener accepts connections.
func (b *broker) kafkaReady() error {
	if b.srv == nil {
		return errors.New("protocol server not started")
	}
	addrs := b.srv.Addrs()
	if len(addrs) == 0 {
		return errors.New("no Kafka listener bound")
	}
	addr := addrs[0].String()
	if tcp, ok := addrs[0].(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	c.Close()
	return nil
}
