package controller

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// The metadata log file, metadata.log, is a sequence of frames:
//
//	length uint32 (of payload) | crc32c uint32 (of payload) | payload
//
// where the payload is one JSON-encoded metadata.Record. Frames are appended
// and fsynced before a change is applied, so an acknowledged metadata change
// survives kill -9. A torn or corrupt tail (a crash mid-append) is truncated
// on open. The frame index is the record's metadata offset.
//
// This is the single-voter form of the metadata log; a Raft quorum replicates
// the same records.

const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxFrame bounds one record; a larger length field is corruption.
const maxFrame = 64 << 20

type fileStore struct {
	f    *os.File
	next int64 // offset of the next record
}

func openStore(dir string, replay func(off int64, payload []byte) error) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "metadata.log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	s := &fileStore{f: f}
	r := bufio.NewReaderSize(f, 1<<16)
	var good int64
	hdr := make([]byte, frameHeader)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			break // EOF or a torn header: the tail ends here
		}
		n := binary.BigEndian.Uint32(hdr)
		sum := binary.BigEndian.Uint32(hdr[4:])
		if n > maxFrame {
			break
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		if crc32.Checksum(payload, castagnoli) != sum {
			break
		}
		if err := replay(s.next, payload); err != nil {
			f.Close()
			return nil, fmt.Errorf("controller: replay metadata record %d: %w", s.next, err)
		}
		s.next++
		good += int64(frameHeader) + int64(n)
	}
	if st, err := f.Stat(); err == nil && st.Size() != good {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// append writes payloads as frames and fsyncs; it returns the offset of the
// first one.
func (s *fileStore) append(payloads [][]byte) (int64, error) {
	var buf []byte
	for _, p := range payloads {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(p, castagnoli))
		buf = append(buf, p...)
	}
	if _, err := s.f.Write(buf); err != nil {
		return 0, err
	}
	if err := s.f.Sync(); err != nil {
		return 0, err
	}
	first := s.next
	s.next += int64(len(payloads))
	return first, nil
}

func (s *fileStore) close() error {
	if s == nil || s.f == nil {
		return errors.New("controller: store not open")
	}
	return s.f.Close()
}
