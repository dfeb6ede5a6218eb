package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// Codec for the KIP-848 consumer group records of __consumer_offsets, in
// Kafka's formats (group-coordinator's ConsumerGroup*Key/Value schemas).
// kmsg has no types for them, so they are written by hand here; see
// docs/decisions/0007-consumer-group-records.md.
//
// Keys are not flexible: i16 version | string group [| string member], with
// int16-length strings. Values are i16 version=0 followed by the flexible
// encoding: compact strings and arrays (uvarint length+1, 0 for null), uuids
// as 16 bytes, and a tagged-field section after every struct (uvarint count,
// then uvarint tag | uvarint size | bytes). Unknown tags are skipped, so
// records written by newer Kafka versions still decode.
//
//	key v3 ConsumerGroupMetadata             group      → Epoch i32 {0: MetadataHash i64, 1: CreationTimeMs i64}
//	key v4 ConsumerGroupPartitionMetadata    group      → [TopicId uuid, TopicName, NumPartitions i32, [Partition i32, [Racks]]]
//	key v5 ConsumerGroupMemberMetadata       group,member → InstanceId?, RackId?, ClientId, ClientHost, [SubscribedTopicNames],
//	                                                      SubscribedTopicRegex?, RebalanceTimeoutMs i32, ServerAssignor?,
//	                                                      {0: ClassicMemberMetadata? (SessionTimeoutMs i32, [Name, Metadata bytes])}
//	key v6 ConsumerGroupTargetAssignmentMetadata group  → AssignmentEpoch i32 {0: AssignmentTimestamp i64}
//	key v7 ConsumerGroupTargetAssignmentMember group,member → [TopicId uuid, [Partitions i32]]
//	key v8 ConsumerGroupCurrentMemberAssignment group,member → MemberEpoch i32, PreviousMemberEpoch i32, State i8,
//	                                                      [AssignedPartitions], [PartitionsPendingRevocation]

const (
	cgMetadataKey          = 3
	cgPartitionMetadataKey = 4
	cgMemberMetadataKey    = 5
	cgTargetMetadataKey    = 6
	cgTargetMemberKey      = 7
	cgCurrentAssignmentKey = 8
)

// Kafka's MemberState values for the current assignment record.
const (
	memberStateStable               int8 = 0
	memberStateUnrevokedPartitions  int8 = 1
	memberStateUnreleasedPartitions int8 = 2
)

// cgKey is the key of a consumer group record; member is empty for the
// group-level keys (3, 4, 6).
type cgKey struct {
	version int16
	group   string
	member  string
}

func cgKeyHasMember(version int16) bool {
	return version == cgMemberMetadataKey || version == cgTargetMemberKey || version == cgCurrentAssignmentKey
}

type cgMetadataValue struct {
	Epoch          int32
	MetadataHash   int64
	CreationTimeMs int64 // -1: unknown
}

type cgTopicMetadata struct {
	TopicID       [16]byte
	TopicName     string
	NumPartitions int32
	Partitions    []cgPartitionRacks
}

type cgPartitionRacks struct {
	Partition int32
	Racks     []string
}

type cgPartitionMetadataValue struct {
	Topics []cgTopicMetadata
}

type cgClassicProtocol struct {
	Name     string
	Metadata []byte
}

type cgClassicMemberMetadata struct {
	SessionTimeoutMs   int32
	SupportedProtocols []cgClassicProtocol
}

type cgMemberMetadataValue struct {
	InstanceID           *string
	RackID               *string
	ClientID             string
	ClientHost           string
	SubscribedTopicNames []string
	SubscribedTopicRegex *string
	RebalanceTimeoutMs   int32
	ServerAssignor       *string
	Classic              *cgClassicMemberMetadata // nil: a consumer-protocol member
}

type cgTargetMetadataValue struct {
	AssignmentEpoch     int32
	AssignmentTimestamp int64
}

type cgTopicPartitions struct {
	TopicID    [16]byte
	Partitions []int32
}

type cgTargetMemberValue struct {
	Topics []cgTopicPartitions
}

type cgCurrentAssignmentValue struct {
	MemberEpoch         int32
	PreviousMemberEpoch int32
	State               int8
	Assigned            []cgTopicPartitions
	PendingRevocation   []cgTopicPartitions
}

// ---- encoding ----

type cgWriter struct{ b []byte }

func (w *cgWriter) i8(v int8)   { w.b = append(w.b, byte(v)) }
func (w *cgWriter) i16(v int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *cgWriter) i32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *cgWriter) i64(v int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *cgWriter) uvarint(v uint64) {
	w.b = binary.AppendUvarint(w.b, v)
}
func (w *cgWriter) uuid(v [16]byte) { w.b = append(w.b, v[:]...) }

