package atelier

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
)

var parsePathTests = []struct {
	in          string
	bucket, key string
	ok          bool
}{
	{"obs://bkt/k", "bkt", "k", true},
	{"OBS://bkt/dir/", "bkt", "dir/", true},
	{"s3://bkt/a/b/c.txt", "bkt", "a/b/c.txt", true},
	{"/bkt/k", "bkt", "k", true},
	{"obs://bkt", "bkt", "", true},
	{"obs://bkt/", "bkt", "", true},
	{"/bkt", "bkt", "", true},
	{"obs://bkt//x", "", "", false},
	{"obs://Bad_Bucket/x/", "", "", false},
	{"obs://", "", "", false},
	{"obs:///k", "", "", false},
	{"//k", "", "", false},
	{"bkt/k", "", "", false},
	{"", "", "", false},
	{"http://bkt/k", "", "", false},
}

// TestParsePath checks the SDK's paths against the one grammar
// (atelier.ParseObjectPath): a new user found OBS:// taken by the SDK but
// refused by training, and obs://Bad_Bucket/x/ the other way round.
func TestParsePath(t *testing.T) {
	for _, tt := range parsePathTests {
		b, k, err := ParsePath(tt.in)
		if (err == nil) != tt.ok || b != tt.bucket || k != tt.key {
			t.Errorf("ParsePath(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, b, k, err, tt.bucket, tt.key, tt.ok)
		}
		if err == nil {
			continue
		}
		var ae *core.Error
		if !errors.As(err, &ae) || ae.Code != core.CodeInvalidParam.ID || ae.Field != "path" || !strings.Contains(ae.Message, fmt.Sprintf("%q", tt.in)) {
			t.Errorf("ParsePath(%q) error = %#v; want %s for field path, quoting the path", tt.in, err, core.CodeInvalidParam.ID)
		}
	}
	_, _, err := ParsePath("obs://Bad_Bucket/x/")
	if msg := core.ErrorMessage(err); !strings.Contains(msg, "The bucket name may hold only") {
		t.Errorf("message %q does not say what is wrong with the bucket", msg)
	}
}

func FuzzParsePath(f *testing.F) {
	for _, tt := range parsePathTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, k, err := ParsePath(s)
		if err != nil {
			return
		}
		if b == "" || strings.Contains(b, "/") {
			t.Fatalf("ParsePath(%q) gave bucket %q", s, b)
		}
		for _, form := range []string{"obs://" + b + "/" + k, "s3://" + b + "/" + k, "/" + b + "/" + k} {
			b2, k2, err := ParsePath(form)
			if err != nil || b2 != b || k2 != k {
				t.Fatalf("round trip of %q through %q: %q, %q, %v", s, form, b2, k2, err)
			}
		}
	})
}

