package metadata

import "slices"

// Endpoint is one advertised listener of a broker: its name (upper case,
// as Kafka normalises listener names), address and security protocol.
// Metadata answers a client with the endpoint of the listener its request
// came in on; brokers reach each other on the inter-broker listener's.
type Endpoint struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol,omitempty"`
}

// Endpoint returns the broker's address on a listener. A broker
// registered before endpoints were recorded (no Endpoints) has its Host
// and Port on every listener; otherwise ok is false when it has no such
// listener.
func (b *Broker) Endpoint(listener string) (host string, port int32, ok bool) {
	if len(b.Endpoints) == 0 {
		return b.Host, b.Port, true
	}
	for _, e := range b.Endpoints {
		if e.Name == listener {
			return e.Host, e.Port, true
		}
	}
	return "", 0, false
}

// Record is the registration record that recreates b.
func (b *Broker) Record() *BrokerRecord {
	return &BrokerRecord{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack,
		Endpoints: slices.Clone(b.Endpoints),
		Epoch:     b.Epoch, Incarnation: b.Incarnation, Fenced: b.Fenced}
}

func brokerFromRecord(r *BrokerRecord) *Broker {
	return &Broker{ID: r.ID, Host: r.Host, Port: r.Port, Rack: r.Rack, Endpoints: slices.Clone(r.Endpoints),
		Epoch: r.Epoch, Incarnation: r.Incarnation, Fenced: r.Fenced}
}
