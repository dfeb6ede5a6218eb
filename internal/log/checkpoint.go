package log

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint files share Kafka's text format:
//
//	0              version
//	N              number of entries
//	<entry>        N lines
//
// They are replaced atomically: write <name>.tmp, fsync, rename, fsync dir.

// readCheckpoint returns the entry lines of a checkpoint file; a missing
// file has none.
func readCheckpoint(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "0" {
		return nil, fmt.Errorf("log: %s: bad checkpoint header", path)
	}
	n, err := strconv.Atoi(strings.TrimSpace(lines[1]))
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("log: %s: bad checkpoint entry count", path)
	}
	return lines[2:], nil
}

// writeCheckpoint atomically replaces a checkpoint file.
func writeCheckpoint(path string, lines []string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(lines))
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return writeFileAtomic(path, b.Bytes())
}

// writeFileAtomic writes path via a fsynced temporary file and a rename, then
// fsyncs the directory so the rename itself survives a crash.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
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
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// readOffsetCheckpoint reads "topic partition offset" lines.
func readOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	lines, err := readCheckpoint(path)
	if err != nil {
		return nil, err
	}
	m := make(map[TopicPartition]int64, len(lines))
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, fmt.Errorf("log: %s: bad line %q", path, l)
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		o, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("log: %s: bad line %q", path, l)
		}
		m[TopicPartition{f[0], int32(p)}] = o
	}
	return m, nil
}

func writeOffsetCheckpoint(path string, m map[TopicPartition]int64) error {
	lines := make([]string, 0, len(m))
	for tp, o := range m {
		lines = append(lines, fmt.Sprintf("%s %d %d", tp.Topic, tp.Partition, o))
	}
	return writeCheckpoint(path, lines)
}

// partition.metadata holds the topic ID, as Kafka writes it:
//
//	version: 0
//	topic_id: <22 chars: the 16 bytes in base64url without padding>
const partitionMetadataFile = "partition.metadata"

// FormatTopicID renders a topic ID the way Kafka's Uuid.toString does.
func FormatTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// ParseTopicID parses Kafka's base64url topic ID string.
func ParseTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("log: bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

func writePartitionMetadata(dir string, id [16]byte) error {
	return writeFileAtomic(filepath.Join(dir, partitionMetadataFile),
		[]byte("version: 0\ntopic_id: "+FormatTopicID(id)+"\n"))
}

// readPartitionMetadata returns the topic ID; ok is false if the file is
// missing.
func readPartitionMetadata(dir string) (id [16]byte, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if errors.Is(err, fs.ErrNotExist) {
		return id, false, nil
	}
	if err != nil {
		return id, false, err
	}
	var version, topicID string
	for _, l := range strings.Split(string(b), "\n") {
		k, v, found := strings.Cut(l, ":")
		if !found {
			continue
		}
		switch strings.TrimSpace(k) {
		case "version":
			version = strings.TrimSpace(v)
		case "topic_id":
			topicID = strings.TrimSpace(v)
		}
	}
	if version != "0" {
		return id, false, fmt.Errorf("log: %s/%s: unsupported version %q", dir, partitionMetadataFile, version)
	}
	id, err = ParseTopicID(topicID)
	return id, err == nil, err
}

// parsePartitionDir splits "<topic>-<partition>".
func parsePartitionDir(name string) (string, int32, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 {
		return "", 0, false
	}
	return name[:i], int32(p), true
}
