// Package testutil runs real quill processes for end-to-end tests.
//
// StartBroker builds the quill binary once per test process (or uses
// $QUILL_BIN), starts `quill server` on a free 127.0.0.1 port with its data in
// a test temp dir, and waits until the broker answers ApiVersions. Every
// process it starts is killed by PID in t.Cleanup; a failing test prints the
// broker's captured stdout/stderr.
package testutil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const modulePath = "github.com/quillstream/quill"

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

// Binary returns the path of the quill binary: $QUILL_BIN if set, otherwise
// one `go build ./cmd/quill` per test process into a temp dir (removed by
// Cleanup, which Main calls).
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if p := os.Getenv("QUILL_BIN"); p != "" {
			buildBin, buildErr = filepath.Abs(p)
			if buildErr == nil {
				_, buildErr = os.Stat(buildBin)
			}
			return
		}
		root, err := RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "quill-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(buildDir, "quill")
		cmd := exec.Command("go", "build", "-buildvcs=false", "-o", out, "./cmd/quill")
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/quill: %v\n%s", err, buf.String())
			return
		}
		buildBin = out
	})
	if buildErr != nil {
		t.Fatalf("quill binary: %v", buildErr)
	}
	return buildBin
}

// Main is for TestMain: it runs the tests and removes the built binary.
func Main(m interface{ Run() int }) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// RepoRoot finds the module root by walking up from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the root of module " + modulePath)
		}
		dir = parent
	}
}

// Option configures StartBroker.
type Option func(*brokerConfig)

type brokerConfig struct {
	dir          string
	port         int
	overrides    [][2]string
	defaultAdmin bool // keep admin.listeners at its default (127.0.0.1:9644)
	configFile   string
	startTimeout time.Duration
	env          []string
	// The client listener (WithClientListener): its name, the TLS of its
	// readiness ping, and the options of the franz-go clients made here.
	listener   string
	clientTLS  *tls.Config
	clientOpts []kgo.Opt
	host       string   // listener host; 127.0.0.1 when empty
	wrap       []string // command the binary runs under (ip netns exec NS)
	// ready reports whether the started process is up; nil: it answers
	// ApiVersions on its client port.
	ready func(b *Broker) error
}

// WithClientListener names the broker's client listener (its listener on
// the test port; PLAINTEXT by default) and says how clients reach it:
// tc is the TLS configuration of SSL and SASL_SSL listeners (nil for
// plaintext), used by the readiness ping, and opts are added to every
// client Client, Admin and the Cluster helpers make (e.g.
// kgo.DialTLSConfig and kgo.SASL). With StartCluster it names the
// listener of every node and makes it the advertised one.
func WithClientListener(name string, tc *tls.Config, opts ...kgo.Opt) Option {
	return func(c *brokerConfig) {
		c.listener, c.clientTLS, c.clientOpts = name, tc, opts
	}
}

func (c *brokerConfig) listenerName() string {
	if c.listener == "" {
		return "PLAINTEXT"
	}
	return c.listener
}

// WithOverride adds `--override key=value`.
func WithOverride(key, value string) Option {
	return func(c *brokerConfig) { c.overrides = append(c.overrides, [2]string{key, value}) }
}

// WithDefaultAdmin keeps admin.listeners at its default address. Without
// it a test broker's admin listener takes a free port, so that brokers
// never compete for 9644.
func WithDefaultAdmin() Option {
	return func(c *brokerConfig) { c.defaultAdmin = true }
}

// WithOverrides adds several overrides; map order does not matter because
// keys are distinct.
func WithOverrides(kv map[string]string) Option {
	return func(c *brokerConfig) {
		for k, v := range kv {
			c.overrides = append(c.overrides, [2]string{k, v})
		}
	}
}

// WithDir uses dir as log.dirs instead of a fresh t.TempDir().
func WithDir(dir string) Option { return func(c *brokerConfig) { c.dir = dir } }