// str is a non-flexible (key) string.
func (w *cgWriter) str(s string) { w.i16(int16(len(s))); w.b = append(w.b, s...) }

func (w *cgWriter) cstr(s string) { w.uvarint(uint64(len(s)) + 1); w.b = append(w.b, s...) }
func (w *cgWriter) cnstr(s *string) {
	if s == nil {
		w.uvarint(0)
		return
	}
	w.cstr(*s)
}
func (w *cgWriter) cbytes(b []byte) { w.uvarint(uint64(len(b)) + 1); w.b = append(w.b, b...) }
func (w *cgWriter) alen(n int)      { w.uvarint(uint64(n) + 1) }
func (w *cgWriter) noTags()         { w.uvarint(0) }

func (w *cgWriter) i32s(ps []int32) {
	w.alen(len(ps))
	for _, p := range ps {
		w.i32(p)
	}
}

func (w *cgWriter) topicPartitions(ts []cgTopicPartitions) {
	w.alen(len(ts))
	for _, t := range ts {
		w.uuid(t.TopicID)
		w.i32s(t.Partitions)
		w.noTags()
	}
}

// tag writes one tagged field whose body is produced by body.
func (w *cgWriter) tag(tag uint64, body func(*cgWriter)) {
	var inner cgWriter
	body(&inner)
	w.uvarint(tag)
	w.uvarint(uint64(len(inner.b)))
	w.b = append(w.b, inner.b...)
}

func (k cgKey) encode() []byte {
	var w cgWriter
	w.i16(k.version)
	w.str(k.group)
	if cgKeyHasMember(k.version) {
		w.str(k.member)
	}
	return w.b
}

func (v *cgMetadataValue) encode() []byte {
	var w cgWriter
	w.i16(0)
	w.i32(v.Epoch)
	n := 0
	if v.MetadataHash != 0 {
		n++
	}
	if v.CreationTimeMs != -1 {
		n++
	}
	w.uvarint(uint64(n))
	if v.MetadataHash != 0 {
		w.tag(0, func(t *cgWriter) { t.i64(v.MetadataHash) })
	}
	if v.CreationTimeMs != -1 {
		w.tag(1, func(t *cgWriter) { t.i64(v.CreationTimeMs) })
	}
	return w.b
}

func (v *cgPartitionMetadataValue) encode() []byte {
	var w cgWriter
	w.i16(0)
	w.alen(len(v.Topics))
	for _, t := range v.Topics {
		w.uuid(t.TopicID)
		w.cstr(t.TopicName)
		w.i32(t.NumPartitions)
		w.alen(len(t.Partitions))
		for _, p := range t.Partitions {
			w.i32(p.Partition)
			w.alen(len(p.Racks))
			for _, r := range p.Racks {
				w.cstr(r)
			}
			w.noTags()
		}
		w.noTags()
	}
	w.noTags()
	return w.b
}

func (v *cgMemberMetadataValue) encode() []byte {
	var w cgWriter
	w.i16(0)
	w.cnstr(v.InstanceID)
	w.cnstr(v.RackID)
	w.cstr(v.ClientID)
	w.cstr(v.ClientHost)
	w.alen(len(v.SubscribedTopicNames))
	for _, t := range v.SubscribedTopicNames {
		w.cstr(t)
	}
	w.cnstr(v.SubscribedTopicRegex)
	w.i32(v.RebalanceTimeoutMs)
	w.cnstr(v.ServerAssignor)
	if v.Classic == nil {
		w.noTags()
		return w.b
	}
	w.uvarint(1)
	w.tag(0, func(t *cgWriter) {
		t.i32(v.Classic.SessionTimeoutMs)
		t.alen(len(v.Classic.SupportedProtocols))
		for _, p := range v.Classic.SupportedProtocols {
			t.cstr(p.Name)
			t.cbytes(p.Metadata)
			t.noTags()
		}
		t.noTags()
	})
	return w.b
}

func (v *cgTargetMetadataValue) encode() []byte {
	var w cgWriter
	w.i16(0)
	w.i32(v.AssignmentEpoch)
	if v.AssignmentTimestamp == 0 {
		w.noTags()
		return w.b
	}
	w.uvarint(1)
	w.tag(0, func(t *cgWriter) { t.i64(v.AssignmentTimestamp) })
	return w.b
}

func (v *cgTargetMemberValue) encode() []byte {
	var w cgWriter
	w.i16(0)
	w.topicPartitions(v.Topics)
	w.noTags()
	return w.b
}

