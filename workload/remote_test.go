package workload_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/fakeexec"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/ziptest"
	"github.com/atelier-dev/atelier/obs"
	"github.com/atelier-dev/atelier/obs/blobstore"
	"github.com/atelier-dev/atelier/store/sqlitestore"
	"github.com/atelier-dev/atelier/workload"
)

var t0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

const (
	testStager   = "/opt/atelier/bin/atelier"
	testEndpoint = "http://127.0.0.1:9/"
)

// remoteHarness is a runtime over the real object store and a fake
// driver whose tasks share no filesystem with the server.
type remoteHarness struct {
	t       *testing.T
	dir     string
	objects atelier.ObjectService
	ctx     context.Context
	drv     *fakeexec.Driver
	p       *obs.Presigner
	rt      *workload.Runtime
}

func newRemoteHarness(t *testing.T, opts workload.Options) *remoteHarness {
	t.Helper()
	h := &remoteHarness{t: t, dir: t.TempDir()}
	st, err := sqlitestore.Open(t.Context(), filepath.Join(h.dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	be, err := blobstore.OpenBackend(t.Context(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	discard := slog.New(slog.DiscardHandler)
	h.objects = obs.New(st, be, obs.Options{Logger: discard})
	h.ctx = atelier.NewContextWithPrincipal(t.Context(), &atelier.Principal{UserID: "u1", TenantID: "tenant-a"})
	if _, err := h.objects.CreateBucket(h.ctx, "data"); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(t0)
	h.drv = fakeexec.New(fakeexec.Options{Name: "remote", Capabilities: &driver.Capabilities{Batch: true, Gang: true, Recover: true, Isolation: driver.IsolationCluster}})
	ex, err := executor.Open(t.Context(), h.drv, executor.Options{StateDir: filepath.Join(h.dir, "journal"), Slots: 4, Clock: clk, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	set, err := executor.NewSet("remote", ex)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	if h.p, err = obs.NewPresigner(bytes.Repeat([]byte{5}, 32), clk); err != nil {
		t.Fatal(err)
	}
	opts.Clock, opts.Logger = clk, discard
	if opts.Stager == "none" {
		opts.Stager = ""
	} else {
		opts.Presigner, opts.Stager, opts.TaskEndpoint = h.p, testStager, testEndpoint
	}
	h.rt = workload.New(h.objects, set, opts)
	t.Cleanup(h.rt.Stop)
	return h
}

func (h *remoteHarness) put(key string, data []byte) {
	h.t.Helper()
	if _, err := h.objects.PutObject(h.ctx, "data", key, bytes.NewReader(data), atelier.PutOptions{Size: int64(len(data))}); err != nil {
		h.t.Fatal(err)
	}
}

// launch launches spec and returns a channel of its result.
func (h *remoteHarness) launch(spec workload.Spec) <-chan *workload.Result {
	h.t.Helper()
	done := make(chan *workload.Result, 1)
	err := h.rt.Launch(spec, workload.Hooks{Finished: func(_ context.Context, res *workload.Result) error {
		done <- res
		return nil
	}})
	if err != nil {
		h.t.Fatal(err)
	}
	return done
}

func waitResult(t *testing.T, c <-chan *workload.Result) *workload.Result {
	t.Helper()
	select {
	case res := <-c:
		return res
	case <-time.After(20 * time.Second):
		t.Fatal("the workload never finished")
		return nil
	}
}

func (h *remoteHarness) waitStarted(id string) driver.TaskConfig {
	h.t.Helper()
	if got := h.drv.WaitStarted(h.t, 20*time.Second); got != id {
		h.t.Fatalf("task %q started, want %q", got, id)
	}
	cfg, _ := h.drv.Task(id)
	return cfg
}

func (h *remoteHarness) spec(id string) workload.Spec {
	dir := filepath.Join(h.dir, "work", id)
	obj := func(p string) *workload.ObjectInput {
		op, err := atelier.ParseObjectPath(p)
		if err != nil {
			h.t.Fatal(err)
		}
		return &workload.ObjectInput{Path: op}
	}
	return workload.Spec{
		ID: id, Tenant: "tenant-a", Dir: dir,
		Task: executor.Spec{Workers: 1, Command: []string{"python3", filepath.Join(dir, "code", "train.py"), "--lr=1"}, Env: map[string]string{"A": "1"}, Timeout: time.Hour},
		Inputs: []workload.Input{
			{Field: "code", Dir: filepath.Join(dir, "code"), Object: obj("obs://data/code.zip")},
			{Field: "in0", Dir: filepath.Join(dir, "inputs", "0"), Object: obj("obs://data/in/")},
			{Field: "in1", Dir: filepath.Join(dir, "inputs", "1"), Object: obj("obs://data/cfg.json")},
			{Field: "empty", Dir: filepath.Join(dir, "inputs", "2")},
		},
		Outputs:       []workload.Output{{Field: "out0", Dir: filepath.Join(dir, "outputs", "0"), Dest: atelier.ObjectPath{Bucket: "data", Key: "out/"}}},
		MaxUnzipBytes: 1 << 20,
	}
}

// TestRemoteStaging: on a driver without a shared filesystem nothing is
// staged on the server; the task's command runs behind the stager with a
// manifest of presigned URLs that grant exactly each input and output.
func TestRemoteStaging(t *testing.T) {
	t.Parallel()
	h := newRemoteHarness(t, workload.Options{})
	h.put("code.zip", ziptest.Bytes(t, map[string]string{"train.py": "print(1)\n"}))
	h.put("in/a.txt", []byte("a"))
	h.put("in/sub/b.txt", []byte("b"))
	h.put("cfg.json", []byte("{}"))
	spec := h.spec("w1")
	done := h.launch(spec)
	cfg := h.waitStarted("w1")

	if want := slices.Concat([]string{testStager, workload.StageCommand, "--"}, spec.Task.Command); !slices.Equal(cfg.Command, want) {
		t.Errorf("command = %q, want %q", cfg.Command, want)
	}
	if cfg.Dir != spec.Dir || cfg.Env["A"] != "1" {
		t.Errorf("dir %q, env %v", cfg.Dir, cfg.Env)
	}
	if _, err := os.Stat(spec.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the server made the working directory: %v", err)
	}
	if spec.Task.Env[workload.StageEnv] != "" {
		t.Error("the runtime changed the owner's env map")
	}
	m, err := workload.ParseStageManifest(strings.NewReader(cfg.Env[workload.StageEnv]))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.MaxUnzipBytes != 1<<20 || len(m.Inputs) != 4 || len(m.Outputs) != 1 {
		t.Fatalf("manifest = %+v", m)
	}
	wantIn := []struct {
		dir  string
		kind workload.SourceKind
		op   atelier.ObjectOp
		key  string // what the URL grants
		deny string // a key it must not
	}{
		{"code", workload.SourceZip, atelier.OpGetObject, "code.zip", "cfg.json"},
		{"inputs/0", workload.SourceDir, atelier.OpGetObject, "in/sub/b.txt", "cfg.json"},
		{"inputs/1", workload.SourceObject, atelier.OpGetObject, "cfg.json", "code.zip"},
		{"inputs/2", "", "", "", ""},
	}
	for i, w := range wantIn {
		in := m.Inputs[i]
		if in.Dir != w.dir || in.Kind != w.kind {
			t.Errorf("input %d = %+v, want dir %q kind %q", i, in, w.dir, w.kind)
		}
		if w.op == "" {
			if in.URL != "" {
				t.Errorf("the empty input has a URL")
			}
			continue
		}
		q := mustQuery(t, in.URL)
		if _, err := h.p.Verify(q, w.op, "data", w.key); err != nil {
			t.Errorf("input %d's URL does not grant %s: %v", i, w.key, err)
		}
		if _, err := h.p.Verify(q, w.op, "data", w.deny); err == nil {
			t.Errorf("input %d's URL grants %s too", i, w.deny)
		}
		if _, err := h.p.Verify(q, atelier.OpPutObject, "data", w.key); err == nil {
			t.Errorf("input %d's URL allows writing", i)
		}
	}
	if u, _ := url.Parse(m.Inputs[1].URL); u.Path != "/v1/obs/data" || u.Query().Get("prefix") != "in/" {
		t.Errorf("the directory's URL %s is not the listing of in/", u.Redacted())
	}
	out := m.Outputs[0]
	q := mustQuery(t, out.URL)
	if u, _ := url.Parse(out.URL); out.Dir != "outputs/0" || u.Path != "/v1/obs/data/out/" || u.Host != "127.0.0.1:9" {
		t.Errorf("output = dir %q path %q host %q", out.Dir, u.Path, u.Host)
	}
	if _, err := h.p.Verify(q, atelier.OpPutObject, "data", "out/m/model.bin"); err != nil {
		t.Errorf("the output URL does not grant writing under out/: %v", err)
	}
	for _, bad := range []struct {
		op  atelier.ObjectOp
		key string
	}{{atelier.OpPutObject, "in/a.txt"}, {atelier.OpGetObject, "out/x"}, {atelier.OpListObjects, "out/"}} {
		if _, err := h.p.Verify(q, bad.op, "data", bad.key); err == nil {
			t.Errorf("the output URL allows %s %s", bad.op, bad.key)
		}
	}
	// A file the server has at the output's path is not uploaded: the
	// stager in the task uploads.
	if err := os.MkdirAll(spec.Outputs[0].Dir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spec.Outputs[0].Dir, "server.txt"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := h.drv.Exit("w1", driver.ExitResult{Kind: driver.ExitCompleted, Worker: -1}); err != nil {
		t.Fatal(err)
	}
	res := waitResult(t, done)
	if res.Err != nil || !res.Exit.Success() || res.OutputsFailed || len(res.Notes) > 0 {
		t.Errorf("result = %+v", res)
	}
	if _, err := h.objects.StatObject(h.ctx, "data", "out/server.txt"); atelier.ErrorKind(err) != atelier.NotFound {
		t.Errorf("the runtime uploaded an output itself: %v", err)
	}
}

func mustQuery(t *testing.T, raw string) atelier.PresignedQuery {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return atelier.PresignedQueryFrom(u.Query())
}

// TestRemoteStagerExits: the stager's own exit codes say that staging or
// the uploads failed.
func TestRemoteStagerExits(t *testing.T) {
	t.Parallel()
	h := newRemoteHarness(t, workload.Options{})
	h.put("code.zip", ziptest.Bytes(t, map[string]string{"train.py": "print(1)\n"}))
	h.put("in/a.txt", []byte("a"))
	h.put("cfg.json", []byte("{}"))
	for _, tc := range []struct {
		code          int
		err           bool
		outputsFailed bool
	}{{workload.StagerExitInputs, true, false}, {workload.StagerExitOutputs, false, true}, {3, false, false}} {
		id := "exit-" + string(rune('a'+tc.code%26))
		done := h.launch(h.spec(id))
		h.waitStarted(id)
		msg := "worker-0 exited with code ...: atelier task-stage: reason"
		if err := h.drv.Exit(id, driver.ExitResult{Kind: driver.ExitFailed, Code: tc.code, Worker: 0, Message: msg}); err != nil {
			t.Fatal(err)
		}
		res := waitResult(t, done)
		switch {
		case (res.Err != nil) != tc.err:
			t.Errorf("exit %d: Err = %v", tc.code, res.Err)
		case res.OutputsFailed != tc.outputsFailed:
			t.Errorf("exit %d: OutputsFailed = %v", tc.code, res.OutputsFailed)
		case tc.outputsFailed && (!res.Exit.Success() || !strings.Contains(strings.Join(res.Notes, ";"), "reason")):
			t.Errorf("exit %d: exit %+v, notes %q", tc.code, res.Exit, res.Notes)
		case tc.err && !strings.Contains(workload.SafeMessage(res.Err), "reason"):
			t.Errorf("exit %d: %q does not carry the stager's reason", tc.code, workload.SafeMessage(res.Err))
		case !tc.err && !tc.outputsFailed && (res.Exit.Kind != driver.ExitFailed || res.Exit.Code != 3):
			t.Errorf("exit 3 became %+v", res.Exit)
		}
	}
}

// TestRemoteRefusals: what only the server can stage, a missing source
// and a server without a stager all fail the workload before anything is
// submitted, naming the input.
func TestRemoteRefusals(t *testing.T) {
	t.Parallel()
	h := newRemoteHarness(t, workload.Options{})
	staged := false
	spec := h.spec("closure")
	spec.Inputs = []workload.Input{{Field: "spec.inputs[0]", Dir: filepath.Join(spec.Dir, "inputs", "0"), Stage: func(context.Context, string, string) error {
		staged = true
		return nil
	}}}
	spec.Outputs = nil
	res := waitResult(t, h.launch(spec))
	if msg := workload.SafeMessage(res.Err); !strings.HasPrefix(msg, "spec.inputs[0]: ") || !strings.Contains(msg, "only be staged on the server") || staged {
		t.Errorf("a Stage input: %q (staged %v)", msg, staged)
	}

	spec = h.spec("missing")
	res = waitResult(t, h.launch(spec))
	if msg := workload.SafeMessage(res.Err); !strings.HasPrefix(msg, "code: ") || !errors.Is(res.Err, workload.ErrNoSource) {
		t.Errorf("a missing source: %q, %v", msg, res.Err)
	}

	h2 := newRemoteHarness(t, workload.Options{Stager: "none"})
	h2.put("code.zip", ziptest.Bytes(t, map[string]string{"train.py": ""}))
	res = waitResult(t, h2.launch(h2.spec("nostager")))
	if msg := workload.SafeMessage(res.Err); !strings.Contains(msg, "presigned") {
		t.Errorf("without a stager: %q", msg)
	}
	for _, d := range []*fakeexec.Driver{h.drv, h2.drv} {
		if r := d.Running(); len(r) > 0 {
			t.Errorf("tasks were submitted: %q", r)
		}
	}
}

func TestParseStageManifest(t *testing.T) {
	t.Parallel()
	ok := `{"version":1,"inputs":[{"field":"f","dir":"code","kind":"zip","url":"http://h:1/v1/obs/b/c.zip?x=1"},{"field":"e","dir":"inputs/2"}],"outputs":[{"field":"o","dir":"outputs/0","url":"https://h/v1/obs/b/out/"}]}`
	if _, err := workload.ParseStageManifest(strings.NewReader(ok)); err != nil {
		t.Fatalf("a good manifest: %v", err)
	}
	for name, m := range map[string]string{
		"not json":        `{`,
		"unknown field":   `{"version":1,"extra":1}`,
		"version":         `{"version":2}`,
		"dir escapes":     `{"version":1,"inputs":[{"field":"f","dir":"../x"}]}`,
		"absolute dir":    `{"version":1,"outputs":[{"field":"f","dir":"/etc","url":"http://h/v1/obs/b/"}]}`,
		"unknown kind":    `{"version":1,"inputs":[{"field":"f","dir":"x","kind":"tar","url":"http://h/v1/obs/b/x"}]}`,
		"file url":        `{"version":1,"inputs":[{"field":"f","dir":"x","kind":"object","url":"file:///etc/passwd"}]}`,
		"not obs":         `{"version":1,"outputs":[{"field":"f","dir":"x","url":"http://h/v1/training/jobs"}]}`,
		"negative unzip":  `{"version":1,"max_unzip_bytes":-1}`,
		"output no url":   `{"version":1,"outputs":[{"field":"f","dir":"x"}]}`,
		"input no scheme": `{"version":1,"inputs":[{"field":"f","dir":"x","kind":"dir","url":"//h/v1/obs/b?prefix=x"}]}`,
	} {
		if _, err := workload.ParseStageManifest(strings.NewReader(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
