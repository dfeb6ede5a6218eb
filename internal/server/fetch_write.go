package server

// Zero-copy Fetch responses. A Fetch response is mostly record bytes that
// already sit in segment files. kmsg would need them in memory: read into a
// new buffer, copied into the encoded response, copied again into the
// socket. Instead the handler keeps each partition's records as a
// log.Slice (file, position, size), this file encodes the framing around
// them exactly as kmsg.FetchResponse.AppendTo does (versions 4-16), and the
// connection writes framing through its buffer and the records with
// Slice.WriteTo, which is sendfile(2) on a plaintext socket and a
// positional copy otherwise (TLS, pipes).
//
// What must stay true: appendFetchBody produces the bytes of
// kmsg.FetchResponse.AppendTo for every version the handler serves
// (fetch_write_test.go checks it against kmsg for 4-16, with sessions,
// errors, aborted transactions and the tagged fields). A response this
// encoder does not handle (unknown tags, the v16 NodeEndpoints tag) goes
// through kmsg: fetchFrame.AppendTo reads the records into memory first.

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	qlog "github.com/quillstream/quill/internal/log"
)

// zeroCopyFetch selects the zero-copy writer; false sends every Fetch
// response through kmsg (benchmarks compare the two).
var zeroCopyFetch = true

// inlineSliceMax: record slices up to this size are read into the write
// buffer rather than sent with sendfile, which for small reads costs more
// (a buffer flush and a syscall of its own) than the copy it saves.
const inlineSliceMax = 16 << 10

// fetchFrame is a Fetch response whose record bytes are still in segment
// files. recs[i] belongs to the i-th partition in response order (topic by
// topic); when it is non-empty the partition's RecordBatches are ignored.
type fetchFrame struct {
	*kmsg.FetchResponse
	recs []qlog.Slice
}

// AppendTo is the kmsg path: it reads the record bytes into the response
// (a partition whose read fails gets KAFKA_STORAGE_ERROR and no records)
// and encodes it with kmsg.
func (f *fetchFrame) AppendTo(dst []byte) []byte {
	f.materialize()
	return f.FetchResponse.AppendTo(dst)
}

func (f *fetchFrame) materialize() {
	i := 0
	for ti := range f.Topics {
		ps := f.Topics[ti].Partitions
		for pi := range ps {
			if i < len(f.recs) && f.recs[i].Size > 0 {
				b, err := f.recs[i].Bytes()
				if err != nil {
					ps[pi].ErrorCode = kerr.KafkaStorageError.Code
					b = []byte{}
				}
				ps[pi].RecordBatches = b
				f.recs[i] = qlog.Slice{}
			}
			i++
		}
	}
}

// fetchMark is where a partition's records go in an encoded frame.
type fetchMark struct {
	pos int // offset in the encoded framing
	s   qlog.Slice
}

// appendFetchBody appends the body of resp (version resp.Version) to dst as
// kmsg encodes it, except that a partition whose recs entry is non-empty
// gets only the length of its records: the position where the bytes belong
// is appended to marks. ok is false when resp has fields this encoder does
// not write (unknown tags, the NodeEndpoints tag); use kmsg then.
func appendFetchBody(dst []byte, resp *kmsg.FetchResponse, recs []qlog.Slice, marks []fetchMark) (_ []byte, _ []fetchMark, ok bool) {
	v := resp.Version
	if v < 4 || v > 16 || len(resp.Brokers) > 0 || resp.UnknownTags.Len() > 0 {
		return dst, marks, false
	}
	flex := v >= 12
	dst = binary.BigEndian.AppendUint32(dst, uint32(resp.ThrottleMillis))
	if v >= 7 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(resp.ErrorCode))
		dst = binary.BigEndian.AppendUint32(dst, uint32(resp.SessionID))
	}
	dst = appendArrayLen(dst, len(resp.Topics), flex)
	i := 0
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if t.UnknownTags.Len() > 0 {
			return dst, marks, false
		}
		if v <= 12 {
			if flex {
				dst = binary.AppendUvarint(dst, uint64(len(t.Topic))+1)
			} else {
				dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.Topic)))
			}
			dst = append(dst, t.Topic...)
		} else {
			dst = append(dst, t.TopicID[:]...)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if p.UnknownTags.Len() > 0 || p.DivergingEpoch.UnknownTags.Len() > 0 ||
				p.CurrentLeader.UnknownTags.Len() > 0 || p.SnapshotID.UnknownTags.Len() > 0 {
				return dst, marks, false
			}
			dst = binary.BigEndian.AppendUint32(dst, uint32(p.Partition))
			dst = binary.BigEndian.AppendUint16(dst, uint16(p.ErrorCode))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.HighWatermark))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.LastStableOffset))
			if v >= 5 {
				dst = binary.BigEndian.AppendUint64(dst, uint64(p.LogStartOffset))
			}
			dst = appendNullableArrayLen(dst, len(p.AbortedTransactions), p.AbortedTransactions == nil, flex)
			for _, a := range p.AbortedTransactions {
				if a.UnknownTags.Len() > 0 {
					return dst, marks, false
				}
				dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
				dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
				if flex {
					dst = append(dst, 0)
				}
			}
			if v >= 11 {
				dst = binary.BigEndian.AppendUint32(dst, uint32(p.PreferredReadReplica))
			}
			if i < len(recs) && recs[i].Size > 0 {
				dst = appendBytesLen(dst, int(recs[i].Size), false, flex)
				marks = append(marks, fetchMark{pos: len(dst), s: recs[i]})
			} else {
				dst = appendBytesLen(dst, len(p.RecordBatches), p.RecordBatches == nil, flex)
				dst = append(dst, p.RecordBatches...)
			}
			i++
			if flex {
				dst = appendPartitionTags(dst, p)
			}
		}
		if flex {
			dst = append(dst, 0)
		}
	}
	if flex {
		dst = append(dst, 0) // no NodeEndpoints (checked above)
	}
	return dst, marks, true
}

