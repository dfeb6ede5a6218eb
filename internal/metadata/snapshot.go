package metadata

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
)

// SnapshotRecords returns records that rebuild the image when applied, in
// order, to an empty one: the Raft snapshot of the metadata log (KIP-630's
// role) is these records, so a snapshot needs no format of its own and
// reads like the log.
//
// Every piece of state the Builder can produce must be emitted here (a new
// record type that changes the image needs a line below); the round-trip
// test in snapshot_test.go checks a populated image.
func (im *Image) SnapshotRecords() []Record {
	var out []Record
	if im.ClusterID != "" {
		out = append(out, Record{Cluster: &ClusterRecord{ClusterID: im.ClusterID}})
	}
	for _, b := range im.SortedBrokers() {
		out = append(out, Record{Broker: b.Record()})
	}
	for _, k := range sortedStrings(im.BrokerConfigs) {
		v := im.BrokerConfigs[k]
		out = append(out, Record{Config: &ConfigRecord{ResourceType: ResourceBroker, Name: k, Value: &v}})
	}
	if im.NextProducerID != 0 {
		out = append(out, Record{ProducerIDs: &ProducerIDsRecord{NextProducerID: im.NextProducerID}})
	}
	for _, t := range im.SortedTopics() {
		out = append(out, Record{Topic: &TopicRecord{Name: t.Name, ID: t.ID, Internal: t.Internal}})
		for _, k := range sortedStrings(t.Configs) {
			v := t.Configs[k]
			out = append(out, Record{Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: t.Name, Name: k, Value: &v}})
		}
		for _, p := range t.Partitions {
			out = append(out, Record{Partition: &PartitionRecord{TopicID: t.ID, Partition: p.ID,
				Replicas: p.Replicas, ISR: p.ISR, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				Reassignment: p.ReassignmentState()}})
		}
	}
	for _, a := range im.ACLs {
		out = append(out, Record{ACL: &ACLRecord{ACL: a}})
	}
	keys := make([]ScramKey, 0, len(im.Scram))
	for k := range im.Scram {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ScramKey) int {
		if c := strings.Compare(a.User, b.User); c != 0 {
			return c
		}
		return strings.Compare(a.Mechanism, b.Mechanism)
	})
	for _, k := range keys {
		c := im.Scram[k]
		out = append(out, Record{Scram: &ScramRecord{User: k.User, Mechanism: k.Mechanism,
			Salt: c.Salt, StoredKey: c.StoredKey, ServerKey: c.ServerKey, Iterations: c.Iterations}})
	}
	for _, k := range slices.Sorted(maps.Keys(im.Quotas)) {
		q := im.Quotas[k]
		for _, name := range sortedFloats(q.Values) {
			v := q.Values[name]
			out = append(out, Record{ClientQuota: &ClientQuotaRecord{Entity: q.Entity, Key: name, Value: &v}})
		}
	}
	return out
}

func sortedFloats(m map[string]float64) []string {
	return slices.Sorted(maps.Keys(m))
}

// Snapshot is an image serialized as JSON: its log offset and the records
// that rebuild it.
type Snapshot struct {
	Offset  int64    `json:"offset"`
	Records []Record `json:"records"`
}

// EncodeSnapshot serializes an image.
func EncodeSnapshot(im *Image) []byte {
	b, err := json.Marshal(Snapshot{Offset: im.Offset, Records: im.SnapshotRecords()})
	if err != nil {
		panic(err) // plain data
	}
	return b
}

// DecodeSnapshot rebuilds an image written by EncodeSnapshot.
func DecodeSnapshot(data []byte) (*Image, error) {
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	b := NewBuilder(Empty())
	for _, r := range s.Records {
		if err := b.Apply(s.Offset, r); err != nil {
			return nil, err
		}
	}
	img := b.Image()
	img.Offset = s.Offset
	return img, nil
}

func sortedStrings(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
