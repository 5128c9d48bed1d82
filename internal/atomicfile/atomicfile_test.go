package atomicfile_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/atelier-dev/atelier/internal/atomicfile"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, sync := range []bool{true, false} {
		for _, body := range []string{"first", "second, longer"} {
			if err := atomicfile.WriteFile(p, []byte(body), 0o640, sync); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil || string(b) != body {
				t.Errorf("read %q, %v; want %q", b, err, body)
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o640 {
				t.Errorf("mode = %v, %v", fi.Mode(), err)
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the directory holds %d entries, want only the file (no temporary left)", len(ents))
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o600, true); err == nil {
		t.Error("write into a missing directory: no error")
	}
}
