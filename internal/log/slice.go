package log

import (
	"io"
	"os"
	"sync"
	"syscall"
)

var copyPool = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Slice is a byte range of one segment file: whole batches, ready to be
// written to a connection. File is shared with the log and other readers:
// use only positional reads on it (ReadAt, io.NewSectionReader, WriteTo),
// never Read/Seek, and do not close it. The file stays open at least
// file.delete.delay.ms after its segment is deleted, so a Slice may be used
// for that long.
type Slice struct {
	File      *os.File
	Pos, Size int64
	Offset    int64 // base offset of the first batch (-1 when empty)
	// End is the offset after the last batch of the slice: End-Offset
	// counts the offsets it covers (records, but for gaps left by
	// compaction).
	End int64
}

// WriteTo writes the slice to w. When w is a socket (a syscall.Conn such as
// *net.TCPConn) on Linux it uses sendfile(2) with an explicit file offset,
// which neither reads nor moves the shared file offset, so concurrent
// readers of one segment need no fd of their own. (The standard library's
// io.Copy(conn, &io.LimitedReader{R: file}) also uses sendfile, but from
// the fd's current offset: every reader would need its own open file.)
// Other writers (TLS, buffers) get a positional copy.
func (s Slice) WriteTo(w io.Writer) (int64, error) {
	if s.Size <= 0 {
		return 0, nil
	}
	if sc, ok := w.(syscall.Conn); ok {
		if n, err, handled := sendfile(sc, s.File, s.Pos, s.Size); handled {
			return n, err
		}
	}
	bp := copyPool.Get().(*[]byte)
	defer copyPool.Put(bp)
	n, err := io.CopyBuffer(w, io.NewSectionReader(s.File, s.Pos, s.Size), *bp)
	if err == nil && n < s.Size {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Bytes reads the slice into a new buffer.
func (s Slice) Bytes() ([]byte, error) {
	if s.Size <= 0 {
		return nil, nil
	}
	b := make([]byte, s.Size)
	n, err := s.File.ReadAt(b, s.Pos)
	if n == len(b) {
		return b, nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return b[:n], err
}
