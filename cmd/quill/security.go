package main

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/quillstream/quill/internal/auth"
	"github.com/quillstream/quill/internal/config"
	"github.com/quillstream/quill/internal/controller"
	"github.com/quillstream/quill/internal/metadata"
	"github.com/quillstream/quill/internal/server"
)

// brokerListeners builds the server's listeners (all but the controller
// listeners) with their security: TLS from the listener's ssl.* keys,
// SASL mechanisms from sasl.enabled.mechanisms and the JAAS configs, and
// the advertised address of each listener.
func brokerListeners(cfg *config.Broker, ctrl *controller.Controller, logger *slog.Logger) ([]server.Listener, error) {
	var out []server.Listener
	for _, l := range cfg.Listeners {
		if slices.ContainsFunc(cfg.ControllerListenerNames, func(n string) bool { return strings.EqualFold(n, l.Name) }) {
			continue
		}
		sl := server.Listener{Name: l.Name, Host: l.Host, Port: l.Port, Protocol: l.SecurityProtocol}
		for _, a := range cfg.AdvertisedListeners {
			if a.Name == l.Name && a.Host != "" {
				sl.AdvertisedHost, sl.AdvertisedPort = a.Host, int32(a.Port)
			}
		}
		if l.SecurityProtocol == config.ProtocolSSL || l.SecurityProtocol == config.ProtocolSASLSSL {
			tc, err := auth.NewServerTLS(auth.TLSOptions{
				KeystoreLocation:   cfg.ListenerValue(l.Name, "ssl.keystore.location"),
				KeyPassword:        cfg.ListenerValue(l.Name, "ssl.key.password"),
				TruststoreLocation: cfg.ListenerValue(l.Name, "ssl.truststore.location"),
				ClientAuth:         cfg.ListenerValue(l.Name, "ssl.client.auth"),
			})
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
			sl.TLS = tc
			rules, err := auth.ParsePrincipalRules(cfg.ListenerValue(l.Name, "ssl.principal.mapping.rules"))
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
			sl.PrincipalRules = rules
		}
		if l.SecurityProtocol == config.ProtocolSASLPlaintext || l.SecurityProtocol == config.ProtocolSASLSSL {
			m, err := saslMechanisms(cfg, l.Name, ctrl)
			if err != nil {
				return nil, fmt.Errorf("listener %s: %w", l.Name, err)
			}
			sl.SASL = m
			if slices.Contains(m.Enabled, auth.MechPlain) && len(m.PlainUsers) == 0 {
				logger.Warn("PLAIN is enabled but has no users: set user_<name>=\"<password>\" in listener.name."+strings.ToLower(l.Name)+".plain.sasl.jaas.config", "listener", l.Name)
			}
			var ms int64
			fmt.Sscan(cfg.ListenerValue(l.Name, "connections.max.reauth.ms"), &ms)
			sl.MaxReauth = time.Duration(ms) * time.Millisecond
		}
		out = append(out, sl)
	}
	return out, nil
}

func saslMechanisms(cfg *config.Broker, listener string, ctrl *controller.Controller) (*auth.Mechanisms, error) {
	m := &auth.Mechanisms{PlainUsers: map[string]string{}}
	for _, mech := range strings.Split(cfg.ListenerValue(listener, "sasl.enabled.mechanisms"), ",") {
		if mech = strings.ToUpper(strings.TrimSpace(mech)); mech != "" {
			m.Enabled = append(m.Enabled, mech)
		}
	}
	if len(m.Enabled) == 0 {
		return nil, fmt.Errorf("sasl.enabled.mechanisms is empty")
	}
	if slices.Contains(m.Enabled, auth.MechPlain) {
		if jaas := cfg.ListenerJAAS(listener, auth.MechPlain); jaas != "" {
			users, err := auth.ParseJAASUsers(jaas)
			if err != nil {
				return nil, err
			}
			m.PlainUsers = users
		}
	}
	m.Scram = func(mech, user string) (auth.ScramCredential, bool) {
		c, ok := ctrl.Image().Scram[metadata.ScramKey{User: user, Mechanism: mech}]
		return auth.ScramCredential(c), ok
	}
	return m, nil
}

// authorizer returns the ACL authorizer when authorizer.class.name is set.
func authorizer(cfg *config.Broker, ctrl *controller.Controller, logger *slog.Logger) *auth.Authorizer {
	if cfg.AuthorizerClassName == "" {
		return nil
	}
	if len(cfg.SuperUsers) == 0 && len(ctrl.Image().ACLs) == 0 && !cfg.AllowEveryoneIfNoACLFound {
		logger.Warn("ACLs are enforced but there are no super.users and no ACLs yet: every request will be denied")
	}
	return auth.NewAuthorizer(cfg.SuperUsers, cfg.AllowEveryoneIfNoACLFound, ctrl.Image)
}
