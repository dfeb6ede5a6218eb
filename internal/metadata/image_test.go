package metadata

import "testing"

func TestBuilderLeavesBaseUntouched(t *testing.T) {
	b := NewBuilder(Empty())
	id := NewUUID()
	must(t, b.Apply(0, Record{Topic: &TopicRecord{Name: "a", ID: id}}))
	must(t, b.Apply(1, Record{Partition: &PartitionRecord{TopicID: id, Partition: 0, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}))
	base := b.Image()

	b2 := NewBuilder(base)
	v := "1000"
	must(t, b2.Apply(2, Record{Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "a", Name: "retention.ms", Value: &v}}))
	must(t, b2.Apply(3, Record{Partition: &PartitionRecord{TopicID: id, Partition: 1, Replicas: []int32{1}, ISR: []int32{1}, Leader: 1}}))
	next := b2.Image()

	if len(base.Topics["a"].Partitions) != 1 || len(base.Topics["a"].Configs) != 0 {
		t.Fatalf("base image changed: %+v", base.Topics["a"])
	}
	if len(next.Topics["a"].Partitions) != 2 || next.Topics["a"].Configs["retention.ms"] != "1000" || next.TopicIDs[id] != next.Topics["a"] {
		t.Fatalf("next image wrong: %+v", next.Topics["a"])
	}
	if b2.Apply(4, Record{}) == nil {
		t.Fatal("empty record accepted")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	id := NewUUID()
	r := Record{Topic: &TopicRecord{Name: "x", ID: id, Internal: true}}
	got, err := DecodeRecord(r.Encode())
	must(t, err)
	if got.Topic == nil || *got.Topic != *r.Topic {
		t.Fatalf("round trip: %+v", got.Topic)
	}
	if u, err := ParseUUID(id.String()); err != nil || u != id {
		t.Fatalf("uuid round trip: %v %v", u, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(Record{Broker: &BrokerRecord{ID: 1, Host: "h", Port: 1}}.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err == nil {
			NewBuilder(Empty()).Apply(0, r) // may fail, must not panic
		}
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestBrokerEndpointsCompat: a registration written before endpoints
// existed decodes to a broker reachable on every listener at Host:Port;
// one with endpoints answers only for its listeners.
func TestBrokerEndpointsCompat(t *testing.T) {
	old, err := DecodeRecord([]byte(`{"broker":{"id":1,"host":"h1","port":9092,"epoch":3}}`))
	must(t, err)
	b := NewBuilder(Empty())
	must(t, b.Apply(0, old))
	must(t, b.Apply(1, Record{Broker: &BrokerRecord{ID: 2, Host: "h2", Port: 9092,
		Endpoints: []Endpoint{{Name: "INTERNAL", Host: "h2", Port: 9092, Protocol: "SASL_SSL"}, {Name: "EXTERNAL", Host: "x2", Port: 9094, Protocol: "SSL"}}}}))
	img := b.Image()
	if h, p, ok := img.Brokers[1].Endpoint("EXTERNAL"); !ok || h != "h1" || p != 9092 {
		t.Errorf("old broker on EXTERNAL: %s:%d %v", h, p, ok)
	}
	if h, p, ok := img.Brokers[2].Endpoint("EXTERNAL"); !ok || h != "x2" || p != 9094 {
		t.Errorf("broker 2 on EXTERNAL: %s:%d %v", h, p, ok)
	}
	if _, _, ok := img.Brokers[2].Endpoint("PLAINTEXT"); ok {
		t.Error("broker 2 has no PLAINTEXT listener")
	}
	again, err := DecodeRecord(Record{Broker: img.Brokers[2].Record()}.Encode())
	must(t, err)
	if len(again.Broker.Endpoints) != 2 || again.Broker.Endpoints[1] != img.Brokers[2].Endpoints[1] {
		t.Errorf("endpoints after a round trip: %+v", again.Broker.Endpoints)
	}
}
