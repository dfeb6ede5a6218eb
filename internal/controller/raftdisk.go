package controller

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// raftDisk persists the Raft state of a controller in its metadata
// directory (docs/decisions/0004-raft-controller-quorum.md):
//
//	quorum.json   node id and voters the directory was created for: a node
//	              started with another quorum refuses to run on it
//	raft.snap     the latest snapshot: a raftpb.Snapshot whose data is
//	              metadata.EncodeSnapshot (JSON records rebuilding the image)
//	raft.log      frames length uint32 | crc32c uint32 | kind byte | proto,
//	              kind 'e' an entry, 'h' a hard state; a later entry with an
//	              index already seen replaces that suffix (Raft truncation)
//
// Entries and hard state are fsynced before Raft messages that depend on
// them are sent. After a snapshot the log is rewritten from the entries
// still kept (write to raft.log.tmp, fsync, rename), so it stays small.
type raftDisk struct {
	dir string
	f   *os.File
}

type quorumMeta struct {
	NodeID int32   `json:"nodeId"`
	Voters []Voter `json:"voters"`
}

// raftState is what the disk held at open.
type raftState struct {
	snap    *pb.Snapshot // nil: none
	hard    *pb.HardState
	entries []*pb.Entry
	fresh   bool // no Raft state yet: bootstrap the cluster
}

const (
	kindEntry = 'e'
	kindHard  = 'h'
)

func openRaftDisk(dir string, nodeID int32, voters []Voter) (*raftDisk, *raftState, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "metadata.log")); err == nil {
		return nil, nil, fmt.Errorf("controller: %s holds a single-node metadata log; a node cannot move from single-node mode to a controller quorum (start the quorum on empty directories)", dir)
	}
	want := quorumMeta{NodeID: nodeID, Voters: slices.Clone(voters)}
	slices.SortFunc(want.Voters, func(a, b Voter) int { return int(a.ID - b.ID) })
	metaPath := filepath.Join(dir, "quorum.json")
	st := &raftState{}
	if b, err := os.ReadFile(metaPath); err == nil {
		var have quorumMeta
		if err := json.Unmarshal(b, &have); err != nil {
			return nil, nil, fmt.Errorf("controller: %s: %w", metaPath, err)
		}
		if have.NodeID != want.NodeID {
			return nil, nil, fmt.Errorf("controller: %s belongs to node %d, not node.id %d", dir, have.NodeID, nodeID)
		}
		if !slices.EqualFunc(have.Voters, want.Voters, func(a, b Voter) bool { return a.ID == b.ID }) {
			return nil, nil, fmt.Errorf("controller: %s was created for voters %v, not %v (Quill has no dynamic quorum changes)", dir, have.Voters, want.Voters)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		st.fresh = true
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := writeFileSync(metaPath, b); err != nil {
			return nil, nil, err
		}
	} else {
		return nil, nil, err
	}

	if b, err := os.ReadFile(filepath.Join(dir, "raft.snap")); err == nil {
		s := &pb.Snapshot{}
		if err := proto.Unmarshal(b, s); err != nil {
			return nil, nil, fmt.Errorf("controller: corrupt raft.snap: %w", err)
		}
		st.snap = s
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}

	path := filepath.Join(dir, "raft.log")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	good, err := readRaftLog(f, st)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() != good {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	if st.snap != nil || st.hard != nil || len(st.entries) > 0 {
		st.fresh = false
	}
	return &raftDisk{dir: dir, f: f}, st, nil
}

// readRaftLog replays frames into st and returns the length of the good
// prefix (a torn tail is dropped).
func readRaftLog(f io.Reader, st *raftState) (int64, error) {
	r := bufio.NewReaderSize(f, 1<<16)
	var good int64
	hdr := make([]byte, frameHeader)
	var snapIndex uint64
	if st.snap != nil {
		snapIndex = st.snap.GetMetadata().GetIndex()
	}
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			return good, nil
		}
		n := binary.BigEndian.Uint32(hdr)
		if n == 0 || n > maxFrame {
			return good, nil
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return good, nil
		}
		if crc32.Checksum(payload, castagnoli) != binary.BigEndian.Uint32(hdr[4:]) {
			return good, nil
		}
		switch payload[0] {
		case kindEntry:
			e := &pb.Entry{}
			if err := proto.Unmarshal(payload[1:], e); err != nil {
				return 0, fmt.Errorf("controller: raft.log entry: %w", err)
			}
			if idx := e.GetIndex(); idx > snapIndex {
				// Entries are contiguous from the snapshot on; Raft
				// overwrites a conflicting suffix, so an index already
				// seen drops the entries at and after it. A gap is a
				// corrupt tail.
				next := snapIndex + 1
				if k := len(st.entries); k > 0 {
					next = st.entries[k-1].GetIndex() + 1
				}
				if idx > next {
					return good, nil
				}
				if len(st.entries) > 0 {
					st.entries = st.entries[:idx-st.entries[0].GetIndex()]
				}
				st.entries = append(st.entries, e)
			}
		case kindHard:
			h := &pb.HardState{}
			if err := proto.Unmarshal(payload[1:], h); err != nil {
				return 0, fmt.Errorf("controller: raft.log hard state: %w", err)
			}
			st.hard = h
		default:
			return 0, fmt.Errorf("controller: raft.log: unknown frame kind %q", payload[0])
		}
		good += int64(frameHeader) + int64(n)
	}
}

func appendFrame(buf []byte, kind byte, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err) // generated messages always marshal
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(b)+1))
	sum := crc32.Update(crc32.Checksum([]byte{kind}, castagnoli), castagnoli, b)
	buf = binary.BigEndian.AppendUint32(buf, sum)
	buf = append(buf, kind)
	return append(buf, b...)
}

// save appends entries and the hard state; fsync when sync.
func (d *raftDisk) save(hs *pb.HardState, entries []*pb.Entry, sync bool) error {
	var buf []byte
	for _, e := range entries {
		buf = appendFrame(buf, kindEntry, e)
	}
	if hs != nil {
		buf = appendFrame(buf, kindHard, hs)
	}
	if len(buf) == 0 {
		return nil
	}
	if _, err := d.f.Write(buf); err != nil {
		return err
	}
	if sync {
		return d.f.Sync()
	}
	return nil
}

// saveSnapshot writes the snapshot, then rewrites the log with the hard
// state and the entries kept after it.
func (d *raftDisk) saveSnapshot(s *pb.Snapshot, hs *pb.HardState, keep []*pb.Entry) error {
	b, err := proto.Marshal(s)
	if err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(d.dir, "raft.snap"), b); err != nil {
		return err
	}
	var buf []byte
	for _, e := range keep {
		if e.GetIndex() > s.GetMetadata().GetIndex() {
			buf = appendFrame(buf, kindEntry, e)
		}
	}
	if hs != nil {
		buf = appendFrame(buf, kindHard, hs)
	}
	tmp := filepath.Join(d.dir, "raft.log.tmp")
	if err := writeFileSync(tmp, buf); err != nil {
		return err
	}
	path := filepath.Join(d.dir, "raft.log")
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return err
	}
	d.f.Close()
	d.f = f
	return syncDir(d.dir)
}

func (d *raftDisk) close() error { return d.f.Close() }

// writeFileSync writes path atomically: a temporary file, fsync, rename,
// directory fsync.
func writeFileSync(path string, b []byte) error {
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
