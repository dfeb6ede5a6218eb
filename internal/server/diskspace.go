package server

import "syscall"

// diskSpace returns the total and usable bytes of the filesystem at dir,
// or -1, -1.
func diskSpace(dir string) (int64, int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * st.Bsize, int64(st.Bavail) * st.Bsize
}
