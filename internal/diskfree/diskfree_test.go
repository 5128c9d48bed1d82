package diskfree_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/atelier-dev/atelier/internal/diskfree"
)

func TestAvailable(t *testing.T) {
	dir := t.TempDir()
	n, err := diskfree.Available(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Errorf("Available(%s) = 0 on the test machine's temp directory", dir)
	}
	if _, err := diskfree.Available(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Available of a missing path: err = %v, want one that is fs.ErrNotExist", err)
	}
}
