package server

import (
	"testing"

	"github.com/quillstream/quill/internal/metadata"
)

// TestBrokerAddrPerListener: brokers are given at their endpoint of the
// listener a request came in on; one without that listener is left out;
// one registered before endpoints existed keeps its single address.
func TestBrokerAddrPerListener(t *testing.T) {
	s := &Server{cfg: Config{NodeID: 1}}
	ext := &Listener{Name: "EXTERNAL", AdvertisedHost: "self.example", AdvertisedPort: 19092}
	r := &request{c: &conn{s: s, sec: connSecurity{listener: ext}}}
	eps := func(int, ext int32) []metadata.Endpoint {
		return []metadata.Endpoint{{Name: "INTERNAL", Host: "10.0.0.1", Port: 9092, Protocol: "SASL_SSL"},
			{Name: "EXTERNAL", Host: "b.example", Port: ext, Protocol: "SSL"}}
	}
	for _, c := range []struct {
		b        metadata.Broker
		host     string
		port     int32
		ok       bool
		describe string
	}{
		{metadata.Broker{ID: 1, Host: "10.0.0.1", Port: 9092, Endpoints: eps(9092, 9093)}, "self.example", 19092, true, "self: the listener's advertised address"},
		{metadata.Broker{ID: 2, Host: "10.0.0.2", Port: 9092, Endpoints: eps(9092, 9094)}, "b.example", 9094, true, "other: its EXTERNAL endpoint"},
		{metadata.Broker{ID: 3, Host: "10.0.0.3", Port: 9092, Endpoints: eps(9092, 9094)[:1]}, "", 0, false, "other without EXTERNAL"},
		{metadata.Broker{ID: 4, Host: "10.0.0.4", Port: 9092}, "10.0.0.4", 9092, true, "registered before endpoints"},
	} {
		h, p, ok := r.brokerAddr(&c.b)
		if h != c.host || p != c.port || ok != c.ok {
			t.Errorf("%s: %s:%d %v, want %s:%d %v", c.describe, h, p, ok, c.host, c.port, c.ok)
		}
	}
}
