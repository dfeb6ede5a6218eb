package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Security protocols a listener can use.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// DefaultProtocolMap is the default listener.security.protocol.map: Kafka's
// (each protocol name maps to itself) plus CONTROLLER:PLAINTEXT, so the
// controller listener of the sample configs works without a map.
const DefaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"

// Listener is one entry of listeners or advertised.listeners.
type Listener struct {
	// Name is upper-case, as Kafka normalises listener names.
	Name string
	// Host is empty for "all interfaces" (NAME://:9092); IPv6 addresses
	// are given without brackets.
	Host string
	// Port may be 0 for listeners (bind any free port).
	Port             int
	SecurityProtocol string
}

// Addr returns host:port, bracketing IPv6 hosts.
func (l Listener) Addr() string {
	return joinHostPort(l.Host, l.Port)
}

// String returns the listener in the form it is configured.
func (l Listener) String() string {
	return l.Name + "://" + l.Addr()
}

func joinHostPort(host string, port int) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(port)
}

func validProtocol(p string) bool {
	switch p {
	case ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL:
		return true
	}
	return false
}

// ParseProtocolMap parses listener.security.protocol.map
// ("NAME:PROTOCOL,..."); names are upper-cased.
func ParseProtocolMap(s string) (map[string]string, error) {
	m := make(map[string]string)
	for _, item := range parseList(s) {
		name, proto, ok := strings.Cut(item, ":")
		name = strings.ToUpper(strings.TrimSpace(name))
		proto = strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" {
			return nil, fmt.Errorf("%q is not NAME:PROTOCOL", item)
		}
		if !validProtocol(proto) {
			return nil, fmt.Errorf("%q: unknown security protocol %q (allowed: PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)", item, proto)
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("listener name %s is mapped twice", name)
		}
		m[name] = proto
	}
	return m, nil
}

// ParseListeners parses a listeners value such as
// "PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093,SSL://[::1]:9094". Each
// listener's security protocol comes from protocolMap (nil means
// DefaultProtocolMap). Listener names must be unique. The empty string is the
// empty list.
func ParseListeners(s string, protocolMap map[string]string) ([]Listener, error) {
	if protocolMap == nil {
		protocolMap, _ = ParseProtocolMap(DefaultProtocolMap)
	}
	var out []Listener
	seen := make(map[string]bool)
	for _, item := range parseList(s) {
		l, err := parseListener(item)
		if err != nil {
			return nil, err
		}
		proto, ok := protocolMap[l.Name]
		if !ok {
			return nil, fmt.Errorf("listener %s: no security protocol for %s in listener.security.protocol.map", item, l.Name)
		}
		l.SecurityProtocol = proto
		if seen[l.Name] {
			return nil, fmt.Errorf("listener name %s appears twice", l.Name)
		}
		seen[l.Name] = true
		out = append(out, l)
	}
	return out, nil
}

func parseListener(item string) (Listener, error) {
	name, hostport, ok := strings.Cut(item, "://")
	if !ok || name == "" {
		return Listener{}, fmt.Errorf("listener %q is not NAME://host:port", item)
	}
	for _, c := range name {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Listener{}, fmt.Errorf("listener %q: name may hold only letters, digits, '_' and '-'", item)
		}
	}
	host, port, err := splitHostPort(hostport)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %v", item, err)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}

// splitHostPort splits "host:port", "[v6]:port" or ":port". Unlike
// net.SplitHostPort it rejects a missing port and checks the port's range.
func splitHostPort(hp string) (string, int, error) {
	var host, port string
	if strings.HasPrefix(hp, "[") {
		end := strings.Index(hp, "]")
		if end < 0 || !strings.HasPrefix(hp[end+1:], ":") {
			return "", 0, fmt.Errorf("want [ipv6]:port")
		}
		host, port = hp[1:end], hp[end+2:]
		if host == "" || !strings.Contains(host, ":") {
			return "", 0, fmt.Errorf("%q in brackets is not an IPv6 address", host)
		}
	} else {
		i := strings.LastIndex(hp, ":")
		if i < 0 {
			return "", 0, fmt.Errorf("missing port")
		}
		host, port = hp[:i], hp[i+1:]
		if strings.Contains(host, ":") {
			return "", 0, fmt.Errorf("IPv6 hosts must be in brackets: [%s]", host)
		}
	}
	for _, c := range host {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._:%", c)) {
			return "", 0, fmt.Errorf("invalid host %q", host)
		}
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("port %q is not in 0-65535", port)
	}
	return host, p, nil
}

// Voter is one entry of controller.quorum.voters ("id@host:port").
type Voter struct {
	ID   int32
	Host string
	Port int
}

// Addr returns host:port, bracketing IPv6 hosts.
func (v Voter) Addr() string { return joinHostPort(v.Host, v.Port) }

// ParseVoters parses controller.quorum.voters, e.g.
// "1@10.0.0.1:9093,2@10.0.0.2:9093,3@[::1]:9093". IDs must be unique and
// non-negative, and hosts non-empty.
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	seen := make(map[int32]bool)
	for _, item := range parseList(s) {
		id, hp, ok := strings.Cut(item, "@")
		if !ok {
			return nil, fmt.Errorf("voter %q is not id@host:port", item)
		}
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("voter %q: id %q is not a non-negative 32-bit integer", item, id)
		}
		host, port, err := splitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("voter %q: %v", item, err)
		}
		if host == "" || port == 0 {
			return nil, fmt.Errorf("voter %q: host and a non-zero port are required", item)
		}
		if seen[int32(n)] {
			return nil, fmt.Errorf("voter id %d appears twice", n)
		}
		seen[int32(n)] = true
		out = append(out, Voter{ID: int32(n), Host: host, Port: port})
	}
	return out, nil
}

// validHTTPListeners checks admin.listeners: http:// or https:// URLs with a
// host:port and nothing else.
func validHTTPListeners(v string) error {
	for _, item := range parseList(v) {
		u, err := url.Parse(item)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("must be a list of http://host:port or https://host:port (got %q)", item)
		}
		if _, _, err := splitHostPort(u.Host); err != nil {
			return fmt.Errorf("%q: %v", item, err)
		}
	}
	return nil
}
