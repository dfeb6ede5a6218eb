package config

import (
	"fmt"
	"strings"
)

const listenerPrefix = "listener.name."

// setListenerOverride records listener.name.<name>.<key>. The key must be
// an ssl.* or sasl.* broker key, <mechanism>.sasl.jaas.config, or
// connections.max.reauth.ms; its value is checked as the base key's.
func (b *Broker) setListenerOverride(key, value, where string) ([]Warning, error) {
	rest := key[len(listenerPrefix):]
	name, sub, ok := strings.Cut(rest, ".")
	if !ok || name == "" || sub == "" {
		return []Warning{{Key: key, Where: where, Message: "want listener.name.<listener>.<key>; ignored"}}, nil
	}
	base := sub
	if mech, jaas, ok := strings.Cut(sub, "."); ok && jaas == "sasl.jaas.config" && !strings.HasPrefix(sub, "sasl.") {
		switch strings.ToUpper(mech) {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER":
			base = "sasl.jaas.config"
		default:
			return []Warning{{Key: key, Where: where, Message: fmt.Sprintf("unknown SASL mechanism %q; ignored", mech)}}, nil
		}
	}
	k, known := brokerKeyIndex[base]
	if !known || !(strings.HasPrefix(base, "ssl.") || strings.HasPrefix(base, "sasl.") || base == "connections.max.reauth.ms") {
		return []Warning{{Key: key, Where: where, Message: "not a per-listener config; ignored"}}, nil
	}
	if err := k.check(value); err != nil {
		return nil, &ValueError{Key: key, Value: value, Where: where, Reason: err.Error()}
	}
	if b.ListenerOverrides == nil {
		b.ListenerOverrides = map[string]string{}
	}
	b.ListenerOverrides[listenerPrefix+strings.ToLower(name)+"."+strings.ToLower(sub[:len(sub)-len(base)])+base] = value
	return nil, nil
}

// ListenerValue returns a key's value for one listener:
// listener.name.<listener>.<key> if set, else the broker-wide key.
func (b *Broker) ListenerValue(listener, key string) string {
	if v, ok := b.ListenerOverrides[listenerPrefix+strings.ToLower(listener)+"."+key]; ok {
		return v
	}
	return b.value(key)
}

// ListenerJAAS returns the sasl.jaas.config for a listener and mechanism:
// listener.name.<l>.<mechanism>.sasl.jaas.config, then
// listener.name.<l>.sasl.jaas.config, then sasl.jaas.config.
func (b *Broker) ListenerJAAS(listener, mechanism string) string {
	l := listenerPrefix + strings.ToLower(listener) + "."
	if v, ok := b.ListenerOverrides[l+strings.ToLower(mechanism)+".sasl.jaas.config"]; ok {
		return v
	}
	if v, ok := b.ListenerOverrides[l+"sasl.jaas.config"]; ok {
		return v
	}
	return b.value("sasl.jaas.config")
}
