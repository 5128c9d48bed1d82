package workload_test

import (
	"archive/zip"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/atelier-dev/atelier/workload"
)

func writeZip(t *testing.T, entries []*zip.FileHeader) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "x.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, h := range entries {
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("content of " + h.Name))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestUnzip(t *testing.T) {
	link := &zip.FileHeader{Name: "link"}
	link.SetMode(fs.ModeSymlink | 0o777)
	tests := []struct {
		name    string
		entries []*zip.FileHeader
		max     int64
		wantErr error
	}{
		{"ok", []*zip.FileHeader{{Name: "a/b.txt"}, {Name: "c.txt"}}, 1 << 20, nil},
		{"dot dot", []*zip.FileHeader{{Name: "ok.txt"}, {Name: "../evil"}}, 1 << 20, workload.ErrUnsafeZip},
		{"nested dot dot", []*zip.FileHeader{{Name: "a/../../evil"}}, 1 << 20, workload.ErrUnsafeZip},
		{"absolute", []*zip.FileHeader{{Name: "/etc/evil"}}, 1 << 20, workload.ErrUnsafeZip},
		{"backslash", []*zip.FileHeader{{Name: "..\\evil"}}, 1 << 20, workload.ErrUnsafeZip},
		{"symlink", []*zip.FileHeader{link}, 1 << 20, workload.ErrUnsafeZip},
		{"too big", []*zip.FileHeader{{Name: "a.txt"}, {Name: "b.txt"}}, 20, workload.ErrZipTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "out")
			err := workload.Unzip(writeZip(t, tt.entries), dst, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("unzip err = %v, want %v", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dst), "evil")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("an entry escaped: %v", err)
			}
			if tt.wantErr == nil {
				b, err := os.ReadFile(filepath.Join(dst, "a", "b.txt"))
				if err != nil || string(b) != "content of a/b.txt" {
					t.Errorf("unpacked a/b.txt = %q, %v", b, err)
				}
			}
		})
	}
}
