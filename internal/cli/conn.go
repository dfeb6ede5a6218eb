package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const defaultBrokers = "127.0.0.1:9092"

// globals are the connection settings every client command shares.
type globals struct {
	brokers       string
	commandConfig string
}

// register adds the connection flags as persistent flags of a top-level
// command, so `quill topic list -b host:9092` works.
func (g *globals) register(c *cobra.Command) {
	def := defaultBrokers
	if env := os.Getenv("QUILL_BROKERS"); env != "" {
		def = env
	}
	pf := c.PersistentFlags()
	pf.StringVarP(&g.brokers, "bootstrap-server", "b", def, "comma-separated broker addresses (env QUILL_BROKERS)")
	pf.StringVar(&g.commandConfig, "command-config", "", "Java-properties file of client settings (client.id, request.timeout.ms, security.protocol, sasl.*, ssl.*)")
}

// session is one command's connection: a kgo client, an admin client over
// it, and a context that is cancelled early if no broker can be dialed.
type session struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	cl       *kgo.Client
	adm      *kadm.Client
	brokers  []string
	settings clientSettings

	dialOK    atomic.Bool
	dialFails atomic.Int32
}

// dialError is the cause recorded when no seed broker accepts connections.
type dialError struct {
	brokers []string
	err     error
}

func (e *dialError) Error() string {
	return fmt.Sprintf("cannot reach %s: is `quill server` running? (%v); point -b/--bootstrap-server or QUILL_BROKERS at a running broker",
		strings.Join(e.brokers, ","), e.err)
}

// maxDialFailures is how many failed dials, with none successful, make the
// command give up instead of letting kgo retry for its full retry timeout.
const maxDialFailures = 3

// open connects. bounded sessions (admin commands) get the request timeout
// as their deadline; unbounded ones (consume, perf) run until cancelled.
func (g *globals) open(cmd *cobra.Command, bounded bool, extra ...kgo.Opt) (*session, error) {
	settings, err := loadClientSettings(g.commandConfig, cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	var brokers []string
	for _, b := range strings.Split(g.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		return nil, usageErrorf("--bootstrap-server is empty; give at least one host:port")
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	s := &session{brokers: brokers, settings: settings}
	s.ctx, s.cancel = context.WithCancelCause(parent)
	if bounded {
		var cancelT context.CancelFunc
		s.ctx, cancelT = context.WithTimeout(s.ctx, settings.requestTimeout)
		inner := s.cancel
		s.cancel = func(cause error) { inner(cause); cancelT() }
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(settings.clientID),
		kgo.RequestTimeoutOverhead(settings.requestTimeout),
		kgo.Dialer(s.dial),
	}
	opts = append(opts, settings.security.opts()...)
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		s.cancel(nil)
		return nil, usageErrorf("invalid client settings: %v", err)
	}
	s.cl = cl
	s.adm = kadm.NewClient(cl)
	s.adm.SetTimeoutMillis(int32(settings.requestTimeout / time.Millisecond))
	if !bounded {
		// Producers and consumers retry dials on their metadata
		// schedule (seconds apart); one round trip up front turns an
		// unreachable cluster into an immediate, explained failure.
		pctx, cancel := context.WithTimeout(s.ctx, settings.requestTimeout)
		err := cl.Ping(pctx)
		cancel()
		if err != nil {
			err = s.explain(err)
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *session) dial(ctx context.Context, network, host string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	c, err := s.settings.security.dial(ctx, &d, network, host)
	if err != nil {
		if !s.dialOK.Load() && s.dialFails.Add(1) >= maxDialFailures {
			s.cancel(&dialError{brokers: s.brokers, err: err})
		}
		return nil, err
	}
	s.dialOK.Store(true)
	return c, nil
}

func (s *session) close() {
	s.cl.Close()
	s.cancel(nil)
}

// explain turns an error from franz-go into one that names the cause and
// the fix, keeping the original in the chain.
func (s *session) explain(err error) error {
	if err == nil {
		return nil
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	var de *dialError
	if cause := context.Cause(s.ctx); errors.As(cause, &de) {
		return &cliError{code: exitError, err: de}
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &cliError{code: exitError, err: &dialError{brokers: s.brokers, err: err}}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &cliError{code: exitError, err: fmt.Errorf("timed out after %s waiting for %s: the broker is slow or unreachable; raise request.timeout.ms in --command-config if it is just slow (%w)",
			s.settings.requestTimeout, strings.Join(s.brokers, ","), err)}
	}
	return &cliError{code: exitError, err: withHint(err)}
}

// withHint appends the usual fix for Kafka error codes a user can act on.
func withHint(err error) error {
	hint := ""
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		hint = "check the name with `quill topic list`"
	case errors.Is(err, kerr.TopicAlreadyExists):
		hint = "pick another name, or delete it first with `quill topic delete`"
	case errors.Is(err, kerr.InvalidReplicationFactor):
		hint = "--replication-factor must not exceed the number of brokers (see `quill cluster info`)"
	case errors.Is(err, kerr.NonEmptyGroup):
		hint = "stop the group's consumers first (`quill group describe` shows them)"
	case errors.Is(err, kerr.GroupIDNotFound):
		hint = "check the name with `quill group list`"
	case errors.Is(err, kerr.InvalidConfig), errors.Is(err, kerr.InvalidRequest):
		hint = "check the config name and value"
	case errors.Is(err, kerr.PolicyViolation):
		hint = "the broker's policy rejected the request"
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		hint = "check sasl.username and sasl.password (or sasl.jaas.config) in --command-config"
	case isAuthError(err):
		hint = "the principal lacks an ACL; an administrator can grant it with `quill acl create`"
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w; %s", err, hint)
}

// resultErr builds the error for a per-resource failure in a response.
func resultErr(what string, err error, msg string) error {
	if err == nil {
		return nil
	}
	if msg != "" && !strings.Contains(err.Error(), msg) {
		err = fmt.Errorf("%w (%s)", err, msg)
	}
	return &cliError{code: exitError, err: fmt.Errorf("%s: %w", what, withHint(err))}
}

func isTopicExists(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) }
func isUnknownTopic(err error) bool {
	return errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID)
}

// reportFailures is the result of a command acting on total resources of
// which errs failed. One resource: its error. Several: each error on
// stderr, and a count as the result, so the root does not print the first
// one twice.
func reportFailures(stderr io.Writer, what string, errs []error, total int) error {
	switch {
	case len(errs) == 0:
		return nil
	case total == 1:
		return errs[0]
	}
	for _, e := range errs {
		fmt.Fprintln(stderr, "error:", e)
	}
	return &cliError{code: exitError, err: fmt.Errorf("%d of %d %s failed (see above)", len(errs), total, what)}
}
