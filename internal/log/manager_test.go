package log

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheckpointFormats(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, RecoveryPointCheckpoint)
	in := map[TopicPartition]int64{{"a", 0}: 5, {"b.c_d-e", 12}: 1 << 40}
	if err := writeOffsetCheckpoint(p, in); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), "0\n2\n") || !strings.Contains(string(b), "b.c_d-e 12 1099511627776\n") {
		t.Fatalf("format:\n%s", b)
	}
	out, err := readOffsetCheckpoint(p)
	if err != nil || len(out) != 2 || out[TopicPartition{"a", 0}] != 5 {
		t.Fatalf("%v %v", out, err)
	}
	for _, bad := range []string{"1\n0\n", "0\n2\na 0 1\n", "0\n1\na x 1\n", ""} {
		os.WriteFile(p, []byte(bad), 0o644)
		if _, err := readOffsetCheckpoint(p); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// Leader epoch checkpoint, as Kafka writes it.
	os.WriteFile(filepath.Join(dir, leaderEpochFile), []byte("0\n2\n0 0\n3 120\n"), 0o644)
	c, err := loadEpochCache(filepath.Join(dir, leaderEpochFile))
	if err != nil || c.latest() != 3 {
		t.Fatalf("%v %v", c, err)
	}
	// partition.metadata and Kafka's topic ID strings.
	id := [16]byte{0xfa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 0xff}
	if err := writePartitionMetadata(dir, id); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if string(b) != "version: 0\ntopic_id: -gECAwQFBgcICQoLDA0O_w\n" {
		t.Fatalf("partition.metadata:\n%s", b)
	}
	got, ok, err := readPartitionMetadata(dir)
	if err != nil || !ok || got != id {
		t.Fatalf("%v %v %v", got, ok, err)
	}
}

