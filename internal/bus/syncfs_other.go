//go:build !linux

package bus

import "errors"

// groupCommitSupported: without syncfs(2) the embedded server falls back to
// JetStream's own fsync of every write.
const groupCommitSupported = false

func storeFlusher(string) (func() error, func(), error) {
	return nil, nil, errors.New("group commit needs syncfs (Linux)")
}
