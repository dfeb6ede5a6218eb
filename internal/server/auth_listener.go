package server

import (
	"github.com/quillstream/quill/internal/metadata"
)

// brokerAddr returns a broker's host and port for the listener a request
// came in on, as Kafka does: this broker's advertised address of that
// listener, another broker's registered endpoint of the same name. ok is
// false when the broker has no such listener (Metadata then leaves it
// out), so clients of an SSL or SASL listener are never sent to another
// listener's port. Brokers registered before endpoints were recorded
// answer with their one registered address.
func (r *request) brokerAddr(b *metadata.Broker) (host string, port int32, ok bool) {
	if r.c == nil || r.c.sec.listener == nil {
		return b.Host, b.Port, true
	}
	l := r.c.sec.listener
	if b.ID == r.c.s.cfg.NodeID && l.AdvertisedHost != "" {
		return l.AdvertisedHost, l.AdvertisedPort, true
	}
	return b.Endpoint(l.Name)
}
