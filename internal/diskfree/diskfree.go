// Package diskfree reports the free space of the filesystem that holds a
// path, for readiness checks.
package diskfree

import "errors"

// ErrUnsupported is returned where the platform has no statfs(2).
var ErrUnsupported = errors.New("diskfree: not supported on this platform")

// Available returns the bytes that an unprivileged user may still write on
// the filesystem holding path (statfs's f_bavail × f_bsize).
func Available(path string) (uint64, error) { return available(path) }
