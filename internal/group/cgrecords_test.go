package group

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func cgSampleValues() map[int16]any {
	inst, rack, asg := "inst", "r1", "uniform"
	return map[int16]any{
		cgMetadataKey: &cgMetadataValue{Epoch: 7, MetadataHash: -12345, CreationTimeMs: 1700000000000},
		cgPartitionMetadataKey: &cgPartitionMetadataValue{Topics: []cgTopicMetadata{
			{TopicID: [16]byte{1, 2}, TopicName: "t1", NumPartitions: 3, Partitions: []cgPartitionRacks{{Partition: 0, Racks: []string{"a", "b"}}}},
			{TopicID: [16]byte{3}, TopicName: "t2", NumPartitions: 1, Partitions: []cgPartitionRacks{}},
		}},
		cgMemberMetadataKey: &cgMemberMetadataValue{InstanceID: &inst, RackID: &rack, ClientID: "c", ClientHost: "/127.0.0.1",
			SubscribedTopicNames: []string{"t1", "t2"}, RebalanceTimeoutMs: 30000, ServerAssignor: &asg,
			Classic: &cgClassicMemberMetadata{SessionTimeoutMs: 45000, SupportedProtocols: []cgClassicProtocol{{Name: "range", Metadata: []byte{0, 1}}}}},
		cgTargetMetadataKey: &cgTargetMetadataValue{AssignmentEpoch: 7, AssignmentTimestamp: 99},
		cgTargetMemberKey:   &cgTargetMemberValue{Topics: []cgTopicPartitions{{TopicID: [16]byte{1, 2}, Partitions: []int32{0, 2}}}},
		cgCurrentAssignmentKey: &cgCurrentAssignmentValue{MemberEpoch: 7, PreviousMemberEpoch: 6, State: memberStateUnrevokedPartitions,
			Assigned:          []cgTopicPartitions{{TopicID: [16]byte{1, 2}, Partitions: []int32{0}}},
			PendingRevocation: []cgTopicPartitions{{TopicID: [16]byte{1, 2}, Partitions: []int32{1}}}},
	}
}

func encodeCGValue(v any) []byte {
	return v.(interface{ encode() []byte }).encode()
}

func TestCGRecordsRoundTrip(t *testing.T) {
	for version, v := range cgSampleValues() {
		k := cgKey{version: version, group: "grp"}
		if cgKeyHasMember(version) {
			k.member = "mem"
		}
		gotK, err := decodeCGKey(k.encode())
		if err != nil || gotK != k {
			t.Fatalf("key v%d: %+v, %v", version, gotK, err)
		}
		b := encodeCGValue(v)
		got, err := decodeCGValue(version, b)
		if err != nil {
			t.Fatalf("value v%d: %v", version, err)
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("value v%d:\n got %+v\nwant %+v", version, got, v)
		}
		// Through decodeRecord, as replay sees it.
		d, err := decodeRecord(Record{Key: k.encode(), Value: b})
		if err != nil || d.kind != kindCG || d.group != "grp" || !reflect.DeepEqual(d.cgValue, v) {
			t.Fatalf("decodeRecord v%d: %+v %v", version, d, err)
		}
		// Every truncation is an error, never a panic.
		for n := range len(b) {
			if _, err := decodeCGValue(version, b[:n]); !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("value v%d truncated to %d: %v", version, n, err)
			}
		}
	}
}

// The exact bytes of Kafka's formats for two small records.
func TestCGRecordsWireFormat(t *testing.T) {
	k := cgKey{version: cgCurrentAssignmentKey, group: "g", member: "m"}
	if want := []byte{0, 8, 0, 1, 'g', 0, 1, 'm'}; !bytes.Equal(k.encode(), want) {
		t.Fatalf("key % x", k.encode())
	}
	v := cgMetadataValue{Epoch: 5, CreationTimeMs: -1}
	if want := []byte{0, 0, 0, 0, 0, 5, 0}; !bytes.Equal(v.encode(), want) {
		t.Fatalf("metadata value % x", v.encode())
	}
	v.MetadataHash = 1
	want := []byte{0, 0, 0, 0, 0, 5, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1}
	if !bytes.Equal(v.encode(), want) {
		t.Fatalf("metadata value with hash % x", v.encode())
	}
	tm := cgTargetMemberValue{Topics: []cgTopicPartitions{{TopicID: [16]byte{9}, Partitions: []int32{3}}}}
	want = append([]byte{0, 0, 2, 9}, make([]byte, 15)...)
	want = append(want, 2, 0, 0, 0, 3, 0, 0)
	if !bytes.Equal(tm.encode(), want) {
		t.Fatalf("target member value % x", tm.encode())
	}
}

// Tagged fields a newer Kafka adds are skipped; a wrong value version or
// trailing bytes are corrupt.
func TestCGRecordsUnknownTagsAndErrors(t *testing.T) {
	// ConsumerGroupMetadataValue with tags 0, 1 and an unknown tag 5.
	b := []byte{0, 0, 0, 0, 0, 1, 3,
		0, 8, 0, 0, 0, 0, 0, 0, 0, 2,
		1, 8, 0, 0, 0, 0, 0, 0, 0, 3,
		5, 2, 0xaa, 0xbb}
	v, err := decodeCGMetadataValue(b)
	if err != nil || v.Epoch != 1 || v.MetadataHash != 2 || v.CreationTimeMs != 3 {
		t.Fatalf("%+v %v", v, err)
	}
	// The KIP-1251 AssignmentEpochs tag inside TopicPartitions is skipped.
	tp := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2}
	tp = append(tp, make([]byte, 16)...)
	tp = append(tp, 2, 0, 0, 0, 4, 1, 0, 5, 2, 0, 0, 0, 9) // partitions [4], tag 0: [9]
	tp = append(tp, 1, 0)                                  // empty pending revocation, no tags
	cv, err := decodeCGCurrentAssignmentValue(tp)
	if err != nil || len(cv.Assigned) != 1 || cv.Assigned[0].Partitions[0] != 4 {
		t.Fatalf("%+v %v", cv, err)
	}
	for name, b := range map[string][]byte{
		"value version 1": {0, 1, 0, 0, 0, 1, 0},
		"trailing":        {0, 0, 0, 0, 0, 1, 0, 0},
		"huge array":      {0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"null key group":  nil,
	} {
		if name == "null key group" {
			if _, err := decodeCGKey([]byte{0, 3, 0xff, 0xff}); !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("%s: %v", name, err)
			}
			continue
		}
		version := int16(cgMetadataKey)
		if name == "huge array" {
			version = cgTargetMemberKey
		}
		if _, err := decodeCGValue(version, b); !errors.Is(err, ErrCorruptRecord) {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// FuzzCGRecord: consumer group record values come from disk. Decoding never
// panics, and whatever decodes encodes back to bytes that decode the same.
func FuzzCGRecord(f *testing.F) {
	for version, v := range cgSampleValues() {
		f.Add(version, encodeCGValue(v))
	}
	f.Fuzz(func(t *testing.T, version int16, b []byte) {
		version = cgMetadataKey + (version%6+6)%6
		v, err := decodeCGValue(version, b)
		if err != nil {
			return
		}
		again, err := decodeCGValue(version, encodeCGValue(v))
		if err != nil {
			t.Fatalf("re-encoded v%d does not decode: %v", version, err)
		}
		if !reflect.DeepEqual(v, again) {
			t.Fatalf("v%d round trip:\n %+v\n %+v", version, v, again)
		}
	})
}