func TestManagerLifecycle(t *testing.T) {
	data := []string{t.TempDir(), t.TempDir()}
	m, err := OpenManager(data, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	idA := [16]byte{1}
	cfg := testConfig()
	la, err := m.GetOrCreate("a", 0, idA, cfg)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := m.GetOrCreate("b", 3, [16]byte{2}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(la.Dir()) == filepath.Dir(lb.Dir()) {
		t.Fatal("logs not spread over data dirs")
	}
	if again, _ := m.GetOrCreate("a", 0, idA, cfg); again != la || m.Get("a", 0) != la || m.Get("a", 1) != nil {
		t.Fatal("GetOrCreate/Get do not return the open log")
	}
	if _, err := m.GetOrCreate("../x", 0, idA, cfg); err == nil {
		t.Fatal("accepted a path in a topic name")
	}
	for range 10 {
		mustAppend(t, la, mkBatch(t, 2, 10, 1), 1)
	}
	mustAppend(t, lb, mkBatch(t, 1, 10, 1), 1)
	if err := la.SetLogStartOffset(4); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if _, err := os.Stat(filepath.Join(d, CleanShutdownFile)); err != nil {
			t.Fatal("no clean shutdown marker")
		}
	}
	rp, _ := readOffsetCheckpoint(filepath.Join(filepath.Dir(la.Dir()), RecoveryPointCheckpoint))
	ls, _ := readOffsetCheckpoint(filepath.Join(filepath.Dir(la.Dir()), LogStartOffsetCheckpoint))
	if rp[TopicPartition{"a", 0}] != 20 || ls[TopicPartition{"a", 0}] != 4 {
		t.Fatalf("checkpoints %v %v", rp, ls)
	}

	// Restart: clean, existing partitions found, offsets restored.
	m, err = OpenManager(data, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		if !m.HadCleanShutdown(d) {
			t.Fatal("clean shutdown not detected")
		}
		if _, err := os.Stat(filepath.Join(d, CleanShutdownFile)); err == nil {
			t.Fatal("marker not removed at startup")
		}
	}
	parts := m.ExistingPartitions()
	if len(parts) != 2 || parts[0].Topic != "a" || parts[0].TopicID != idA || !parts[0].HasTopicID || parts[1].Partition != 3 {
		t.Fatalf("existing %+v", parts)
	}
	la, err = m.GetOrCreate("a", 0, idA, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if la.LogEndOffset() != 20 || la.LogStartOffset() != 4 {
		t.Fatalf("reopened a-0: %d..%d", la.LogStartOffset(), la.LogEndOffset())
	}
	// b-3 is not opened this time; its checkpoint entries must survive.
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	rp, _ = readOffsetCheckpoint(filepath.Join(filepath.Dir(lb.Dir()), RecoveryPointCheckpoint))
	if rp[TopicPartition{"b", 3}] != 1 {
		t.Fatalf("unopened partition lost from checkpoint: %v", rp)
	}

	// A stale directory (another topic ID) is replaced by an empty log.
	lb2, err := m.GetOrCreate("b", 3, [16]byte{9}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if lb2.LogEndOffset() != 0 {
		t.Fatalf("stale data kept: LEO %d", lb2.LogEndOffset())
	}
	if id, _, _ := readPartitionMetadata(lb2.Dir()); id != [16]byte{9} {
		t.Fatal("partition.metadata not rewritten")
	}
	// The same, for a log that is open.
	la2, err := m.GetOrCreate("a", 0, [16]byte{7}, cfg)
	if err != nil || la2 == la || la2.LogEndOffset() != 0 {
		t.Fatalf("open stale log kept: %v", err)
	}

	// Delete renames to -delete and removes it.
	mustAppend(t, la2, mkBatch(t, 1, 1, 1), 0)
	dir := la2.Dir()
	if err := m.Delete("a", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) || m.Get("a", 0) != nil {
		t.Fatal("partition dir still there")
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.RunBackground(ctx, time.Hour, func(string, int32) int64 { return 0 })
	cancel()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range data {
		m, _ := filepath.Glob(filepath.Join(d, "*-delete"))
		if len(m) != 0 {
			t.Fatalf("-delete dirs left: %v", m)
		}
	}
}

func TestManagerUncleanRestart(t *testing.T) {
	data := []string{t.TempDir()}
	m, err := OpenManager(data, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	l, err := m.GetOrCreate("t", 0, [16]byte{1}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		mustAppend(t, l, mkBatch(t, 2, 10, 1), 1)
	}
	if err := m.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, mkBatch(t, 2, 10, 1), 1)
	crash(l)
	m.unlock() // the process died: its flocks went with it
	// Torn write of the last batch.
	p := filepath.Join(l.Dir(), segmentName(0)+logSuffix)
	st, _ := os.Stat(p)
	os.Truncate(p, st.Size()-3)
	// A leftover -delete directory.
	os.MkdirAll(filepath.Join(data[0], "t-1.abc-delete", "x"), 0o755)

	m2, err := OpenManager(data, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if m2.HadCleanShutdown(data[0]) {
		t.Fatal("crash taken for a clean shutdown")
	}
	l2, err := m2.GetOrCreate("t", 0, [16]byte{1}, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if l2.LogEndOffset() != 10 {
		t.Fatalf("LEO %d after torn write", l2.LogEndOffset())
	}
	readAll(t, l2, 0)
}

func TestManagerFlushMs(t *testing.T) {
	m, err := OpenManager([]string{t.TempDir()}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := testConfig()
	cfg.FlushMs = 1
	l, err := m.GetOrCreate("t", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, mkBatch(t, 3, 10, 1), 1)
	m.RunBackground(context.Background(), time.Hour, func(string, int32) int64 { return 0 })
	deadline := time.Now().Add(5 * time.Second)
	for l.RecoveryPoint() != 3 {
		if time.Now().After(deadline) {
			t.Fatal("flush.ms never flushed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestManagerDirLock(t *testing.T) {
	d := t.TempDir()
	m, err := OpenManager([]string{d}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenManager([]string{d}, quietLogger()); err == nil {
		t.Fatal("a second manager opened a locked data dir")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m2, err := OpenManager([]string{d}, quietLogger())
	if err != nil {
		t.Fatalf("lock not released: %v", err)
	}
	m2.Close()
}

func TestManagerBackgroundRetention(t *testing.T) {
	m, err := OpenManager([]string{t.TempDir()}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cfg := testConfig()
	cfg.RetentionMs = 1
	l, err := m.GetOrCreate("t", 0, [16]byte{1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, mkBatch(t, 3, 10, 1), 1) // timestamp 1: long expired
	l.Roll()
	mustAppend(t, l, mkBatch(t, 3, 10, time.Now().Add(time.Hour).UnixMilli()), 1)
	m.RunBackground(context.Background(), 20*time.Millisecond, func(topic string, p int32) int64 {
		return m.Get(topic, p).LogEndOffset()
	})
	deadline := time.Now().Add(5 * time.Second)
	for l.LogStartOffset() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("retention never ran: start %d", l.LogStartOffset())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