// mustTree writes files (relative slash paths → content) and empty dirs under root.
func mustTree(t *testing.T, root string, files map[string]string, emptyDirs ...string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range emptyDirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every file under root (slash paths → content) and every directory.
func readTree(t *testing.T, root string) (map[string]string, []string) {
	t.Helper()
	files := map[string]string{}
	var dirs []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			dirs = append(dirs, filepath.ToSlash(rel))
			return nil
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(dirs)
	return files, dirs
}

func TestDirectoryRoundTrip(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	ctx := context.Background()
	c.CreateBucket(ctx, "b")
	src := filepath.Join(t.TempDir(), "imgs")
	want := map[string]string{"a.txt": "alpha", "sub/b.txt": "beta", "sub/deep/c.bin": strings.Repeat("c", 5000), "empty.txt": ""}
	mustTree(t, src, want, "nothing/here", "sub/void")

	var planned [2]int64
	var done []string
	var mu sync.Mutex
	sum, err := c.UploadDir(ctx, src+"/", "b", "in/", TransferOptions{
		Parallel: 3,
		Planned:  func(n int, b int64) { planned = [2]int64{int64(n), b} },
		FileDone: func(p string, _ int64) { mu.Lock(); done = append(done, p); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 4 || sum.Bytes != 5009 || planned != [2]int64{4, 5009} || len(done) != 4 {
		t.Errorf("summary %+v, planned %v, done %v", sum, planned, done)
	}
	var keys []string
	for k := range f.objects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if got := strings.Join(keys, ","); got != "b/in/imgs/a.txt,b/in/imgs/empty.txt,b/in/imgs/sub/b.txt,b/in/imgs/sub/deep/c.bin" {
		t.Errorf("stored keys %s", got)
	}

	// A directory marker key is skipped: no empty directory appears.
	f.objects["b/in/imgs/marker/"] = nil
	dst := t.TempDir()
	if _, err := c.DownloadDir(ctx, "b", "in/imgs/", dst, TransferOptions{Parallel: 2}); err != nil {
		t.Fatal(err)
	}
	gotFiles, gotDirs := readTree(t, filepath.Join(dst, "imgs"))
	if fmt.Sprint(gotFiles) != fmt.Sprint(want) {
		t.Errorf("downloaded %v, want %v", gotFiles, want)
	}
	if strings.Join(gotDirs, ",") != ".,sub,sub/deep" {
		t.Errorf("directories %v, want only those holding files", gotDirs)
	}
	// A prefix without "/" is a directory too; the bucket root is named after the bucket.
	dst2 := t.TempDir()
	if _, err := c.DownloadDir(ctx, "b", "in", dst2, TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst2, "in", "imgs", "sub", "b.txt")); err != nil {
		t.Error(err)
	}
	dst3 := t.TempDir()
	if _, err := c.DownloadDir(ctx, "b", "", dst3, TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dst3, "b", "in", "imgs", "a.txt")); err != nil {
		t.Error(err)
	}

	if _, err := c.CopyDir(ctx, "b", "copy/", "b", "in/imgs/", TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	if string(f.objects["b/copy/imgs/sub/b.txt"]) != "beta" {
		t.Errorf("CopyDir did not copy into copy/imgs/: %v", f.objects)
	}

	if _, err := c.UploadDir(ctx, src, "b", "in", TransferOptions{}); core.ErrorKind(err) != core.Invalid {
		t.Errorf("destination without /: %v, want invalid", err)
	}
}

func TestUploadDirParallelismBound(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	src := t.TempDir()
	files := map[string]string{}
	for i := range 8 {
		files[fmt.Sprintf("f%d", i)] = "x"
	}
	mustTree(t, src, files)

	const limit = 3
	var mu sync.Mutex
	inflight, peak := 0, 0
	full := make(chan struct{})
	f.putHook = func() {
		mu.Lock()
		inflight++
		peak = max(peak, inflight)
		if inflight == limit {
			select {
			case <-full:
			default:
				close(full)
			}
		}
		mu.Unlock()
		// The first uploads wait until `limit` run at once, proving the
		// client does run them in parallel.
		select {
		case <-full:
		case <-time.After(10 * time.Second):
			t.Error("never had 3 uploads in flight at once")
		}
		mu.Lock()
		inflight--
		mu.Unlock()
	}
	sum, err := c.UploadDir(context.Background(), src, "b", "", TransferOptions{Parallel: limit})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Files != 8 || peak != limit {
		t.Errorf("uploaded %d files with peak parallelism %d, want 8 and %d", sum.Files, peak, limit)
	}
}

func TestDownloadDirRefusesEscapingKeys(t *testing.T) {
	f := newFakeServer(t)
	c := mustClient(t, Options{Endpoint: f.URL, Token: "good"})
	c.CreateBucket(context.Background(), "b")
	f.objects["b/d/../../etc"] = []byte("x")
	dst := t.TempDir()
	if _, err := c.DownloadDir(context.Background(), "b", "d/", dst, TransferOptions{}); core.ErrorCode(err) != core.CodeInvalidObjectKey.ID {
		t.Errorf("err = %v, want %s", err, core.CodeInvalidObjectKey.ID)
	}
	if entries, _ := os.ReadDir(dst); len(entries) != 0 {
		t.Errorf("wrote %v", entries)
	}
}
