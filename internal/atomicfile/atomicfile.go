// Package atomicfile replaces files atomically: a crash leaves the old
// content or the new, never a mix.
package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteFile replaces path with b through a temporary file in the
// same directory, synced first when sync is set (and the directory after
// the rename), so that a crash leaves the old or the new content, never a
// mix.
func WriteFile(path string, b []byte, mode os.FileMode, sync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if sync {
		if d, err := os.Open(dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}