// WithPort listens on the given port instead of a free one.
func WithPort(port int) Option { return func(c *brokerConfig) { c.port = port } }

// WithConfigFile passes `--config path`.
func WithConfigFile(path string) Option { return func(c *brokerConfig) { c.configFile = path } }

// WithStartTimeout bounds the wait for the first ApiVersions answer (20 s
// by default).
func WithStartTimeout(d time.Duration) Option { return func(c *brokerConfig) { c.startTimeout = d } }

// WithEnv adds KEY=VALUE environment entries for the broker process.
func WithEnv(kv ...string) Option { return func(c *brokerConfig) { c.env = append(c.env, kv...) } }

// WithHost listens on host instead of 127.0.0.1 (a network namespace's
// address, netns.go).
func WithHost(host string) Option { return func(c *brokerConfig) { c.host = host } }

// WithWrapper starts the binary under argv (e.g. `ip netns exec NS`),
// which must exec it in place so that the PID is quill's.
func WithWrapper(argv ...string) Option { return func(c *brokerConfig) { c.wrap = argv } }

// Broker is one running (or stopped) `quill server` process.
type Broker struct {
	t      testing.TB
	bin    string
	cfg    brokerConfig
	logDir string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when the current process has exited
	exitErr error         // valid after done is closed
	starts  int
	logs    []string // one captured-output file per start
}

// StartBroker starts a single-node quill and waits until it serves
// ApiVersions. The process is killed in t.Cleanup if still running.
func StartBroker(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	cfg := brokerConfig{startTimeout: 20 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.port == 0 {
		cfg.port = FreePort(t)
	}
	logDir := ""
	if os.Getenv("QUILL_E2E_KEEP") == "1" {
		// Keep data and logs for a post-mortem.
		var err error
		if logDir, err = os.MkdirTemp("", "quill-e2e-logs-"); err != nil {
			t.Fatal(err)
		}
		if cfg.dir == "" {
			if cfg.dir, err = os.MkdirTemp("", "quill-e2e-data-"); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("QUILL_E2E_KEEP=1: broker data in %s, output in %s (not removed)", cfg.dir, logDir)
	} else {
		logDir = t.TempDir()
		if cfg.dir == "" {
			cfg.dir = t.TempDir()
		}
	}
	b := &Broker{t: t, bin: Binary(t), cfg: cfg, logDir: logDir}
	t.Cleanup(b.cleanup)
	b.start()
	return b
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{} // guarded by portsMu: ports FreePort handed out
)

// FreePort returns a currently unused TCP port on 127.0.0.1, never one it
// returned before in this test process: the kernel may hand the same
// ephemeral port to two quick listen-and-close probes (regression: a
// cluster node got one port for both of its listeners).
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[port] {
			given[port] = true
			return port
		}
	}
	t.Fatal("free port: no new port after 100 tries")
	return 0
}

// Addr is host:port of the broker's PLAINTEXT listener.
func (b *Broker) Addr() string { return net.JoinHostPort(b.Host(), strconv.Itoa(b.cfg.port)) }

// Host is the listener host (127.0.0.1 unless WithHost).
func (b *Broker) Host() string {
	if b.cfg.host != "" {
		return b.cfg.host
	}
	return "127.0.0.1"
}

// Port is the listener port; it stays the same across restarts.
func (b *Broker) Port() int { return b.cfg.port }

// Dir is the broker's log.dirs; it stays the same across restarts.
func (b *Broker) Dir() string { return b.cfg.dir }

// Args returns the command-line arguments the broker is started with.
func (b *Broker) Args() []string {
	args := []string{"server",
		"--override", "listeners=" + b.cfg.listenerName() + "://" + b.Addr(),
		"--override", "log.dirs=" + b.cfg.dir,
	}
	if !b.cfg.defaultAdmin {
		args = append(args, "--override", "admin.listeners=http://127.0.0.1:0")
	}
	for _, kv := range b.cfg.overrides {
		args = append(args, "--override", kv[0]+"="+kv[1])
	}
	if b.cfg.configFile != "" {
		args = append(args, "--config", b.cfg.configFile)
	}
	return args
}

