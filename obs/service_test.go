package obs_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/obs/obstest"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

// harness is a Service over the real SQLite store, a backend and a fake
// clock, with a context of tenant A.
type harness struct {
	svc *obs.Service
	st  store.Store
	be  obs.Backend
	clk *clock.Fake
	ctx context.Context
}

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// newHarness returns a harness over be (nil: a mem backend).
func newHarness(t testing.TB, be obs.Backend, opts obs.Options) *harness {
	t.Helper()
	st, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if be == nil {
		if be, err = blobstore.OpenBackend(t.Context(), "mem://"); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { be.Close() })
	clk := clock.NewFake(t0)
	opts.Clock = clk
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &harness{
		svc: obs.New(st, be, opts),
		st:  st, be: be, clk: clk,
		ctx: tenantCtx(t, "tenant-a"),
	}
}

func tenantCtx(t testing.TB, tenant string) context.Context {
	return atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u-" + tenant, TenantID: tenant})
}

func (h *harness) mustBucket(t testing.TB, name string) *atelier.Bucket {
	t.Helper()
	b, err := h.svc.CreateBucket(h.ctx, name)
	if err != nil {
		t.Fatalf("CreateBucket(%q): %v", name, err)
	}
	return b
}

func (h *harness) mustPut(t testing.TB, bucket, key, data string) *atelier.Object {
	t.Helper()
	o, err := h.svc.PutObject(h.ctx, bucket, key, strings.NewReader(data), atelier.PutOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatalf("PutObject(%s/%s): %v", bucket, key, err)
	}
	return o
}

