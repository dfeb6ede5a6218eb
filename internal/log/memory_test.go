package log

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
)

// TestIdleMemory checks the heap cost of open, idle partitions: 10,000 must
// fit in well under 1 GiB.
func TestIdleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens many logs")
	}
	const n = 500
	root := t.TempDir()
	batch := mkBatch(t, 10, 100, 1)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	logs := make([]*Log, n)
	for i := range logs {
		l := openT(t, filepath.Join(root, fmt.Sprintf("t-%d", i)), testConfig(), Options{})
		b := append([]byte(nil), batch...)
		mustAppend(t, l, b, 1)
		logs[i] = l
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("heap per idle partition: %d bytes (10,000 partitions: %d MiB)", per, per*10000>>20)
	if per*10000 > 256<<20 {
		t.Fatalf("idle partitions too expensive: %d bytes each", per)
	}
	for _, l := range logs {
		l.Close()
	}
}
