package obs_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
)

// downBackend fails every call with an *obs.UnavailableError once down is
// set, as a remote backend does when it stops answering.
type downBackend struct {
	obs.Backend
	down atomic.Bool
}

func (d *downBackend) err() error {
	return &obs.UnavailableError{Backend: `s3 bucket "data"`, Err: errors.New("dial tcp 10.0.0.1:9000: connection refused")}
}

func (d *downBackend) Put(ctx context.Context, key string, r io.Reader) error {
	if d.down.Load() {
		return d.err()
	}
	return d.Backend.Put(ctx, key, r)
}

func (d *downBackend) Open(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	if d.down.Load() {
		return nil, d.err()
	}
	return d.Backend.Open(ctx, key, off, n)
}

func (d *downBackend) Copy(ctx context.Context, dst, src string) error {
	if d.down.Load() {
		return d.err()
	}
	return d.Backend.Copy(ctx, dst, src)
}

func (d *downBackend) Ping(ctx context.Context) error {
	if d.down.Load() {
		return d.err()
	}
	return d.Backend.Ping(ctx)
}

// TestBackendUnavailable: a backend that stops answering gives
// CodeObjectBackend, naming the backend and asking for a retry, for every
// call that reaches it, never an internal error.
func TestBackendUnavailable(t *testing.T) {
	t.Parallel()
	mem, err := blobstore.OpenBackend(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	be := &downBackend{Backend: mem}
	h := newHarness(t, be, obs.Options{})
	h.mustBucket(t, "bkt")
	h.mustPut(t, "bkt", "k", "data")
	be.down.Store(true)

	_, err = h.svc.PutObject(h.ctx, "bkt", "k2", strings.NewReader("x"), atelier.PutOptions{Size: -1})
	wantBackendDown(t, "put", err)
	_, err = h.svc.CopyObject(h.ctx, "bkt", "k3", "bkt", "k")
	wantBackendDown(t, "copy", err)
	_, _, _, err = h.svc.GetObject(h.ctx, "bkt", "k", nil)
	wantBackendDown(t, "get", err)
	wantBackendDown(t, "ping", h.svc.Ping(t.Context()))
}

func wantBackendDown(t *testing.T, what string, err error) {
	t.Helper()
	var ae *atelier.Error
	if !errors.As(err, &ae) || ae.Code != atelier.CodeObjectBackend.ID {
		t.Fatalf("%s: %v; want %s", what, err, atelier.CodeObjectBackend.ID)
	}
	if !strings.Contains(ae.Message, `s3 bucket "data"`) || strings.Contains(ae.Message, "10.0.0.1") {
		t.Errorf("%s: message %q; want it to name the backend and not the cause", what, ae.Message)
	}
	if len(ae.Args) == 0 || ae.Args[0] != atelier.StoreRetryAfter {
		t.Errorf("%s: args %v; want the Retry-After seconds first", what, ae.Args)
	}
}

// TestProbe: Probe passes on a working backend and leaves nothing; on one
// that cannot write it fails.
func TestProbe(t *testing.T) {
	t.Parallel()
	mem, err := blobstore.OpenBackend(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	if err := obs.Probe(t.Context(), mem); err != nil {
		t.Fatalf("Probe of a working backend: %v", err)
	}
	var left []string
	if err := mem.List(t.Context(), "", func(k string) error { left = append(left, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("Probe left %v", left)
	}
	be := &downBackend{Backend: mem}
	be.down.Store(true)
	var ue *obs.UnavailableError
	if err := obs.Probe(t.Context(), be); !errors.As(err, &ue) {
		t.Errorf("Probe of a backend that is down: %v; want an *obs.UnavailableError", err)
	}
}