func (h *harness) mustRead(t testing.TB, bucket, key string) string {
	t.Helper()
	_, rc, _, err := h.svc.GetObject(h.ctx, bucket, key, nil)
	if err != nil {
		t.Fatalf("GetObject(%s/%s): %v", bucket, key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// blobs returns every key in the backend, sorted.
func (h *harness) blobs(t testing.TB) []string {
	t.Helper()
	return obstest.MustList(t, h.ctx, h.be, "")
}

// wantClean fails unless nothing but the given objects' blobs is in the
// backend and no upload is pending.
func (h *harness) wantClean(t testing.TB, live ...*atelier.Object) {
	t.Helper()
	var want []string
	for _, o := range live {
		want = append(want, o.BlobKey)
	}
	slices.Sort(want)
	if got := h.blobs(t); !slices.Equal(got, want) {
		t.Errorf("blobs = %q; want %q", got, want)
	}
	ups, err := h.st.StaleUploads(h.ctx, h.clk.Now().Add(1000*time.Hour), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != 0 {
		t.Errorf("%d pending uploads remain; want none", len(ups))
	}
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	b := h.mustBucket(t, "photos")
	if b.Name != "photos" || b.ID == "" || !b.CreatedAt.Equal(t0) {
		t.Fatalf("bucket = %+v", b)
	}
	_, err := h.svc.CreateBucket(h.ctx, "photos")
	wantCode(t, err, atelier.CodeBucketExists, "bucket")
	_, err = h.svc.CreateBucket(h.ctx, "No_Good")
	wantCode(t, err, atelier.CodeInvalidBucketName, "bucket")
	got, err := h.svc.GetBucket(h.ctx, "photos")
	if err != nil || got.ID != b.ID {
		t.Fatalf("GetBucket = %+v, %v", got, err)
	}
	_, err = h.svc.GetBucket(h.ctx, "nothere")
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	h.mustBucket(t, "alpha")
	list, err := h.svc.ListBuckets(h.ctx)
	if err != nil || len(list) != 2 || list[0].Name != "alpha" || list[1].Name != "photos" {
		t.Fatalf("ListBuckets = %v, %v; want alpha, photos", list, err)
	}

	o := h.mustPut(t, "photos", "a.jpg", "jpeg")
	wantCode(t, h.svc.DeleteBucket(h.ctx, "photos"), atelier.CodeBucketNotEmpty, "bucket")
	wantCode(t, h.svc.DeleteBucket(h.ctx, "nothere"), atelier.CodeBucketNotFound, "bucket")
	wantCode(t, h.svc.DeleteBucket(h.ctx, "x"), atelier.CodeInvalidBucketName, "bucket")
	if err := h.svc.DeleteObject(h.ctx, "photos", "a.jpg"); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.DeleteBucket(h.ctx, "photos"); err != nil {
		t.Fatalf("DeleteBucket of an emptied bucket: %v", err)
	}
	_ = o
	h.wantClean(t)

	// Nothing runs outside a tenant.
	if _, err := h.svc.ListBuckets(t.Context()); atelier.ErrorKind(err) != atelier.Unauthenticated {
		t.Fatalf("ListBuckets without a principal = %v; want unauthenticated", err)
	}
	if _, err := h.svc.PutObject(t.Context(), "alpha", "k", strings.NewReader("x"), atelier.PutOptions{Size: -1}); atelier.ErrorKind(err) != atelier.Unauthenticated {
		t.Fatalf("PutObject without a principal = %v; want unauthenticated", err)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "shared")
	oa := h.mustPut(t, "shared", "secret.txt", "tenant A data")
	ctxB := tenantCtx(t, "tenant-b")

	_, err := h.svc.GetBucket(ctxB, "shared")
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	wantCode(t, h.svc.DeleteBucket(ctxB, "shared"), atelier.CodeBucketNotFound, "bucket")
	wantCode(t, h.svc.DeleteObject(ctxB, "shared", "secret.txt"), atelier.CodeBucketNotFound, "bucket")
	_, _, _, err = h.svc.GetObject(ctxB, "shared", "secret.txt", nil)
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	_, err = h.svc.ListObjects(ctxB, "shared", atelier.ListQuery{})
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	_, err = h.svc.PutObject(ctxB, "shared", "x", strings.NewReader("x"), atelier.PutOptions{Size: -1})
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	if bs, err := h.svc.ListBuckets(ctxB); err != nil || len(bs) != 0 {
		t.Fatalf("tenant B sees buckets %v, %v", bs, err)
	}

	// B gets a bucket of the same name, with its own contents.
	if _, err := h.svc.CreateBucket(ctxB, "shared"); err != nil {
		t.Fatalf("tenant B CreateBucket(shared): %v", err)
	}
	_, err = h.svc.StatObject(ctxB, "shared", "secret.txt")
	wantCode(t, err, atelier.CodeObjectNotFound, "key")
	// B cannot copy from A's bucket into its own.
	_, err = h.svc.CopyObject(ctxB, "shared", "stolen", "shared", "secret.txt")
	wantCode(t, err, atelier.CodeObjectNotFound, "copy_source")
	if err := h.svc.DeleteBucket(ctxB, "shared"); err != nil {
		t.Fatal(err)
	}
	if got := h.mustRead(t, "shared", "secret.txt"); got != "tenant A data" {
		t.Fatalf("A's object holds %q", got)
	}
	h.wantClean(t, oa)
}

func TestPutGet(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "b01")
	data := "the quick brown fox"
	md := md5.Sum([]byte(data))
	sh := sha256.Sum256([]byte(data))
	o, err := h.svc.PutObject(h.ctx, "b01", "dir/fox.txt", strings.NewReader(data), atelier.PutOptions{
		Size: -1, ContentType: "text/plain", MD5: md[:], SHA256: sh[:],
	})
	if err != nil {
		t.Fatal(err)
	}
	want := atelier.Object{
		Bucket: "b01", Key: "dir/fox.txt", Size: int64(len(data)),
		ETag: hex.EncodeToString(md[:]), SHA256: hex.EncodeToString(sh[:]),
		ContentType: "text/plain", LastModified: t0,
	}
	check := func(what string, got *atelier.Object) {
		t.Helper()
		if got.Bucket != want.Bucket || got.Key != want.Key || got.Size != want.Size || got.ETag != want.ETag ||
			got.SHA256 != want.SHA256 || got.ContentType != want.ContentType || !got.LastModified.Equal(want.LastModified) {
			t.Fatalf("%s = %+v; want %+v", what, got, want)
		}
	}
	check("PutObject", o)
	st, err := h.svc.StatObject(h.ctx, "b01", "dir/fox.txt")
	if err != nil {
		t.Fatal(err)
	}
	check("StatObject", st)
	if got := h.mustRead(t, "b01", "dir/fox.txt"); got != data {
		t.Fatalf("read %q", got)
	}
	d := h.mustPut(t, "b01", "empty", "")
	if d.ContentType != obs.DefaultContentType || d.Size != 0 || d.ETag != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Fatalf("empty object = %+v", d)
	}
	if got := h.mustRead(t, "b01", "empty"); got != "" {
		t.Fatalf("empty object reads %q", got)
	}
	h.wantClean(t, o, d)
}

// errReader gives data, then err.
type errReader struct {
	data string
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.data == "" {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestPutFailures checks every bad upload: the code and field it gets, and
// that it leaves nothing behind while the object it meant to replace stays.
func TestPutFailures(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{MaxObjectBytes: 100})
	h.mustBucket(t, "bkt")
	old := h.mustPut(t, "bkt", "victim", "old content")
	good := "twelve bytes"
	md := md5.Sum([]byte(good))
	sh := sha256.Sum256([]byte(good))
	boom := errors.New("client reset")
	tests := []struct {
		name        string
		bucket, key string
		body        io.Reader
		opts        atelier.PutOptions
		code        atelier.Code
		field       string
	}{
		{"bad bucket", "B!", "victim", nil, atelier.PutOptions{Size: -1}, atelier.CodeInvalidBucketName, "bucket"},
		{"missing bucket", "nobucket", "victim", nil, atelier.PutOptions{Size: -1}, atelier.CodeBucketNotFound, "bucket"},
		{"empty key", "bkt", "", nil, atelier.PutOptions{Size: -1}, atelier.CodeInvalidObjectKey, "key"},
		{"dotdot key", "bkt", "a/../victim", nil, atelier.PutOptions{Size: -1}, atelier.CodeInvalidObjectKey, "key"},
		{"NUL key", "bkt", "a\x00b", nil, atelier.PutOptions{Size: -1}, atelier.CodeInvalidObjectKey, "key"},
		{"bad UTF-8 key", "bkt", "a\xff", nil, atelier.PutOptions{Size: -1}, atelier.CodeInvalidObjectKey, "key"},
		{"long key", "bkt", strings.Repeat("k", 1025), nil, atelier.PutOptions{Size: -1}, atelier.CodeInvalidObjectKey, "key"},
		{"MD5 length", "bkt", "victim", nil, atelier.PutOptions{Size: -1, MD5: []byte{1, 2}}, atelier.CodeInvalidDigest, "content_md5"},
		{"SHA length", "bkt", "victim", nil, atelier.PutOptions{Size: -1, SHA256: md[:]}, atelier.CodeInvalidDigest, "sha256"},
		{"declared too large", "bkt", "victim", nil, atelier.PutOptions{Size: 101}, atelier.CodeObjectTooLarge, "body"},
		{"streamed too large", "bkt", "victim", strings.NewReader(strings.Repeat("x", 101)), atelier.PutOptions{Size: -1}, atelier.CodeObjectTooLarge, "body"},
		{"short body", "bkt", "victim", strings.NewReader(good), atelier.PutOptions{Size: 20}, atelier.CodeIncompleteBody, "body"},
		{"long body", "bkt", "victim", strings.NewReader(good), atelier.PutOptions{Size: 5}, atelier.CodeIncompleteBody, "body"},
		{"unexpected EOF", "bkt", "victim", &errReader{good, io.ErrUnexpectedEOF}, atelier.PutOptions{Size: 20}, atelier.CodeIncompleteBody, "body"},
		{"MD5 mismatch", "bkt", "victim", strings.NewReader(good + "!"), atelier.PutOptions{Size: -1, MD5: md[:]}, atelier.CodeChecksumMismatch, "content_md5"},
		{"SHA mismatch", "bkt", "victim", strings.NewReader("twelve bytez"), atelier.PutOptions{Size: 12, SHA256: sh[:]}, atelier.CodeChecksumMismatch, "sha256"},
		{"both digests, SHA wrong", "bkt", "victim", strings.NewReader(good), atelier.PutOptions{Size: 12, MD5: md[:], SHA256: make([]byte, 32)}, atelier.CodeChecksumMismatch, "sha256"},
		// The transport's verdict on the body stays the client's error.
		{"malformed chunks", "bkt", "victim", &errReader{good, atelier.CodeBadBody.Errorf("bad chunk").WithField("body")}, atelier.PutOptions{Size: -1}, atelier.CodeBadBody, "body"},
		{"body too slow", "bkt", "victim", &errReader{good, atelier.CodeBodyTimeout.Errorf("slow").WithField("body")}, atelier.PutOptions{Size: -1}, atelier.CodeBodyTimeout, "body"},
	}
	for _, tc := range tests {
		body := tc.body
		if body == nil {
			body = strings.NewReader(good)
		}
		_, err := h.svc.PutObject(h.ctx, tc.bucket, tc.key, body, tc.opts)
		t.Run(tc.name, func(t *testing.T) { wantCode(t, err, tc.code, tc.field) })
	}

	// A reader that fails halfway gives its own error.
	_, err := h.svc.PutObject(h.ctx, "bkt", "victim", &errReader{strings.Repeat("y", 50), boom}, atelier.PutOptions{Size: -1})
	if !errors.Is(err, boom) {
		t.Fatalf("PutObject with a failing reader = %v; want its error", err)
	}
	// A client that goes away mid-body.
	cctx, cancel := context.WithCancel(h.ctx)
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte("partial"))
		cancel()
		pw.CloseWithError(context.Canceled)
	}()
	_, err = h.svc.PutObject(cctx, "bkt", "victim", pr, atelier.PutOptions{Size: 50})
	if atelier.ErrorCode(err) != atelier.CodeCanceled.ID {
		t.Fatalf("PutObject with a cancelled context = %v; want %s", err, atelier.CodeCanceled.ID)
	}

	if got := h.mustRead(t, "bkt", "victim"); got != "old content" {
		t.Fatalf("the old object holds %q after failed overwrites", got)
	}
	h.wantClean(t, old)

	// Digests that match are accepted.
	o, err := h.svc.PutObject(h.ctx, "bkt", "victim", strings.NewReader(good), atelier.PutOptions{Size: 12, MD5: md[:], SHA256: sh[:]})
	if err != nil {
		t.Fatalf("PutObject with matching digests: %v", err)
	}
	h.wantClean(t, o)
}

func TestOverwriteDeletesOldBlob(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "bkt")
	v1 := h.mustPut(t, "bkt", "k", "version one")
	v2 := h.mustPut(t, "bkt", "k", "version two")
	if v1.BlobKey == v2.BlobKey {
		t.Fatal("an overwrite reused the blob key")
	}
	if got := h.mustRead(t, "bkt", "k"); got != "version two" {
		t.Fatalf("read %q", got)
	}
	h.wantClean(t, v2)
	if q, err := h.st.PendingBlobDeletions(h.ctx, 10); err != nil || len(q) != 0 {
		t.Fatalf("deletion queue = %q, %v; want empty", q, err)
	}
}

