package pyruntime_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/atelier-dev/atelier/serving/pyruntime"
)

func TestWriteToWritesTheRuntime(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".atelier-runtime")
	if err := pyruntime.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"log.py",
		"model_service/__init__.py",
		"model_service/log.py",
		"model_service/model_service.py",
		"model_service/pytorch_model_service.py",
		"model_service/tfserving_model_service.py",
		"serve.py",
	}
	if got := pyruntime.Files(); !slices.Equal(got, want) {
		t.Fatalf("Files() = %v, want %v", got, want)
	}
	for _, name := range want {
		p := filepath.Join(dir, filepath.FromSlash(name))
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s has mode %v, want 0644", name, fi.Mode().Perm())
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(filepath.FromSlash(name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, src) {
			t.Errorf("%s differs from the source file", name)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "model_service"))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.IsDir() || fi.Mode().Perm() != 0o755 {
		t.Errorf("model_service: mode %v, want a 0755 directory", fi.Mode())
	}
	if entry := filepath.Join(dir, pyruntime.Entry); !fileExists(entry) {
		t.Errorf("Entry %s was not written", entry)
	}
}

func TestWriteToReplacesFiles(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "serve.py")
	if err := os.WriteFile(stale, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pyruntime.WriteTo(dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(stale)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, []byte("stale")) {
		t.Fatal("WriteTo left the old serve.py")
	}
	fi, err := os.Stat(stale)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("serve.py after WriteTo has mode %v, want 0644", fi.Mode().Perm())
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
