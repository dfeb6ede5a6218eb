package log

import (
	"io"
	"os"
	"syscall"
)

// sendfile copies [pos, pos+size) of f to the socket dst with sendfile(2)
// and an explicit offset. handled is false if nothing was sent and the
// caller should fall back to copying (dst is not a socket sendfile accepts).
func sendfile(dst syscall.Conn, f *os.File, pos, size int64) (written int64, err error, handled bool) {
	out, err := dst.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	in, err := f.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	off := pos
	var werr error
	unsupported := false
	cerr := in.Control(func(infd uintptr) {
		err := out.Write(func(outfd uintptr) bool {
			for written < size {
				n, err := syscall.Sendfile(int(outfd), int(infd), &off, int(min(size-written, 1<<30)))
				if n > 0 {
					written += int64(n)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case (err == syscall.EINVAL || err == syscall.ENOSYS || err == syscall.EOPNOTSUPP) && written == 0:
					unsupported = true
					return true
				case err != nil:
					werr = err
					return true
				case n == 0:
					werr = io.ErrUnexpectedEOF // the file is shorter than the slice
					return true
				}
			}
			return true
		})
		if werr == nil {
			werr = err
		}
	})
	if unsupported {
		return 0, nil, false
	}
	if werr == nil {
		werr = cerr
	}
	return written, werr, true
}