// failDeletes is a backend whose Delete fails while fail is set.
type failDeletes struct {
	obs.Backend
	fail bool
}

func (f *failDeletes) Delete(ctx context.Context, key string) error {
	if f.fail {
		return errors.New("backend down")
	}
	return f.Backend.Delete(ctx, key)
}

func TestFailedDeletesAreQueued(t *testing.T) {
	t.Parallel()
	mem, err := blobstore.OpenBackend(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	be := &failDeletes{Backend: mem}
	h := newHarness(t, be, obs.Options{})
	h.mustBucket(t, "bkt")
	h.mustPut(t, "bkt", "k", "one")
	be.fail = true
	h.mustPut(t, "bkt", "k", "two")                                                                                            // replaced blob stays queued
	_, err = h.svc.PutObject(h.ctx, "bkt", "k", strings.NewReader("bad"), atelier.PutOptions{Size: -1, MD5: make([]byte, 16)}) // its blob is aborted anyway
	wantCode(t, err, atelier.CodeChecksumMismatch, "content_md5")
	h.mustPut(t, "bkt", "gone", "x")
	if err := h.svc.DeleteObject(h.ctx, "bkt", "gone"); err != nil {
		t.Fatal(err)
	}
	if q, _ := h.st.PendingBlobDeletions(h.ctx, 10); len(q) < 2 {
		t.Fatalf("deletion queue = %q; want the replaced and the deleted blobs", q)
	}
	if err := h.svc.Sweep(h.ctx, false); err == nil {
		t.Fatal("Sweep with a failing backend reported no error")
	}
	be.fail = false
	if err := h.svc.Sweep(h.ctx, false); err != nil {
		t.Fatal(err)
	}
	cur, err := h.svc.StatObject(h.ctx, "bkt", "k")
	if err != nil {
		t.Fatal(err)
	}
	h.wantClean(t, cur)
	if q, _ := h.st.PendingBlobDeletions(h.ctx, 10); len(q) != 0 {
		t.Fatalf("deletion queue = %q after a sweep; want empty", q)
	}
}

func TestStorageFull(t *testing.T) {
	t.Parallel()
	mem, err := blobstore.OpenBackend(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, obs.NewQuotaBackend(mem, 1000), obs.Options{})
	h.mustBucket(t, "bkt")
	old := h.mustPut(t, "bkt", "k", strings.Repeat("a", 600))
	_, err = h.svc.PutObject(h.ctx, "bkt", "k", strings.NewReader(strings.Repeat("b", 600)), atelier.PutOptions{Size: -1})
	wantCode(t, err, atelier.CodeStorageFull, "")
	_, err = h.svc.CopyObject(h.ctx, "bkt", "k2", "bkt", "k")
	wantCode(t, err, atelier.CodeStorageFull, "")
	if got := h.mustRead(t, "bkt", "k"); got != strings.Repeat("a", 600) {
		t.Fatal("the old object changed after a failed overwrite")
	}
	h.wantClean(t, old)
}

func TestCopyObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "src")
	h.mustBucket(t, "dst")
	s := h.mustPut(t, "src", "a", "copy me")
	prev := h.mustPut(t, "dst", "b", "to be replaced")
	c, err := h.svc.CopyObject(h.ctx, "dst", "b", "src", "a")
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "dst" || c.Key != "b" || c.ETag != s.ETag || c.SHA256 != s.SHA256 || c.Size != s.Size || c.BlobKey == s.BlobKey {
		t.Fatalf("copy = %+v of %+v", c, s)
	}
	if got := h.mustRead(t, "dst", "b"); got != "copy me" {
		t.Fatalf("copy reads %q", got)
	}
	_ = prev
	_, err = h.svc.CopyObject(h.ctx, "dst", "c", "src", "missing")
	wantCode(t, err, atelier.CodeObjectNotFound, "copy_source")
	_, err = h.svc.CopyObject(h.ctx, "dst", "c", "nosrc", "a")
	wantCode(t, err, atelier.CodeBucketNotFound, "copy_source")
	_, err = h.svc.CopyObject(h.ctx, "nodst", "c", "src", "a")
	wantCode(t, err, atelier.CodeBucketNotFound, "bucket")
	_, err = h.svc.CopyObject(h.ctx, "dst", "../c", "src", "a")
	wantCode(t, err, atelier.CodeInvalidObjectKey, "key")
	_, err = h.svc.CopyObject(h.ctx, "dst", "c", "src", "")
	wantCode(t, err, atelier.CodeInvalidObjectKey, "copy_source")
	h.wantClean(t, s, c)
}