// appendPartitionTags writes a partition's tagged fields (KIP-482): those
// that differ from their defaults, in tag order, each as tag, size, value
// (the value ends with its own empty tag section).
func appendPartitionTags(dst []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	diverging := p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1
	leader := p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1
	snapshot := p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1
	n := 0
	for _, b := range []bool{diverging, leader, snapshot} {
		if b {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	if diverging {
		dst = append(dst, 0, 4+8+1)
		dst = binary.BigEndian.AppendUint32(dst, uint32(p.DivergingEpoch.Epoch))
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.DivergingEpoch.EndOffset))
		dst = append(dst, 0)
	}
	if leader {
		dst = append(dst, 1, 4+4+1)
		dst = binary.BigEndian.AppendUint32(dst, uint32(p.CurrentLeader.LeaderID))
		dst = binary.BigEndian.AppendUint32(dst, uint32(p.CurrentLeader.LeaderEpoch))
		dst = append(dst, 0)
	}
	if snapshot {
		dst = append(dst, 2, 8+4+1)
		dst = binary.BigEndian.AppendUint64(dst, uint64(p.SnapshotID.EndOffset))
		dst = binary.BigEndian.AppendUint32(dst, uint32(p.SnapshotID.Epoch))
		dst = append(dst, 0)
	}
	return dst
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendNullableArrayLen(dst []byte, n int, null, flex bool) []byte {
	switch {
	case null && flex:
		return append(dst, 0)
	case null:
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	return appendArrayLen(dst, n, flex)
}

func appendBytesLen(dst []byte, n int, null, flex bool) []byte {
	return appendNullableArrayLen(dst, n, null, flex) // same encoding
}

// writeFetch writes a Fetch response frame: the framing through the
// connection's buffer, each partition's records from their segment file.
// done is false when the response needs the kmsg path instead.
func (c *conn) writeFetch(r *request, f *fetchFrame) (done bool, err error) {
	b := c.out[:0]
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(r.corr))
	if f.Version >= 12 {
		b = append(b, 0) // response header v1: empty tag section
	}
	b, marks, ok := appendFetchBody(b, f.FetchResponse, f.recs, c.marks[:0])
	if !ok {
		return false, nil
	}
	size := int64(len(b) - 4)
	for _, m := range marks {
		size += m.s.Size
	}
	if size > 1<<31-1 {
		return true, fmt.Errorf("fetch response of %d bytes", size)
	}
	binary.BigEndian.PutUint32(b, uint32(size))
	prev := 0
	for _, m := range marks {
		if _, err := c.bw.Write(b[prev:m.pos]); err != nil {
			return true, err
		}
		prev = m.pos
		if err := c.writeSlice(m.s); err != nil {
			return true, err
		}
	}
	_, err = c.bw.Write(b[prev:])
	clear(marks) // drop the file references
	c.marks = marks[:0]
	if cap(b) <= 1<<20 {
		c.out = b[:0]
	}
	return true, err
}

// writeSlice writes one partition's records: small ones copied into the
// write buffer, larger ones after a flush straight from the file.
func (c *conn) writeSlice(s qlog.Slice) error {
	if s.Size <= inlineSliceMax {
		if int64(c.bw.Available()) < s.Size {
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
		if int64(c.bw.Available()) >= s.Size {
			buf := c.bw.AvailableBuffer()[:s.Size]
			if n, err := s.File.ReadAt(buf, s.Pos); n < len(buf) {
				return fmt.Errorf("fetch: read %d of %d record bytes: %w", n, len(buf), err)
			}
			_, err := c.bw.Write(buf)
			return err
		}
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	n, err := s.WriteTo(c.nc)
	if err == nil && n < s.Size {
		err = fmt.Errorf("fetch: wrote %d of %d record bytes", n, s.Size)
	}
	return err
}

// fetchResponseOf returns the kmsg response of a Fetch handler's result,
// zero-copy or not. Topics appended to it after the handler (partitions
// past the end of recs) are encoded from their RecordBatches.
func fetchResponseOf(resp kmsg.Response) *kmsg.FetchResponse {
	if f, ok := resp.(*fetchFrame); ok {
		return f.FetchResponse
	}
	return resp.(*kmsg.FetchResponse)
}
