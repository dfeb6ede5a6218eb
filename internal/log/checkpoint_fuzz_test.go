package log

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzOffsetCheckpoint reads arbitrary bytes as an offset checkpoint file
// (recovery points, log starts, replication-offset-checkpoint): an error,
// never a panic.
func FuzzOffsetCheckpoint(f *testing.F) {
	f.Add([]byte("0\n1\nt 0 6\n"))
	f.Add([]byte("0\n2\nt 0 6\n"))
	f.Add([]byte("1\n0\n"))
	path := filepath.Join(f.TempDir(), HighWatermarkCheckpoint)
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Skip(err)
		}
		m, err := ReadOffsetCheckpoint(path)
		if err == nil && len(m) > len(b) {
			t.Fatalf("%d entries from %d bytes", len(m), len(b))
		}
	})
}