func TestDeleteObject(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "bkt")
	h.mustPut(t, "bkt", "k", "x")
	if err := h.svc.DeleteObject(h.ctx, "bkt", "k"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, h.svc.DeleteObject(h.ctx, "bkt", "k"), atelier.CodeObjectNotFound, "key")
	_, _, _, err := h.svc.GetObject(h.ctx, "bkt", "k", nil)
	wantCode(t, err, atelier.CodeObjectNotFound, "key")
	h.wantClean(t)
}

func TestGetRange(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.mustBucket(t, "bkt")
	h.mustPut(t, "bkt", "ten", "0123456789")
	h.mustPut(t, "bkt", "zero", "")
	tests := []struct {
		key        string
		rng        atelier.Range
		want       atelier.Range
		body       string
		code       atelier.Code
		wantsError bool
	}{
		{key: "ten", rng: atelier.Range{Offset: 0, Length: -1}, want: atelier.Range{Offset: 0, Length: 10}, body: "0123456789"},
		{key: "ten", rng: atelier.Range{Offset: 2, Length: 3}, want: atelier.Range{Offset: 2, Length: 3}, body: "234"},
		{key: "ten", rng: atelier.Range{Offset: 8, Length: 100}, want: atelier.Range{Offset: 8, Length: 2}, body: "89"},
		{key: "ten", rng: atelier.Range{Offset: 9, Length: -1}, want: atelier.Range{Offset: 9, Length: 1}, body: "9"},
		{key: "ten", rng: atelier.Range{Offset: -3, Length: -1}, want: atelier.Range{Offset: 7, Length: 3}, body: "789"},
		{key: "ten", rng: atelier.Range{Offset: -100, Length: -1}, want: atelier.Range{Offset: 0, Length: 10}, body: "0123456789"},
		{key: "ten", rng: atelier.Range{Offset: 10, Length: -1}, code: atelier.CodeRangeNotSatisfiable, wantsError: true},
		{key: "ten", rng: atelier.Range{Offset: 11, Length: 5}, code: atelier.CodeRangeNotSatisfiable, wantsError: true},
		{key: "ten", rng: atelier.Range{Offset: 0, Length: 0}, code: atelier.CodeInvalidParam, wantsError: true},
		{key: "ten", rng: atelier.Range{Offset: -2, Length: 1}, code: atelier.CodeInvalidParam, wantsError: true},
		{key: "zero", rng: atelier.Range{Offset: 0, Length: -1}, code: atelier.CodeRangeNotSatisfiable, wantsError: true},
		{key: "zero", rng: atelier.Range{Offset: -5, Length: -1}, code: atelier.CodeRangeNotSatisfiable, wantsError: true},
	}
	for _, tc := range tests {
		_, rc, served, err := h.svc.GetObject(h.ctx, "bkt", tc.key, &tc.rng)
		if tc.wantsError {
			wantCode(t, err, tc.code, "range")
			continue
		}
		if err != nil {
			t.Fatalf("GetObject(%s, %+v): %v", tc.key, tc.rng, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != tc.body || *served != tc.want {
			t.Errorf("GetObject(%s, %+v) = %q, %+v, %v; want %q, %+v", tc.key, tc.rng, b, *served, err, tc.body, tc.want)
		}
	}
}

// TestSweepCrash simulates a server that died mid-upload: a pending record,
// a partial blob and a temp file beside it. Sweep(all) removes all three.
func TestSweepCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	be, err := blobstore.OpenBackend(t.Context(), "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, be, obs.Options{})
	b := h.mustBucket(t, "bkt")
	live := h.mustPut(t, "bkt", "live", "stays")
	u := &store.Upload{ID: atelier.NewID(), BucketID: b.ID, Key: "crashed", BlobKey: "data/zz/crashedblob", CreatedAt: t0, UpdatedAt: t0}
	if err := h.st.BeginUpload(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	obstest.MustPut(t, h.ctx, be, u.BlobKey, []byte("partial"))
	tmp := filepath.Join(dir, "data", "zz", "crashedblob.18f3a2b4c5d6e7f8.tmp")
	if err := os.WriteFile(tmp, []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.Sweep(h.ctx, true); err != nil {
		t.Fatal(err)
	}
	h.wantClean(t, live)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temp file after sweep: %v", err)
	}
	if got := h.mustRead(t, "bkt", "live"); got != "stays" {
		t.Fatalf("live object reads %q", got)
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func (h *harness) staleIDs(t *testing.T) []string {
	t.Helper()
	ups, err := h.st.StaleUploads(h.ctx, h.clk.Now().Add(-obs.DefaultStaleAfter), 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range ups {
		ids = append(ids, u.ID)
	}
	return ids
}

// TestSweepStaleVersusFresh runs an upload whose body keeps streaming past
// StaleAfter: its heartbeat keeps it fresh, so the sweeper spares it while it
// removes an upload whose heartbeat stopped.
func TestSweepStaleVersusFresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	b := h.mustBucket(t, "bkt")
	dead := &store.Upload{ID: "dead-upload", BucketID: b.ID, Key: "dead", BlobKey: "data/de/dead", CreatedAt: t0, UpdatedAt: t0}
	if err := h.st.BeginUpload(h.ctx, dead); err != nil {
		t.Fatal(err)
	}
	obstest.MustPut(t, h.ctx, h.be, dead.BlobKey, []byte("partial"))

	pr, pw := io.Pipe()
	type result struct {
		o   *atelier.Object
		err error
	}
	done := make(chan result, 1)
	go func() {
		o, err := h.svc.PutObject(h.ctx, "bkt", "slow", pr, atelier.PutOptions{Size: -1})
		done <- result{o, err}
	}()
	if _, err := pw.Write([]byte("first part ")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the upload to be pending", func() bool {
		ups, _ := h.st.StaleUploads(h.ctx, h.clk.Now().Add(time.Hour), 10)
		return len(ups) == 2
	})
	h.clk.Advance(3 * time.Minute)
	waitFor(t, "the heartbeat", func() bool {
		return slices.Equal(h.staleIDs(t), []string{"dead-upload"})
	})
	if err := h.svc.Sweep(h.ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("second part")); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("the slow upload failed after a sweep: %v", r.err)
	}
	if got := h.mustRead(t, "bkt", "slow"); got != "first part second part" {
		t.Fatalf("slow upload reads %q", got)
	}
	h.wantClean(t, r.o)
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	h.svc.Stop() // before Start: nothing to stop
	b := h.mustBucket(t, "bkt")
	u := &store.Upload{ID: "old", BucketID: b.ID, Key: "k", BlobKey: "data/ol/old", CreatedAt: t0, UpdatedAt: t0}
	if err := h.st.BeginUpload(h.ctx, u); err != nil {
		t.Fatal(err)
	}
	obstest.MustPut(t, h.ctx, h.be, u.BlobKey, []byte("x"))
	h.svc.Start(h.ctx)
	h.svc.Start(h.ctx) // a second Start does nothing
	h.clk.Advance(obs.DefaultStaleAfter + obs.DefaultSweepEvery)
	waitFor(t, "the sweeper", func() bool {
		return len(h.blobs(t)) == 0 && len(h.staleIDs(t)) == 0
	})
	h.svc.Stop()
	h.svc.Stop()
	h.wantClean(t)
}

func TestPing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, obs.Options{})
	if err := h.svc.Ping(h.ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLargeObjectStreams puts and gets an object far larger than any buffer
// through the file backend and checks it by SHA-256.
func TestLargeObjectStreams(t *testing.T) {
	t.Parallel()
	be, err := blobstore.OpenBackend(t.Context(), "file://"+filepath.ToSlash(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, be, obs.Options{})
	h.mustBucket(t, "bkt")
	const size = 32 << 20
	want := sha256.New()
	o, err := h.svc.PutObject(h.ctx, "bkt", "big", io.TeeReader(obstest.NewGenReader(size), want), atelier.PutOptions{Size: size})
	if err != nil {
		t.Fatal(err)
	}
	if o.SHA256 != hex.EncodeToString(want.Sum(nil)) || o.Size != size {
		t.Fatalf("object = %+v", o)
	}
	_, rc, _, err := h.svc.GetObject(h.ctx, "bkt", "big", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := sha256.New()
	if _, err := io.Copy(got, rc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("read back different bytes")
	}
}
