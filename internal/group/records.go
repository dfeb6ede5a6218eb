package group

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one __consumer_offsets record. Key and Value use Kafka's formats
// (see docs/groups.md); a nil Value is a tombstone.
//
//	offset commit   key v1: i16 version=1 | string group | string topic | i32 partition
//	                value v3: i16 version=3 | i64 offset | i32 leaderEpoch | string metadata | i64 commitTimestamp
//	group metadata  key v2: i16 version=2 | string group
//	                value v3: i16 version=3 | string protocolType | i32 generation | nullable string protocol |
//	                          nullable string leader | i64 currentStateTimestamp |
//	                          [member: memberId, nullable groupInstanceId, clientId, clientHost,
//	                                   i32 rebalanceTimeout, i32 sessionTimeout, bytes subscription, bytes assignment]
//
// Key versions 3-8 are KIP-848 consumer group records (cgrecords.go); later
// ones (share and streams groups) are skipped on replay.
//
// On replay, a record of a transactional batch (TxnOffsetCommit) has
// Transactional set and its ProducerID; a transaction marker has Marker set
// (and ProducerID) and no key or value (txn.go).
type Record struct {
	Key, Value    []byte
	Transactional bool
	ProducerID    int64
	Marker        Marker
}

// ErrCorruptRecord marks a __consumer_offsets record that cannot be decoded.
var ErrCorruptRecord = errors.New("corrupt __consumer_offsets record")

const (
	offsetKeyVersion   = 1
	offsetValueVersion = 3
	groupKeyVersion    = 2
	groupValueVersion  = 3
)

type recordKind int8

const (
	kindSkip recordKind = iota
	kindOffset
	kindGroup
	kindCG // a KIP-848 consumer group record
)

// decodedRecord is one replayed record. For kindOffset, offset is nil for a
// tombstone; for kindGroup, meta is nil for a tombstone.
type decodedRecord struct {
	kind      recordKind
	group     string
	topic     string
	partition int32
	offset    *kmsg.OffsetCommitValue
	meta      *kmsg.GroupMetadataValue
	cgKey     cgKey
	cgValue   any // *cg...Value; nil for a tombstone
}

// decodeRecord parses a replayed record. The bytes come from disk: anything
// malformed yields an error wrapping ErrCorruptRecord, never a panic. The
// result does not alias r.
func decodeRecord(r Record) (decodedRecord, error) {
	if len(r.Key) < 2 {
		return decodedRecord{}, fmt.Errorf("%w: key of %d bytes", ErrCorruptRecord, len(r.Key))
	}
	version := int16(uint16(r.Key[0])<<8 | uint16(r.Key[1]))
	switch version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(r.Key); err != nil {
			return decodedRecord{}, fmt.Errorf("%w: offset commit key: %v", ErrCorruptRecord, err)
		}
		d := decodedRecord{kind: kindOffset, group: k.Group, topic: k.Topic, partition: k.Partition}
		if r.Value == nil {
			return d, nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(r.Value); err != nil {
			return decodedRecord{}, fmt.Errorf("%w: offset commit value for %q %s[%d]: %v", ErrCorruptRecord, k.Group, k.Topic, k.Partition, err)
		}
		if v.Version < 0 || v.Version > 4 {
			return decodedRecord{}, fmt.Errorf("%w: offset commit value version %d", ErrCorruptRecord, v.Version)
		}
		if v.Version < 3 {
			v.LeaderEpoch = -1
		}
		d.offset = &v
		return d, nil
	case 2:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			return decodedRecord{}, fmt.Errorf("%w: group metadata key: %v", ErrCorruptRecord, err)
		}
		d := decodedRecord{kind: kindGroup, group: k.Group}
		if r.Value == nil {
			return d, nil
		}
		var v kmsg.GroupMetadataValue
		if err := v.ReadFrom(r.Value); err != nil {
			return decodedRecord{}, fmt.Errorf("%w: group metadata value for %q: %v", ErrCorruptRecord, k.Group, err)
		}
		if v.Version < 0 || v.Version > 4 {
			return decodedRecord{}, fmt.Errorf("%w: group metadata value version %d", ErrCorruptRecord, v.Version)
		}
		for i := range v.Members {
			m := &v.Members[i]
			m.Subscription = bytes.Clone(m.Subscription)
			m.Assignment = bytes.Clone(m.Assignment)
			if m.RebalanceTimeoutMillis < 0 {
				m.RebalanceTimeoutMillis = m.SessionTimeoutMillis
			}
		}
		d.meta = &v
		return d, nil
	case cgMetadataKey, cgPartitionMetadataKey, cgMemberMetadataKey, cgTargetMetadataKey, cgTargetMemberKey, cgCurrentAssignmentKey:
		k, err := decodeCGKey(r.Key)
		if err != nil {
			return decodedRecord{}, err
		}
		d := decodedRecord{kind: kindCG, group: k.group, cgKey: k}
		if r.Value == nil {
			return d, nil
		}
		if d.cgValue, err = decodeCGValue(version, r.Value); err != nil {
			return decodedRecord{}, fmt.Errorf("%w (group %q)", err, k.group)
		}
		return d, nil
	default:
		if version < 0 {
			return decodedRecord{}, fmt.Errorf("%w: key version %d", ErrCorruptRecord, version)
		}
		return decodedRecord{kind: kindSkip}, nil
	}
}

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetRecord(group, topic string, partition int32, o offsetEntry) Record {
	v := kmsg.OffsetCommitValue{
		Version:         offsetValueVersion,
		Offset:          o.offset,
		LeaderEpoch:     o.leaderEpoch,
		Metadata:        o.metadata,
		CommitTimestamp: o.commitTime.UnixMilli(),
	}
	return Record{Key: offsetKey(group, topic, partition), Value: v.AppendTo(nil)}
}

func offsetTombstone(group, topic string, partition int32) Record {
	return Record{Key: offsetKey(group, topic, partition)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) Record { return Record{Key: groupKey(group)} }

// groupMetadataRecord snapshots g. REQUIRES: g.mu held.
func groupMetadataRecord(g *group) Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	if !g.stateTime.IsZero() {
		v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	}
	for _, m := range g.orderedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout.Milliseconds())
		vm.SessionTimeoutMillis = int32(m.sessionTimeout.Milliseconds())
		vm.Subscription = m.metadataFor(g.protocol)
		vm.Assignment = m.assignment
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}
