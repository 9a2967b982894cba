package bus

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// groupCommitSupported: Linux has syncfs(2), which flushes every dirty page
// and inode of the store's filesystem in one call.
const groupCommitSupported = true

// storeFlusher returns a function that makes everything written under dir
// so far durable, and a function that releases it.
func storeFlusher(dir string) (flush func() error, release func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("opening store folder for syncing: %w", err)
	}
	flush = func() error {
		for {
			err := unix.Syncfs(int(d.Fd()))
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("syncfs %s: %w", dir, err)
			}
			return nil
		}
	}
	return flush, func() { _ = d.Close() }, nil
}