func (b *Broker) start() {
	b.t.Helper()
	b.mu.Lock()
	b.starts++
	logPath := filepath.Join(b.logDir, fmt.Sprintf("broker-start%d.log", b.starts))
	f, err := os.Create(logPath)
	if err != nil {
		b.mu.Unlock()
		b.t.Fatalf("broker log file: %v", err)
	}
	b.logs = append(b.logs, logPath)
	argv := append(append(append([]string(nil), b.cfg.wrap...), b.bin), b.Args()...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), b.cfg.env...)
	// Own process group: a Ctrl-C to `go test` must not reach the broker
	// before the test's cleanup does, and signals go to this PID only.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		b.mu.Unlock()
		b.t.Fatalf("start %s: %v", b.bin, err)
	}
	done := make(chan struct{})
	b.cmd, b.done = cmd, done
	b.mu.Unlock()
	go func() {
		err := cmd.Wait()
		f.Close()
		b.mu.Lock()
		b.exitErr = err
		b.mu.Unlock()
		close(done)
	}()

	deadline := time.Now().Add(b.cfg.startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-done:
			b.dumpLogs()
			b.t.Fatalf("quill exited during startup (%v); args: %q", b.exitError(), b.Args())
		default:
		}
		if b.cfg.ready != nil {
			lastErr = b.cfg.ready(b)
		} else {
			lastErr = pingAPIVersions(b.Addr(), b.cfg.clientTLS, time.Second)
		}
		if lastErr == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.dumpLogs()
	b.killProcess()
	b.t.Fatalf("quill did not start on %s within %v: %v", b.Addr(), b.cfg.startTimeout, lastErr)
}

func (b *Broker) exitError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.exitErr
}

// Running reports whether the current process has not exited.
func (b *Broker) Running() bool {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// PID of the current process (0 if none was started).
func (b *Broker) PID() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil || b.cmd.Process == nil {
		return 0
	}
	return b.cmd.Process.Pid
}

// Stop sends SIGTERM, waits up to 30 s and fails the test unless the process
// exits with status 0.
func (b *Broker) Stop() {
	b.t.Helper()
	if err := b.StopErr(30 * time.Second); err != nil {
		b.dumpLogs()
		b.t.Fatalf("clean shutdown: %v", err)
	}
}

// StopErr is Stop returning the problem instead of failing the test. After
// the timeout the process is SIGKILLed.
func (b *Broker) StopErr(timeout time.Duration) error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		return errors.New("broker was never started")
	}
	select {
	case <-done:
		return fmt.Errorf("broker had already exited: %v", b.exitError())
	default:
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %v", err)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		b.killProcess()
		return fmt.Errorf("no exit within %v of SIGTERM (killed)", timeout)
	}
	if err := b.exitError(); err != nil {
		return fmt.Errorf("exit after SIGTERM: %v", err)
	}
	return nil
}

// Kill sends SIGKILL (a crash) and waits for the process to be gone.
func (b *Broker) Kill() {
	b.t.Helper()
	if !b.Running() {
		b.t.Fatalf("Kill: broker is not running (exit: %v)", b.exitError())
	}
	b.killProcess()
}

func (b *Broker) killProcess() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Kill() // this PID only
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.t.Errorf("broker pid %d did not exit 10s after SIGKILL", cmd.Process.Pid)
	}
}

// Start starts the broker again (same port and data dir) after Stop or Kill.
func (b *Broker) Start() {
	b.t.Helper()
	if b.Running() {
		b.t.Fatalf("Start: broker is already running")
	}
	b.start()
}

