package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quillstream/quill/internal/config"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/interbroker"
	qlog "github.com/quillstream/quill/internal/log"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/replica"
	"github.com/quillstream/quill/internal/server"
	"github.com/quillstream/quill/internal/txn"
)

func serverCommand() *cobra.Command {
	var configPath string
	var overrides []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a broker (single node with no flags)",
		Long: `Run a Quill broker. With no flags it is a single node, broker and controller,
listening on 127.0.0.1:9092 with its data in ./quill-data.

Configuration uses Kafka's names: a server.properties file (--config) and
single keys (--override key=value, repeatable, applied after the file).
See docs/configuration.md.`,
		Example: `  quill server
  quill server --config server.properties
  quill server --override listeners=PLAINTEXT://0.0.0.0:9092 --override log.dirs=/var/lib/quill`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, warnings, err := config.Load(configPath, overrides)
			if err != nil {
				return err
			}
			logger := newLogger(cfg)
			for _, w := range warnings {
				logger.Warn(w.String())
			}
			return runServer(cfg, logger)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "Kafka-style server.properties file")
	cmd.Flags().StringArrayVar(&overrides, "override", nil, "set one config key (key=value); repeatable")
	return cmd
}

func newLogger(cfg *config.Broker) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(cfg.LogLevel) {
	case "debug", "trace":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// broker is a running node: the pieces in start order.
type broker struct {
	cfg      *config.Broker
	log      *slog.Logger
	ctrl     *controller.Controller
	logs     *qlog.Manager
	replicas *replica.Manager
	groups   *group.Coordinator
	txn      *txn.Coordinator // txn.go
	srv      *server.Server
	admin    adminServer
	cancel   context.CancelFunc
	stopping chan struct{} // closed when stop starts (cluster.go)
	// peerDialer connects to other brokers' inter-broker listener
	// (cluster mode; set by enableReplication, used by followers and
	// the transaction coordinator's markers and verifications).
	peerDialer *interbroker.Dialer
}

func runServer(cfg *config.Broker, logger *slog.Logger) error {
	if len(cfg.ControllerQuorumVoters) > 0 && !cfg.HasRole("broker") {
		return runController(cfg, logger) // cluster.go
	}
	b, err := startBroker(cfg, logger)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	logger.Info("shutting down", "signal", s.String())
	go func() {
		<-sig
		logger.Error("second signal: exiting without a clean shutdown")
		os.Exit(1)
	}()
	return b.stop()
}

func startBroker(cfg *config.Broker, logger *slog.Logger) (*broker, error) {
	if len(cfg.LogDirs) == 0 {
		return nil, errors.New("log.dirs is empty")
	}
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("listeners is empty")
	}
	b := &broker{cfg: cfg, log: logger, stopping: make(chan struct{})}
	adv := advertised(cfg)
	cluster, err := controllerCluster(cfg) // cluster.go
	if err != nil {
		return nil, err
	}
	metaDir := cfg.MetadataLogDir
	if metaDir == "" {
		metaDir = filepath.Join(cfg.LogDirs[0], "__cluster_metadata-0")
	}
	b.ctrl, err = controller.Open(controller.Config{
		Dir: metaDir, NodeID: cfg.NodeID, ClusterID: cfg.ClusterID, Logger: logger,
		Host: adv.Host, Port: int32(adv.Port), Rack: cfg.BrokerRack,
		Endpoints: endpoints(cfg), // interbroker.go
		Cluster:   cluster,
	})
	if err != nil {
		return nil, fmt.Errorf("open metadata log: %w", err)
	}
	b.logs, err = qlog.OpenManager(cfg.LogDirs, logger)
	if err != nil {
		b.ctrl.Close()
		return nil, fmt.Errorf("open log dirs: %w", err)
	}
	settings := &settingsSource{broker: cfg}
	b.replicas = replica.NewManager(cfg.NodeID, b.logs, settings.topicSettings, logger)
	if err := b.enableReplication(); err != nil {
		b.abort()
		return nil, err
	}
	b.ctrl.Subscribe(b.replicas.Apply)

	if err := b.ensureOffsetsTopic(); err != nil {
		b.abort()
		return nil, err
	}
	b.groups = group.New(groupConfig(cfg), &server.GroupStore{
		Replicas: b.replicas, CommitTimeout: time.Duration(cfg.OffsetsCommitTimeoutMs) * time.Millisecond,
	}, logger)
	b.groups.SetTopicMetadata(imageTopics{b.ctrl}) // enables KIP-848 consumer groups
	b.followCoordinatorLeadership()
	if t := b.ctrl.Image().Topics[server.OffsetsTopic]; t != nil {
		for _, p := range t.Partitions {
			if p.Leader == cfg.NodeID {
				if err := b.groups.Load(p.ID); err != nil && b.stillLeads(server.OffsetsTopic, p.ID, err) { // cluster.go
					b.abort()
					return nil, fmt.Errorf("load %s-%d: %w", server.OffsetsTopic, p.ID, err)
				}
			}
		}
	}

	var observer server.Observer
	b.admin, observer, err = newAdmin(b)
	if err != nil {
		b.abort()
		return nil, err
	}

	listeners, err := brokerListeners(cfg, b.ctrl, logger)
	if err != nil {
		b.abort()
		return nil, err
	}
	b.srv = server.New(server.Config{
		NodeID: cfg.NodeID, DataDir: cfg.LogDirs[0], Listeners: listeners,
		SocketRequestMaxBytes: cfg.SocketRequestMaxBytes,
		AutoCreateTopics:      cfg.AutoCreateTopicsEnable,
		NumPartitions:         cfg.NumPartitions,
		ReplicationFactor:     cfg.DefaultReplicationFactor,
		ConnectionsMaxIdle:    time.Duration(cfg.ConnectionsMaxIdleMs) * time.Millisecond,
		QuotaWindows:          int(cfg.QuotaWindowNum),
		QuotaWindowSize:       time.Duration(cfg.QuotaWindowSizeSeconds) * time.Second,
		Logger:                logger,
		Configs:               settings,
		Observer:              observer,
		Authorizer:            authorizer(cfg, b.ctrl, logger),
	}, b.ctrl, b.replicas, b.groups)
	if err := b.startTxn(); err != nil { // txn.go
		b.abort()
		return nil, err
	}
	b.followTxnLeadership() // cluster.go
	if err := b.srv.Start(); err != nil {
		b.abort()
		return nil, err
	}
	if err := b.admin.Start(); err != nil {
		b.srv.Shutdown(context.Background())
		b.abort()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.logs.RunBackground(ctx, time.Duration(cfg.LogRetentionCheckIntervalMs)*time.Millisecond, b.replicas.HighWatermark)
	b.checkpointHighWatermarks(ctx) // cluster.go
	b.removeStrayLogs(ctx)          // cluster.go
	if cfg.LogCleanerEnable && cfg.LogCleanerThreads > 0 {
		// The cleaner stays below the last stable offset: nothing of an
		// open transaction, nothing consumers cannot read yet.
		lso := func(topic string, partition int32) int64 {
			if p := b.replicas.Get(topic, partition); p != nil {
				return p.LastStableOffset()
			}
			return -1
		}
		b.logs.RunCleaner(ctx, qlog.CleanerConfig{
			Backoff:           time.Duration(cfg.LogCleanerBackoffMs) * time.Millisecond,
			DedupeBufferBytes: cfg.LogCleanerDedupeBufferSize,
			Threads:           int(cfg.LogCleanerThreads),
			AbortedFor: func(topic string, partition int32, from, to int64) []qlog.AbortedTxn {
				p := b.replicas.Get(topic, partition)
				if p == nil {
					return nil
				}
				var out []qlog.AbortedTxn
				for _, a := range p.AbortedTxns(from, to) {
					out = append(out, qlog.AbortedTxn{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset, LastOffset: a.LastOffset})
				}
				return out
			},
		}, lso)
	}

	var addrs []string
	for _, a := range b.srv.Addrs() {
		addrs = append(addrs, a.String())
	}
	logger.Info(fmt.Sprintf("quill started: node %d (%s) listening on %s, data in %s",
		cfg.NodeID, strings.Join(cfg.ProcessRoles, ", "), strings.Join(addrs, ","), strings.Join(cfg.LogDirs, ",")),
		"cluster", b.ctrl.Image().ClusterID)
	return b, nil
}

// advertised is the listener clients are told to connect to.
func advertised(cfg *config.Broker) config.Listener {
	l := cfg.Listeners[0]
	if len(cfg.AdvertisedListeners) > 0 {
		l = cfg.AdvertisedListeners[0]
	}
	if l.Host == "" || l.Host == "0.0.0.0" || l.Host == "::" {
		if h, err := os.Hostname(); err == nil {
			l.Host = h
		}
	}
	return l
}

func (b *broker) ensureOffsetsTopic() error {
	if b.ctrl.Image().Topics[server.OffsetsTopic] != nil {
		return nil
	}
	if b.ctrl.ClusterMode() {
		b.createInternalTopicLater(server.OffsetsTopic, b.cfg.OffsetsTopicReplicationFactor, b.createOffsetsTopic) // cluster.go
		return nil
	}
	return b.createOffsetsTopic()
}

func (b *broker) createOffsetsTopic() error {
	segment := fmt.Sprint(b.cfg.OffsetsTopicSegmentBytes)
	errs := b.ctrl.CreateTopics([]controller.TopicSpec{{
		Name: server.OffsetsTopic, Internal: true,
		Partitions: b.cfg.OffsetsTopicNumPartitions, ReplicationFactor: b.cfg.OffsetsTopicReplicationFactor,
		Configs: map[string]string{"cleanup.policy": "compact", "compression.type": "producer", "segment.bytes": segment},
	}}, controller.Defaults{}, false)
	if errs[0] != nil {
		return fmt.Errorf("create %s: %w", server.OffsetsTopic, errs[0])
	}
	return nil
}

func groupConfig(cfg *config.Broker) group.Config {
	g := group.DefaultConfig()
	g.NumPartitions = cfg.OffsetsTopicNumPartitions
	g.InitialRebalanceDelay = time.Duration(cfg.GroupInitialRebalanceDelayMs) * time.Millisecond
	g.MinSessionTimeout = time.Duration(cfg.GroupMinSessionTimeoutMs) * time.Millisecond
	g.MaxSessionTimeout = time.Duration(cfg.GroupMaxSessionTimeoutMs) * time.Millisecond
	g.MaxGroupSize = int(cfg.GroupMaxSize)
	g.OffsetsRetention = time.Duration(cfg.OffsetsRetentionMinutes) * time.Minute
	g.OffsetMetadataMaxBytes = int(cfg.OffsetMetadataMaxBytes)
	g.OffsetsRetentionCheckInterval = time.Duration(cfg.OffsetsRetentionCheckIntervalMs) * time.Millisecond
	g.ConsumerSessionTimeout = time.Duration(cfg.GroupConsumerSessionTimeoutMs) * time.Millisecond
	g.ConsumerHeartbeatInterval = time.Duration(cfg.GroupConsumerHeartbeatIntervalMs) * time.Millisecond
	g.ConsumerAssignors = cfg.GroupConsumerAssignors
	g.MigrationPolicy = cfg.GroupConsumerMigrationPolicy
	return g
}

// abort closes what started when startup fails.
func (b *broker) abort() {
	if b.replicas != nil {
		b.replicas.StopReplication()
	}
	if b.txn != nil {
		b.txn.Close()
	}
	if b.groups != nil {
		b.groups.Close()
	}
	if b.logs != nil {
		b.logs.Close()
	}
	b.ctrl.Close()
}

// stop shuts down cleanly: requests in flight are answered, then state is
// flushed and the clean-shutdown marker written last.
func (b *broker) stop() error {
	close(b.stopping)
	b.controlledShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.srv.Shutdown(ctx)
	b.replicas.StopReplication()
	b.admin.Stop(ctx)
	b.cancel()
	b.txn.Close()
	b.groups.Close()
	b.finalHighWatermarks() // cluster.go
	b.replicas.Close()
	err := b.logs.Close()
	if cerr := b.ctrl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		b.log.Error("shutdown incomplete", "err", err)
		return err
	}
	b.log.Info("shutdown complete")
	return nil
}

// imageTopics answers the group coordinator's topic lookups from the
// current metadata image.
type imageTopics struct{ ctrl *controller.Controller }

func (t imageTopics) TopicByName(name string) ([16]byte, int32, bool) {
	tp := t.ctrl.Image().Topics[name]
	if tp == nil {
		return [16]byte{}, 0, false
	}
	return tp.ID, int32(len(tp.Partitions)), true
}

func (t imageTopics) TopicByID(id [16]byte) (string, bool) {
	tp := t.ctrl.Image().TopicIDs[metadata.UUID(id)]
	if tp == nil {
		return "", false
	}
	return tp.Name, true
}
