package replica

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/quillstream/quill/internal/record"
)

// Producer-state snapshots, <20-digit offset>.snapshot in the partition
// directory, hold the idempotence state as of that offset:
//
//	crc32c uint32 (of the rest) | JSON {"v":1,"producers":{pid: entry}}
//
// They are written at every segment roll and at clean shutdown, so that
// opening a partition replays at most the active segment (Kafka does the
// same). A snapshot that fails its CRC is ignored.

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type snapshotFile struct {
	V         int                      `json:"v"`
	Producers map[int64]*producerEntry `json:"producers"`
}

func snapshotName(off int64) string { return fmt.Sprintf("%020d.snapshot", off) }

// snapshotOffsets lists the snapshots in dir, ascending.
func snapshotOffsets(dir string) []int64 {
	ents, _ := os.ReadDir(dir)
	var out []int64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".snapshot")
		if !ok || len(name) != 20 {
			continue
		}
		if off, err := strconv.ParseInt(name, 10, 64); err == nil {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out
}

// writeSnapshotLocked writes the producer state at the log end and removes
// older snapshots except the previous one. REQUIRES: mu held.
func (p *Partition) writeSnapshotLocked() {
	if p.dir == "" {
		return
	}
	off := p.log.LogEndOffset()
	if off == p.snapshotAt {
		return // nothing appended since the last snapshot (or an empty log)
	}
	body, _ := json.Marshal(snapshotFile{V: 1, Producers: p.producers})
	buf := binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))
	buf = append(buf, body...)
	path := filepath.Join(p.dir, snapshotName(off))
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		return // a missing snapshot only costs replay time
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return
	}
	p.snapshotAt = off
	p.pruneAbortedLocked()
	offs := snapshotOffsets(p.dir)
	for i := 0; i < len(offs)-2; i++ {
		os.Remove(filepath.Join(p.dir, snapshotName(offs[i])))
	}
}

// loadProducers restores producer state: the newest good snapshot at or
// below the log end, then the batches after it.
func (p *Partition) loadProducers() error {
	p.producers = map[int64]*producerEntry{}
	from := p.log.LogStartOffset()
	p.loadAbortedLocked()
	if p.dir != "" {
		leo := p.log.LogEndOffset()
		offs := snapshotOffsets(p.dir)
		for i := len(offs) - 1; i >= 0; i-- {
			off := offs[i]
			path := filepath.Join(p.dir, snapshotName(off))
			if off > leo {
				os.Remove(path) // the log was truncated below it
				continue
			}
			if m, ok := readSnapshot(path); ok {
				p.producers = m
				from = max(off, from)
				if off == leo {
					p.snapshotAt = off
				}
				break
			}
		}
		if leo == p.log.LogStartOffset() {
			p.snapshotAt = leo // an empty log: nothing to snapshot
		}
	}
	p.rebuildOpenTxnsLocked()
	return p.log.ScanBatches(from, func(h record.Header, batch []byte) error {
		switch {
		case h.HasProducerID() && !h.IsControl():
			p.trackProducerLocked(&h, h.BaseOffset)
		case h.HasProducerID():
			p.replayMarkerLocked(&h, batch) // closes a transaction (txn.go)
		}
		return nil
	})
}

func readSnapshot(path string) (map[int64]*producerEntry, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) < 4 {
		return nil, false
	}
	if binary.BigEndian.Uint32(b) != crc32.Checksum(b[4:], castagnoli) {
		return nil, false
	}
	var f snapshotFile
	if json.Unmarshal(b[4:], &f) != nil || f.V != 1 {
		return nil, false
	}
	if f.Producers == nil {
		f.Producers = map[int64]*producerEntry{}
	}
	return f.Producers, true
}