func (v *cgCurrentAssignmentValue) encode() []byte {
	var w cgWriter
	w.i16(0)
	w.i32(v.MemberEpoch)
	w.i32(v.PreviousMemberEpoch)
	w.i8(v.State)
	w.topicPartitions(v.Assigned)
	w.topicPartitions(v.PendingRevocation)
	w.noTags()
	return w.b
}

// ---- decoding ----

var errCGShort = errors.New("truncated")

// cgReader decodes untrusted bytes: every read is bounds checked and the
// first failure sticks in err; lengths are checked against what remains
// before anything is allocated.
type cgReader struct {
	b   []byte
	err error
}

func (r *cgReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *cgReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b) {
		r.fail(errCGShort)
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *cgReader) i8() int8 {
	if b := r.take(1); b != nil {
		return int8(b[0])
	}
	return 0
}

func (r *cgReader) i16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *cgReader) i32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *cgReader) i64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *cgReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errors.New("bad uvarint"))
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *cgReader) uuid() (id [16]byte) {
	copy(id[:], r.take(16))
	return id
}

// str is a non-flexible (key) string.
func (r *cgReader) str() string {
	n := r.i16()
	if n < 0 {
		r.fail(errors.New("null key string"))
		return ""
	}
	return string(r.take(int(n)))
}

// clen reads a compact length: -1 for null.
func (r *cgReader) clen() int {
	v := r.uvarint()
	if r.err != nil {
		return 0
	}
	if v > math.MaxInt32 || int(v)-1 > len(r.b) {
		r.fail(fmt.Errorf("length %d beyond the %d bytes left", int64(v)-1, len(r.b)))
		return 0
	}
	return int(v) - 1
}

func (r *cgReader) cnstr() *string {
	n := r.clen()
	if n < 0 || r.err != nil {
		return nil
	}
	s := string(r.take(n))
	return &s
}

func (r *cgReader) cstr() string {
	n := r.clen()
	if n < 0 {
		r.fail(errors.New("null string"))
		return ""
	}
	return string(r.take(n))
}

func (r *cgReader) cbytes() []byte {
	n := r.clen()
	if n < 0 {
		r.fail(errors.New("null bytes"))
		return nil
	}
	return append([]byte{}, r.take(n)...)
}

// alen reads a non-null compact array length; each element takes at least
// min bytes, which bounds the count by what remains.
func (r *cgReader) alen(min int) int {
	n := r.clen()
	if r.err != nil {
		return 0
	}
	if n < 0 {
		r.fail(errors.New("null array"))
		return 0
	}
	if n*min > len(r.b) {
		r.fail(fmt.Errorf("array of %d beyond the %d bytes left", n, len(r.b)))
		return 0
	}
	return n
}

func (r *cgReader) i32s() []int32 {
	n := r.alen(4)
	out := make([]int32, 0, n)
	for range n {
		out = append(out, r.i32())
	}
	return out
}

// tags reads a tagged-field section, handing known tags to f with a reader
// over their body; unknown ones are skipped.
func (r *cgReader) tags(f func(tag uint64, body *cgReader)) {
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		tag := r.uvarint()
		size := r.clen() + 1 // a size, not a compact length
		body := r.take(size)
		if r.err != nil {
			return
		}
		if f != nil {
			br := &cgReader{b: body}
			f(tag, br)
			if br.err != nil {
				r.fail(fmt.Errorf("tag %d: %w", tag, br.err))
			}
		}
	}
}

func (r *cgReader) topicPartitions() []cgTopicPartitions {
	n := r.alen(18)
	out := make([]cgTopicPartitions, 0, n)
	for range n {
		t := cgTopicPartitions{TopicID: r.uuid(), Partitions: r.i32s()}
		r.tags(nil) // AssignmentEpochs (KIP-1251) and later additions
		out = append(out, t)
	}
	return out
}

// done checks the value was read without error and completely.
func (r *cgReader) done(what string) error {
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCorruptRecord, what, r.err)
	}
	return nil
}

func decodeCGKey(b []byte) (cgKey, error) {
	r := &cgReader{b: b}
	k := cgKey{version: r.i16()}
	k.group = r.str()
	if cgKeyHasMember(k.version) {
		k.member = r.str()
	}
	return k, r.done(fmt.Sprintf("consumer group key v%d", k.version))
}

// valueReader checks the value version (only 0 is defined).
func valueReader(b []byte) *cgReader {
	r := &cgReader{b: b}
	if v := r.i16(); r.err == nil && v != 0 {
		r.fail(fmt.Errorf("value version %d", v))
	}
	return r
}

