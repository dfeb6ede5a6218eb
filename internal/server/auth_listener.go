package server

import (
	"github.com/quillstream/quill/internal/metadata"
)

// selfAddr returns the host and port of this broker for the listener a
// request came in on (its advertised address), so that clients of an
// SSL or SASL listener are not sent to another listener's port.
func (r *request) brokerAddr(b *metadata.Broker) (string, int32) {
	if r.c != nil && r.c.sec.listener != nil && b.ID == r.c.s.cfg.NodeID {
		if l := r.c.sec.listener; l.AdvertisedHost != "" {
			return l.AdvertisedHost, l.AdvertisedPort
		}
	}
	return b.Host, b.Port
}
