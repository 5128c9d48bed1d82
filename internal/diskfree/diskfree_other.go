//go:build !linux && !darwin

package diskfree

func available(string) (uint64, error) { return 0, ErrUnsupported }
