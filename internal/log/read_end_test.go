package log

import "testing"

// Slice.End is the offset after the slice's last batch, whichever bound
// ends it: maxBytes, maxOffset, or the end of the segment.
func TestSliceEnd(t *testing.T) {
	cfg := testConfig()
	l := openT(t, t.TempDir(), cfg, Options{})
	defer l.Close()
	var infos []AppendInfo
	for i := range 5 {
		infos = append(infos, mustAppend(t, l, mkBatch(t, 3, 100, int64(1000+i)), 1))
	}
	leo := l.LogEndOffset()
	batch := int(infos[0].Size)
	for _, tc := range []struct {
		name                string
		from                int64
		maxBytes            int
		maxOffset           int64
		wantOffset, wantEnd int64
	}{
		{"everything", 0, 1 << 20, leo, 0, leo},
		{"up to the high watermark", 0, 1 << 20, infos[3].BaseOffset, 0, infos[3].BaseOffset},
		{"two batches by bytes", 0, 2*batch + 1, leo, 0, infos[1].LastOffset + 1},
		{"one batch over maxBytes (minOne)", 4, 1, leo, infos[1].BaseOffset, infos[1].LastOffset + 1},
	} {
		s, err := l.Read(tc.from, tc.maxBytes, tc.maxOffset, true)
		if err != nil {
			t.Fatal(err)
		}
		if s.Offset != tc.wantOffset || s.End != tc.wantEnd {
			t.Errorf("%s: slice offsets [%d, %d), want [%d, %d)", tc.name, s.Offset, s.End, tc.wantOffset, tc.wantEnd)
		}
	}
}
