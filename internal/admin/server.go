package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures the admin server.
type Config struct {
	// Listeners are http://host:port URLs (admin.listeners). Port 0 picks
	// a free port; see Server.Addrs.
	Listeners []string
	// Pprof serves /debug/pprof/.
	Pprof bool
	// State is the broker's view of the cluster.
	State State
	// Metrics receives the protocol server's events; nil: a fresh one.
	Metrics *Metrics
	// Ready reports whether the broker serves clients (for /readyz); nil
	// means ready once Start has run.
	Ready func() error
	// Kafka opens the client used for groups, configs and messages. It is
	// called by Start, after the broker's listeners are up. nil, or a
	// failing call, leaves those APIs answering 503.
	Kafka func() (Kafka, error)
	// GroupPollInterval is how often consumer-group lag is refreshed for
	// the metrics (default 5 s; negative: never).
	GroupPollInterval time.Duration
	// Version is the broker's version, shown in the console.
	Version string
	Logger  *slog.Logger
}

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	handler http.Handler
	srv     *http.Server

	mu        sync.Mutex
	listeners []net.Listener
	kafka     Kafka
	started   bool
	stop      chan struct{}
	wg        sync.WaitGroup
}

// New checks cfg and builds the server; nothing listens until Start.
func New(cfg Config) (*Server, error) {
	if cfg.State == nil {
		return nil, errors.New("admin: no State")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.GroupPollInterval == 0 {
		cfg.GroupPollInterval = 5 * time.Second
	}
	for _, l := range cfg.Listeners {
		if _, err := listenAddr(l); err != nil {
			return nil, err
		}
	}
	cfg.Metrics.SetState(cfg.State)
	cfg.Metrics.SetLogger(cfg.Logger)
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: cfg.Metrics, stop: make(chan struct{})}
	s.handler = s.routes()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// listenAddr turns http://host:port into host:port.
func listenAddr(l string) (string, error) {
	u, err := url.Parse(l)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("admin: listener %q is not http://host:port", l)
	}
	switch u.Scheme {
	case "http":
	case "https":
		return "", fmt.Errorf("admin: listener %q: https is not supported yet (no TLS settings for the admin listener); use http on a private address", l)
	default:
		return "", fmt.Errorf("admin: listener %q is not http://host:port", l)
	}
	return u.Host, nil
}

// Metrics returns the metrics the server exposes.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Handler serves everything the listeners serve (for tests).
func (s *Server) Handler() http.Handler { return s.handler }

// Start binds the listeners, opens the Kafka client and starts the group
// poller. The broker's Kafka listeners must be up.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.cfg.Listeners {
		addr, _ := listenAddr(l)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, o := range s.listeners {
				o.Close()
			}
			s.listeners = nil
			return fmt.Errorf("admin: listen on %s: %w", addr, err)
		}
		s.listeners = append(s.listeners, ln)
	}
	if s.cfg.Kafka != nil {
		k, err := s.cfg.Kafka()
		if err != nil {
			s.log.Warn("admin: no Kafka client; group, config and message APIs are unavailable", "err", err)
		}
		s.kafka = k
	}
	s.started = true
	for _, ln := range s.listeners {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("admin: serve", "addr", ln.Addr().String(), "err", err)
			}
		}()
		s.log.Info("admin listener up", "url", "http://"+ln.Addr().String(), "pprof", s.cfg.Pprof)
	}
	if s.kafka != nil && s.cfg.GroupPollInterval > 0 {
		s.wg.Add(1)
		go s.pollGroups(s.kafka)
	}
	return nil
}

// Addrs returns the bound addresses (after Start).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, 0, len(s.listeners))
	for _, ln := range s.listeners {
		out = append(out, ln.Addr())
	}
	return out
}

// Stop closes the listeners, waits for requests in flight (bounded by ctx)
// and stops the group poller.
func (s *Server) Stop(ctx context.Context) {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return
	}
	s.started = false
	close(s.stop)
	s.mu.Unlock()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	s.wg.Wait()
	if s.kafka != nil {
		s.kafka.Close()
	}
}

// pollGroups refreshes consumer-group lag for the metrics.
func (s *Server) pollGroups(k Kafka) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.GroupPollInterval)
	defer t.Stop()
	var lastErr string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), max(s.cfg.GroupPollInterval, 10*time.Second))
		go func() {
			select {
			case <-s.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		groups, err := k.Groups(ctx)
		cancel()
		s.metrics.setLag(groups, err)
		switch {
		case err != nil && err.Error() != lastErr:
			s.log.Warn("admin: consumer group poll failed; group metrics are stale", "err", err)
			lastErr = err.Error()
		case err == nil && lastErr != "":
			s.log.Info("admin: consumer group poll recovered")
			lastErr = ""
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *Server) getKafka() Kafka {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kafka
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /api/cluster", s.handleCluster)
	mux.HandleFunc("GET /api/throughput", s.handleThroughput)
	mux.HandleFunc("GET /api/topics", s.handleTopics)
	mux.HandleFunc("GET /api/topics/{topic}", s.handleTopic)
	mux.HandleFunc("GET /api/topics/{topic}/configs", s.handleTopicConfigs)
	mux.HandleFunc("GET /api/topics/{topic}/messages", s.handleMessages)
	mux.HandleFunc("GET /api/groups", s.handleGroups)
	mux.HandleFunc("GET /api/groups/{group}", s.handleGroup)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API: "+r.URL.Path)
	})
	if s.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.Handle("/", consoleHandler())
	return securityHeaders(mux)
}

// securityHeaders keeps the console's pages from being framed, sniffed or
// running anything not served from here.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/debug/") {
			hd.Set("Content-Security-Policy",
				"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
			hd.Set("X-Frame-Options", "DENY")
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	err := error(nil)
	switch {
	case !started:
		err = errors.New("admin server not started")
	case s.cfg.Ready != nil:
		err = s.cfg.Ready()
	}
	if err == nil && s.cfg.State.Cluster().ClusterID == "" {
		err = errors.New("cluster metadata not loaded")
	}
	if err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready:", err)
		return
	}
	fmt.Fprintln(w, "ok")
}
