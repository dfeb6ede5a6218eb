// Package server owns the Kafka protocol side of a broker: listeners,
// connections, request framing, and one handler per API key (files named
// after the key, NN_name.go, each opening with the versions it serves).
// Handlers decode with kmsg and act on the replica manager, the controller
// and the group coordinator.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/group"
	"github.com/quillstream/quill/internal/replica"
	"github.com/quillstream/quill/internal/txn"
)

// Listener is an address to bind, with its Kafka listener name.
type Listener struct {
	Name string
	Host string
	Port int
	// Security (auth_conn.go): Protocol is PLAINTEXT (""), SSL,
	// SASL_PLAINTEXT or SASL_SSL; TLS is set for SSL and SASL_SSL, SASL
	// for the SASL protocols. MaxReauth is connections.max.reauth.ms.
	Protocol  string
	TLS       *tls.Config
	SASL      *auth.Mechanisms
	MaxReauth time.Duration
	// PrincipalRules map client certificate DNs to user names
	// (ssl.principal.mapping.rules); nil: the DN as is.
	PrincipalRules *auth.PrincipalRules
	// AdvertisedHost and AdvertisedPort are what Metadata tells clients
	// of this listener; empty: the registered broker address.
	AdvertisedHost string
	AdvertisedPort int32
}

// Config is what the server needs from the broker configuration.
type Config struct {
	NodeID                int32
	DataDir               string
	Listeners             []Listener
	SocketRequestMaxBytes int32 // socket.request.max.bytes
	AutoCreateTopics      bool  // auto.create.topics.enable
	NumPartitions         int32 // num.partitions
	ReplicationFactor     int16 // default.replication.factor
	OffsetsPartitions     int32 // offsets.topic.num.partitions
	OffsetsReplication    int16 // offsets.topic.replication.factor
	ConnectionsMaxIdle    time.Duration
	// QuotaWindows and QuotaWindowSize are quota.window.num and
	// quota.window.size.seconds; zero: Kafka's 11 and 1 s.
	QuotaWindows    int
	QuotaWindowSize time.Duration
	Logger          *slog.Logger

	// Configs answers DescribeConfigs and validates config changes.
	Configs ConfigSource
	// Observer sees requests, appends and fetches (metrics); nil: none.
	Observer Observer
	// Authorizer checks ACLs (auth_acl.go); nil: everything is allowed.
	Authorizer *auth.Authorizer
}

// Server is a running broker's protocol front end.
type Server struct {
	cfg      Config
	log      *slog.Logger
	ctrl     *controller.Controller
	replicas *replica.Manager
	groups   *group.Coordinator
	sessions *fetchSessions
	pids     pidAllocator

	listeners []net.Listener
	wg        sync.WaitGroup  // connection and accept goroutines
	closing   chan struct{}   // closed when shutdown starts
	ctx       context.Context // cancelled when shutdown starts
	cancelCtx context.CancelFunc

	mu    sync.Mutex
	conns map[*conn]struct{} // guarded by mu

	// handlers is indexed by API key; nil entries are unsupported.
	handlers [maxKey]*handler
	inflight atomic.Int64
	authz    *auth.Authorizer // nil: no ACL checks
	quotas   quotaTracker     // client quota rates (auth_quotas.go)
	txn      *txn.Coordinator // nil: no transactions (SetTxnCoordinator, txn.go)
	peers    BrokerCaller     // nil: single node (SetPeers, txn_verify.go)
}

// New returns a server; Start binds its listeners.
func New(cfg Config, ctrl *controller.Controller, replicas *replica.Manager, groups *group.Coordinator) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	s := &Server{
		cfg: cfg, log: cfg.Logger, ctrl: ctrl, replicas: replicas, groups: groups,
		sessions: newFetchSessions(1000),
		closing:  make(chan struct{}),
		conns:    map[*conn]struct{}{},
	}
	s.pids.ctrl = ctrl
	s.ctx, s.cancelCtx = context.WithCancel(context.Background())
	s.authz = cfg.Authorizer
	s.quotas.windows, s.quotas.size = cfg.QuotaWindows, cfg.QuotaWindowSize
	if s.quotas.windows <= 0 {
		s.quotas.windows = defaultQuotaWindows
	}
	if s.quotas.size <= 0 {
		s.quotas.size = defaultQuotaWindowSize
	}
	s.registerHandlers()
	return s
}

// Start binds every listener and serves connections in the background.
func (s *Server) Start() error {
	for _, l := range s.cfg.Listeners {
		ln, err := net.Listen("tcp", net.JoinHostPort(l.Host, fmt.Sprint(l.Port)))
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s (%s): %w", net.JoinHostPort(l.Host, fmt.Sprint(l.Port)), l.Name, err)
		}
		if l.TLS != nil {
			ln = tls.NewListener(ln, l.TLS) // never sendfile: writes go through TLS
		}
		s.listeners = append(s.listeners, ln)
		s.wg.Add(1)
		go s.accept(ln, l)
	}
	return nil
}

// Addrs returns the bound listener addresses.
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

func (s *Server) accept(ln net.Listener, l Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "listener", l.Name, "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		c := newConn(s, nc, l.Name)
		c.initSecurity(&l)
		s.mu.Lock()
		select {
		case <-s.closing:
			s.mu.Unlock()
			nc.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.cfg.Observer.Connection(l.Name, 1)
			defer s.cfg.Observer.Connection(l.Name, -1)
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
}

// Shutdown stops accepting, lets requests being handled finish and answer
// (bounded by ctx), then closes every connection.
func (s *Server) Shutdown(ctx context.Context) {
	s.mu.Lock()
	select {
	case <-s.closing:
	default:
		close(s.closing)
		s.cancelCtx()
	}
	s.mu.Unlock()
	s.closeListeners()
	// Connections stop reading new requests once closing is closed; those
	// idle in a read are woken by a read deadline in the past.
	s.mu.Lock()
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
}
