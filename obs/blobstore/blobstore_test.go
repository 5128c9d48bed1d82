package blobstore_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/obs/obstest"
)

// MustOpenBackend opens the backend at rawURL or fails the test.
func MustOpenBackend(t *testing.T, rawURL string) obs.Backend {
	t.Helper()
	be, err := blobstore.OpenBackend(t.Context(), rawURL)
	if err != nil {
		t.Fatalf("OpenBackend(%q): %v", rawURL, err)
	}
	return be
}

func TestFileBackend(t *testing.T) {
	obstest.RunBackend(t, func(t *testing.T) obs.Backend {
		return MustOpenBackend(t, "file://"+filepath.ToSlash(t.TempDir())+"/objects")
	})
}

func TestMemBackend(t *testing.T) {
	obstest.RunBackend(t, func(t *testing.T) obs.Backend {
		return MustOpenBackend(t, "mem://")
	})
}

func TestQuotaBackend(t *testing.T) {
	obstest.RunBackend(t, func(t *testing.T) obs.Backend {
		return obs.NewQuotaBackend(MustOpenBackend(t, "mem://"), obstest.LargeSize+1<<20)
	})
}

func TestQuotaBackendFull(t *testing.T) {
	ctx := t.Context()
	be := obs.NewQuotaBackend(MustOpenBackend(t, "mem://"), 1000)
	obstest.MustPut(t, ctx, be, "a", make([]byte, 600))
	err := be.Put(ctx, "b", bytes.NewReader(make([]byte, 600)))
	if !errors.Is(err, obs.ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Put beyond the quota = %v; want ErrNoSpace wrapping ENOSPC", err)
	}
	if err := be.Copy(ctx, "c", "a"); !errors.Is(err, obs.ErrNoSpace) {
		t.Fatalf("Copy beyond the quota = %v; want ErrNoSpace", err)
	}
	if keys := obstest.MustList(t, ctx, be, ""); len(keys) != 1 || keys[0] != "a" {
		t.Fatalf("keys after failed writes = %q; want only a", keys)
	}
	// Overwriting frees the old size, deleting frees it all.
	obstest.MustPut(t, ctx, be, "a", make([]byte, 300)) // like a disk, the old blob counts until replaced
	if err := be.Delete(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	obstest.MustPut(t, ctx, be, "b", make([]byte, 1000))
}

// TestFileBackendLeavesNoTempFiles checks on disk that aborted writes of the
// file backend remove their temporary files.
func TestFileBackendLeavesNoTempFiles(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	be := MustOpenBackend(t, "file://"+filepath.ToSlash(dir))
	boom := errors.New("boom")
	if err := be.Put(ctx, "data/ab/x", &errAfter{n: 100 << 10, err: boom}); !errors.Is(err, boom) {
		t.Fatalf("Put = %v; want boom", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := be.Put(cctx, "data/ab/y", strings.NewReader("y")); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	obstest.MustPut(t, ctx, be, "data/ab/z", []byte("z"))
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0] != "data/ab/z" {
		t.Fatalf("files on disk = %q; want only data/ab/z", files)
	}
}

type errAfter struct {
	n   int
	err error
}

func (r *errAfter) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestOpenBackendURLs(t *testing.T) {
	for _, bad := range []string{"ftp://x", "file://relative/dir", "file:///tmp/x?metadata=1", "s3://", "::"} {
		if be, err := blobstore.OpenBackend(t.Context(), bad); err == nil {
			be.Close()
			t.Errorf("OpenBackend(%q) succeeded; want an error", bad)
		}
	}
	// The S3 driver opens lazily: no request is made until the first use.
	be, err := blobstore.OpenBackend(t.Context(), "s3://bucket?region=us-east-1&endpoint=http://127.0.0.1:9&use_path_style=true")
	if err != nil {
		t.Fatalf("OpenBackend(s3): %v", err)
	}
	if err := be.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestS3Unreachable: every call to an s3 backend that does not answer fails
// with an *obs.UnavailableError naming the bucket, so that the service
// answers 503 and not 500.
func TestS3Unreachable(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_MAX_ATTEMPTS", "1") // fail at once, not after backoffs
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	be, err := blobstore.OpenBackend(t.Context(), "s3://data?region=us-east-1&use_path_style=true&endpoint=http://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	for what, err := range map[string]error{
		"put":  be.Put(t.Context(), "k", strings.NewReader("x")),
		"ping": be.Ping(t.Context()),
	} {
		var ue *obs.UnavailableError
		if !errors.As(err, &ue) || ue.Backend != `s3 bucket "data"` {
			t.Errorf("%s: %v; want an *obs.UnavailableError naming s3 bucket \"data\"", what, err)
		}
	}
	_, err = be.Open(t.Context(), "k", 0, -1)
	var ue *obs.UnavailableError
	if !errors.As(err, &ue) {
		t.Errorf("open: %v; want an *obs.UnavailableError", err)
	}
}
