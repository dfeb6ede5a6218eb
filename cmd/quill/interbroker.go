package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/config"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/interbroker"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/server"
)

// Inter-broker security (docs/security.md, "Inter-broker security"):
// brokers register every advertised listener, and reach each other on the
// inter-broker listener with its TLS and SASL settings.

// endpoints are the advertised listeners this broker registers.
func endpoints(cfg *config.Broker) []metadata.Endpoint {
	var out []metadata.Endpoint
	for _, l := range cfg.AdvertisedListeners {
		if cfg.ListenerIsController(l.Name) {
			continue
		}
		host := l.Host
		if host == "" || host == "0.0.0.0" || host == "::" {
			if h, err := os.Hostname(); err == nil {
				host = h
			}
		}
		proto := l.SecurityProtocol
		if proto == "" {
			proto = config.ProtocolPlaintext
		}
		out = append(out, metadata.Endpoint{Name: l.Name, Host: host, Port: int32(l.Port), Protocol: proto})
	}
	return out
}

// interBrokerSecurity is how this broker connects to the others: the
// inter-broker listener's protocol, its ssl.* files, and for SASL the
// username and password of
// listener.name.<listener>.<mechanism>.sasl.jaas.config (else
// listener.name.<listener>.sasl.jaas.config, else sasl.jaas.config).
func interBrokerSecurity(cfg *config.Broker) (interbroker.Security, error) {
	l, ok := cfg.InterBrokerListener()
	if !ok {
		return interbroker.Security{}, fmt.Errorf("inter.broker.listener.name: %q is not one of the listeners", cfg.InterBrokerListenerName)
	}
	sec := interbroker.Security{Listener: l.Name, Protocol: l.SecurityProtocol}
	if sec.Protocol == config.ProtocolSSL || sec.Protocol == config.ProtocolSASLSSL {
		sec.TruststoreLocation = cfg.ListenerValue(l.Name, "ssl.truststore.location")
		sec.KeystoreLocation = cfg.ListenerValue(l.Name, "ssl.keystore.location")
		sec.KeyPassword = cfg.ListenerValue(l.Name, "ssl.key.password")
		sec.NoHostnameCheck = cfg.ListenerValue(l.Name, "ssl.endpoint.identification.algorithm") == ""
	}
	if sec.Protocol == config.ProtocolSASLPlaintext || sec.Protocol == config.ProtocolSASLSSL {
		sec.Mechanism = strings.ToUpper(cfg.SASLMechanismInterBroker)
		user, pass, err := interbroker.Credentials(cfg.ListenerJAAS(l.Name, sec.Mechanism))
		if err != nil {
			return sec, fmt.Errorf("inter-broker listener %s: %w", l.Name, err)
		}
		sec.Username, sec.Password = user, pass
	}
	return sec, sec.Validate()
}

// bootstrapScramUser creates the inter-broker SCRAM credential from the
// broker's own JAAS config when the metadata has none yet: Quill's answer
// to `kafka-storage format --add-scram`, without which brokers whose only
// listeners are SCRAM could never authenticate to each other (nor an
// administrator create the first user). An existing credential is never
// replaced; if it does not match the configured password a warning says
// so. It retries until the quorum accepts the change or the broker stops.
func (b *broker) bootstrapScramUser(sec interbroker.Security) {
	if sec.Mechanism != auth.MechScramSHA256 && sec.Mechanism != auth.MechScramSHA512 || sec.Username == "" {
		return
	}
	go func() {
		for {
			cur, ok := b.ctrl.Image().Scram[metadata.ScramKey{User: sec.Username, Mechanism: sec.Mechanism}]
			if ok {
				if !scramMatches(sec.Mechanism, sec.Password, cur) {
					b.log.Warn("the inter-broker SCRAM credential in the metadata does not match this broker's sasl.jaas.config password; replication will fail to authenticate",
						"user", sec.Username, "mechanism", sec.Mechanism)
				}
				return
			}
			cred, err := auth.NewScramCredential(sec.Mechanism, sec.Password, auth.ScramMinIterations)
			if err != nil {
				b.log.Error("inter-broker SCRAM credential", "err", err)
				return
			}
			mc := metadata.ScramCredential(cred)
			errs := b.ctrl.AlterScram([]controller.ScramChange{{User: sec.Username, Mechanism: sec.Mechanism, Credential: &mc}})
			if errs[0] == nil {
				b.log.Info("created the inter-broker SCRAM credential from sasl.jaas.config", "user", sec.Username, "mechanism", sec.Mechanism)
				return
			}
			select {
			case <-b.stopping:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
}

// scramMatches reports whether password gives credential c.
func scramMatches(mech, password string, c metadata.ScramCredential) bool {
	salted, err := auth.SaltPassword(mech, password, c.Salt, int(c.Iterations))
	if err != nil {
		return false
	}
	want, err := auth.ScramFromSaltedPassword(mech, c.Salt, salted, c.Iterations)
	return err == nil && bytes.Equal(want.StoredKey, c.StoredKey)
}

// newPeers returns the inter-broker client of the transaction coordinator
// and partition leaders (markers, KIP-890 verification): connections to
// each broker's endpoint of the inter-broker listener, authenticated like
// the followers' (enableReplication set peerDialer).
func (b *broker) newPeers() *server.Peers {
	d := b.peerDialer
	return &server.Peers{
		ClientID: fmt.Sprintf("quill-broker-%d", b.cfg.NodeID),
		Addr: func(id int32) (string, bool) {
			br := b.ctrl.Image().Brokers[id]
			if br == nil {
				return "", false
			}
			host, port, ok := br.Endpoint(d.Security.Listener)
			return net.JoinHostPort(host, strconv.Itoa(int(port))), ok
		},
		Dial: func(ctx context.Context, addr string) (server.PeerConn, error) {
			c, err := d.DialAddr(ctx, addr)
			if err != nil {
				return nil, err
			}
			return peerConn{c}, nil
		},
	}
}

// peerConn adapts an interbroker.Conn to server.PeerConn.
type peerConn struct{ c *interbroker.Conn }

func (p peerConn) Do(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	stop := context.AfterFunc(ctx, func() { p.c.Close() })
	defer stop()
	return p.c.Do(req, deadline)
}

func (p peerConn) Close() error { return p.c.Close() }