// Restart is Stop (clean, exit 0 asserted) then Start.
func (b *Broker) Restart() {
	b.t.Helper()
	if b.Running() {
		b.Stop()
	}
	b.start()
}

func (b *Broker) cleanup() {
	if b.t.Failed() {
		b.quitWithStacks()
	}
	b.killProcess()
	if b.t.Failed() {
		b.dumpLogs()
	}
}

// quitWithStacks sends SIGQUIT to a running broker of a failed test: the
// Go runtime writes every goroutine's stack to its output and exits, so a
// broker that hung shows where.
func (b *Broker) quitWithStacks() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil || cmd.Process == nil || !b.Running() {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT) // this PID only
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

// Logs returns everything the broker wrote to stdout/stderr, over all starts.
func (b *Broker) Logs() string {
	b.mu.Lock()
	paths := append([]string(nil), b.logs...)
	b.mu.Unlock()
	var sb strings.Builder
	for i, p := range paths {
		data, _ := os.ReadFile(p)
		fmt.Fprintf(&sb, "----- quill output, start %d (%s) -----\n", i+1, p)
		sb.Write(data)
	}
	return sb.String()
}

var dumpMu sync.Mutex

// dumpLogs prints the tail of each start's output (at most 32 KiB each;
// 256 KiB of the last, which ends with the goroutine stacks of
// quitWithStacks).
func (b *Broker) dumpLogs() {
	b.mu.Lock()
	paths := append([]string(nil), b.logs...)
	b.mu.Unlock()
	dumpMu.Lock()
	defer dumpMu.Unlock()
	for i, p := range paths {
		data, _ := os.ReadFile(p)
		prefix := ""
		max := 32 << 10
		if i == len(paths)-1 {
			max = 256 << 10
		}
		if len(data) > max {
			data = data[len(data)-max:]
			prefix = "...(truncated)...\n"
		}
		b.t.Logf("----- quill output, start %d (%s) -----\n%s%s", i+1, p, prefix, data)
	}
}

// Client returns a franz-go client seeded with this broker, closed in
// t.Cleanup.
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	all := append([]kgo.Opt{
		kgo.SeedBrokers(b.Addr()),
		kgo.ClientID("quill-e2e"),
		kgo.RetryTimeout(20 * time.Second),
	}, b.cfg.clientOpts...)
	all = append(all, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		t.Fatalf("kgo client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client over a fresh franz-go client.
func (b *Broker) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(b.Client(t, opts...))
}

// PingAPIVersions sends ApiVersions v0 on a fresh connection and checks that
// a well-formed response with error code 0 comes back.
func PingAPIVersions(addr string, timeout time.Duration) error {
	return pingAPIVersions(addr, nil, timeout)
}

// pingAPIVersions is PingAPIVersions, over TLS when tc is not nil.
func pingAPIVersions(addr string, tc *tls.Config, timeout time.Duration) error {
	var c net.Conn
	var err error
	if tc != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", addr, tc)
	} else {
		c, err = net.DialTimeout("tcp", addr, timeout)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 0
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("quill-testutil")).AppendRequest(nil, req, 7)
	if _, err := c.Write(frame); err != nil {
		return err
	}
	body, err := ReadFrame(bufio.NewReader(c), 1<<20)
	if err != nil {
		return err
	}
	if len(body) < 4 || int32(be32(body)) != 7 {
		return fmt.Errorf("bad ApiVersions response header % x", body[:min(len(body), 8)])
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body[4:]); err != nil {
		return fmt.Errorf("decode ApiVersions v0 response: %v", err)
	}
	if resp.ErrorCode != 0 {
		return fmt.Errorf("ApiVersions error code %d", resp.ErrorCode)
	}
	return nil
}

// WaitFor polls cond every 100 ms until it returns true or timeout passes,
// then fails the test with the last message cond returned.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var msg string
	for {
		var ok bool
		ok, msg = cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Context returns a context bounded by d and cancelled in t.Cleanup.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
