package metadata

import (
	"reflect"
	"testing"
)

func TestSnapshotRoundTrip(t *testing.T) {
	b := NewBuilder(Empty())
	v := "1000"
	rate := 1024.5
	id := NewUUID()
	recs := []Record{
		{Cluster: &ClusterRecord{ClusterID: "c1"}},
		{Broker: &BrokerRecord{ID: 1, Host: "h", Port: 9092, Rack: "r1", Epoch: 7, Incarnation: "x", Fenced: true}},
		{Broker: &BrokerRecord{ID: 2, Host: "h", Port: 9093, Endpoints: []Endpoint{
			{Name: "INTERNAL", Host: "h", Port: 9093, Protocol: "SASL_SSL"}, {Name: "EXTERNAL", Host: "e", Port: 19093, Protocol: "SSL"}}}},
		{Config: &ConfigRecord{ResourceType: ResourceBroker, Name: "log.retention.ms", Value: &v}},
		{ProducerIDs: &ProducerIDsRecord{NextProducerID: 5000}},
		{Topic: &TopicRecord{Name: "t", ID: id}},
		{Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: "t", Name: "retention.ms", Value: &v}},
		{Partition: &PartitionRecord{TopicID: id, Partition: 0, Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 3, PartitionEpoch: 4}},
		{ACL: &ACLRecord{ACL: ACL{Principal: "User:a", Host: "*"}}},
		{Scram: &ScramRecord{User: "u", Mechanism: "SCRAM-SHA-256", Salt: []byte{1}, StoredKey: []byte{2}, ServerKey: []byte{3}, Iterations: 4096}},
		{ClientQuota: &ClientQuotaRecord{Entity: []QuotaEntity{{Type: "user", Name: &v}}, Key: "producer_byte_rate", Value: &rate}},
		{ClientQuota: &ClientQuotaRecord{Entity: []QuotaEntity{{Type: "client-id"}}, Key: "consumer_byte_rate", Value: &rate}},
	}
	for i, r := range recs {
		if err := b.Apply(int64(i), r); err != nil {
			t.Fatal(err)
		}
	}
	want := b.Image()
	got, err := DecodeSnapshot(EncodeSnapshot(want))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("snapshot round trip:\n got %+v\nwant %+v", got, want)
	}
}

// A new Image field must be carried by snapshots: this test fails until
// SnapshotRecords emits it and it is listed here.
func TestSnapshotCoversEveryImageField(t *testing.T) {
	covered := map[string]bool{"ClusterID": true, "Offset": true, "Topics": true, "TopicIDs": true, "Brokers": true,
		"BrokerConfigs": true, "NextProducerID": true, "ACLs": true, "Scram": true, "Quotas": true}
	ty := reflect.TypeOf(Image{})
	for i := range ty.NumField() {
		if f := ty.Field(i).Name; !covered[f] {
			t.Errorf("Image.%s is not in metadata snapshots: emit it in SnapshotRecords (snapshot.go) and list it here", f)
		}
	}
}
