//go:build unix

package log

import (
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on <dir>/.lock, as Kafka does, so two
// processes never share a data dir. The lock goes with the process.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("log: data dir in use by another process (%s): %w", path, err)
	}
	return f, nil
}