func decodeCGMetadataValue(b []byte) (*cgMetadataValue, error) {
	r := valueReader(b)
	v := &cgMetadataValue{Epoch: r.i32(), CreationTimeMs: -1}
	r.tags(func(tag uint64, t *cgReader) {
		switch tag {
		case 0:
			v.MetadataHash = t.i64()
		case 1:
			v.CreationTimeMs = t.i64()
		}
	})
	return v, r.done("consumer group metadata")
}

func decodeCGPartitionMetadataValue(b []byte) (*cgPartitionMetadataValue, error) {
	r := valueReader(b)
	n := r.alen(23)
	v := &cgPartitionMetadataValue{Topics: make([]cgTopicMetadata, 0, n)}
	for range n {
		t := cgTopicMetadata{TopicID: r.uuid(), TopicName: r.cstr(), NumPartitions: r.i32()}
		np := r.alen(6)
		t.Partitions = make([]cgPartitionRacks, 0, np)
		for range np {
			p := cgPartitionRacks{Partition: r.i32()}
			nr := r.alen(1)
			p.Racks = make([]string, 0, nr)
			for range nr {
				p.Racks = append(p.Racks, r.cstr())
			}
			r.tags(nil)
			t.Partitions = append(t.Partitions, p)
		}
		r.tags(nil)
		v.Topics = append(v.Topics, t)
	}
	r.tags(nil)
	return v, r.done("consumer group partition metadata")
}

func decodeCGMemberMetadataValue(b []byte) (*cgMemberMetadataValue, error) {
	r := valueReader(b)
	v := &cgMemberMetadataValue{InstanceID: r.cnstr(), RackID: r.cnstr(), ClientID: r.cstr(), ClientHost: r.cstr()}
	n := r.alen(1)
	v.SubscribedTopicNames = make([]string, 0, n)
	for range n {
		v.SubscribedTopicNames = append(v.SubscribedTopicNames, r.cstr())
	}
	v.SubscribedTopicRegex = r.cnstr()
	v.RebalanceTimeoutMs = r.i32()
	v.ServerAssignor = r.cnstr()
	r.tags(func(tag uint64, t *cgReader) {
		if tag != 0 {
			return
		}
		// A nullable struct in a tagged field: Kafka writes it only when
		// non-null, so the body is the struct itself.
		c := &cgClassicMemberMetadata{SessionTimeoutMs: t.i32()}
		np := t.alen(3)
		c.SupportedProtocols = make([]cgClassicProtocol, 0, np)
		for range np {
			c.SupportedProtocols = append(c.SupportedProtocols, cgClassicProtocol{Name: t.cstr(), Metadata: t.cbytes()})
			t.tags(nil)
		}
		t.tags(nil)
		if t.err == nil && len(t.b) > 0 {
			t.fail(errors.New("trailing bytes in classic member metadata"))
		}
		v.Classic = c
	})
	return v, r.done("consumer group member metadata")
}

func decodeCGTargetMetadataValue(b []byte) (*cgTargetMetadataValue, error) {
	r := valueReader(b)
	v := &cgTargetMetadataValue{AssignmentEpoch: r.i32()}
	r.tags(func(tag uint64, t *cgReader) {
		if tag == 0 {
			v.AssignmentTimestamp = t.i64()
		}
	})
	return v, r.done("consumer group target assignment metadata")
}

func decodeCGTargetMemberValue(b []byte) (*cgTargetMemberValue, error) {
	r := valueReader(b)
	v := &cgTargetMemberValue{Topics: r.topicPartitions()}
	r.tags(nil)
	return v, r.done("consumer group target assignment member")
}

func decodeCGCurrentAssignmentValue(b []byte) (*cgCurrentAssignmentValue, error) {
	r := valueReader(b)
	v := &cgCurrentAssignmentValue{MemberEpoch: r.i32(), PreviousMemberEpoch: r.i32(), State: r.i8()}
	v.Assigned = r.topicPartitions()
	v.PendingRevocation = r.topicPartitions()
	r.tags(nil)
	return v, r.done("consumer group current member assignment")
}

// decodeCGValue decodes the value of a consumer group record of the given
// key version into its *cg...Value type.
func decodeCGValue(version int16, b []byte) (any, error) {
	switch version {
	case cgMetadataKey:
		return decodeCGMetadataValue(b)
	case cgPartitionMetadataKey:
		return decodeCGPartitionMetadataValue(b)
	case cgMemberMetadataKey:
		return decodeCGMemberMetadataValue(b)
	case cgTargetMetadataKey:
		return decodeCGTargetMetadataValue(b)
	case cgTargetMemberKey:
		return decodeCGTargetMemberValue(b)
	case cgCurrentAssignmentKey:
		return decodeCGCurrentAssignmentValue(b)
	}
	return nil, fmt.Errorf("%w: key version %d is not a consumer group record", ErrCorruptRecord, version)
}
