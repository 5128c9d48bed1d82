// Package ziptest builds zip archives for tests: the code archives that
// training jobs and workloads unpack.
package ziptest

import (
	"archive/zip"
	"bytes"
	"slices"
	"testing"
)

// Bytes returns a zip of files (name → content), its entries in name
// order.
func Bytes(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
