package log

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/quillstream/quill/internal/record"
)

// BenchmarkGroupSync: appenders on 8 logs each wait for the fsync of their
// batch (flush.messages=1) through one GroupSyncer, against the inline
// flush that flush.messages=1 does without it (data and index files
// fsynced in each append). It reports acknowledged records/s and, grouped,
// data-file fsyncs per append.
//
//	go test ./internal/log -run '^$' -bench GroupSync -benchmem
func BenchmarkGroupSync(b *testing.B) {
	for _, grouped := range []bool{true, false} {
		for _, appenders := range []int{1, 8, 32} {
			name := fmt.Sprintf("grouped=%v/appenders=%d", grouped, appenders)
			b.Run(name, func(b *testing.B) { benchGroupSync(b, grouped, appenders) })
		}
	}
}

func benchGroupSync(b *testing.B, grouped bool, appenders int) {
	root := b.TempDir()
	var logs []*Log
	for i := range 8 {
		cfg := testConfig()
		if !grouped {
			cfg.FlushMessages = 1
		}
		l := openT(b, filepath.Join(root, fmt.Sprintf("t-%d", i)), cfg, Options{})
		defer l.Close()
		logs = append(logs, l)
	}
	g := NewGroupSyncer(0)
	defer g.Close()
	var mu sync.Mutex
	fsyncs := 0
	old := syncFile
	syncFile = func(f *os.File) error {
		mu.Lock()
		fsyncs++
		mu.Unlock()
		return old(f)
	}
	defer func() { syncFile = old }()
	batch := mkBatch(b, 100, 100, 1) // ~11 KiB: 100 records of 100 B
	h, _ := record.ParseHeader(batch)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N / appenders
	for w := range appenders {
		n := per
		if w == 0 {
			n += b.N % appenders
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := append([]byte(nil), batch...)
			for i := range n {
				l := logs[(w+i)%len(logs)]
				if _, err := l.AppendLeader(mine, 1); err != nil {
					b.Error(err)
					return
				}
				if grouped {
					if _, err := g.Join(l).Wait(l); err != nil {
						b.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)*float64(h.NumRecords)/b.Elapsed().Seconds(), "records/s")
	if grouped {
		b.ReportMetric(float64(fsyncs)/float64(b.N), "fsyncs/append")
	}
}
