package executortest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
)

func testService(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, sh(python()+` -m http.server --bind 127.0.0.1 "$PORT_HTTP"`))
	s.Kind = driver.KindService
	s.Ports = []string{"http"}
	s.Readiness = &driver.Probe{HTTPPath: "/"}
	hd := MustSubmit(t, ex, s)
	var st *executor.Status
	poll(t, "service ready", func() bool {
		var err error
		st, err = ex.Status(ctxT(t), hd)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == executor.Exited {
			t.Fatalf("service exited: %+v", st.Exit)
		}
		return st.Ready
	})
	if len(st.Endpoints) != 1 || st.Endpoints[0].Worker != 0 || st.Endpoints[0].Name != "http" {
		t.Fatalf("endpoints = %+v, want worker 0's http", st.Endpoints)
	}
	resp, err := http.Get("http://" + st.Endpoints[0].Addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET / = %d", resp.StatusCode)
	}
	if err := ex.Stop(ctxT(t), hd, time.Second); err != nil {
		t.Fatal(err)
	}
	st = MustWait(t, ex, hd)
	wantExit(t, st, driver.ExitStopped, -1, -1)
	if len(st.Endpoints) != 0 || st.Ready {
		t.Errorf("an exited service has endpoints %+v, ready %v", st.Endpoints, st.Ready)
	}
}

// testGPUPlacement packs GPU-memory shares best-fit on the harness's
// (configured) GPUs, never over-commits, and sets CUDA_VISIBLE_DEVICES.
func testGPUPlacement(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	gpus := ex.Capacity().GPUs
	if len(gpus) < 2 || gpus[0].MemoryMB != gpus[1].MemoryMB || gpus[0].MemoryMB < 4096 {
		t.Fatalf("GPUs %+v: a harness with Want.GPUs needs two GPUs of equal memory, at least 4 GiB each", gpus)
	}
	mem := gpus[0].MemoryMB
	run := func(name string, share int64, whole int) (*executor.Spec, *executor.Handle) {
		s := spec(t, 1, sh(`echo "$CUDA_VISIBLE_DEVICES $ATELIER_GPU_MEMORY_MB" > gpu.tmp && mv gpu.tmp gpu; while [ ! -e go ]; do sleep 0.01; done`))
		s.GPUMemoryMB, s.GPUs = share, whole
		s.Tenant = name
		return s, MustSubmit(t, ex, s)
	}
	id := func(g driver.GPU) string {
		if g.UUID != "" {
			return g.UUID
		}
		return strconv.Itoa(g.Index)
	}
	big := mem - 1024*((mem/1024)/4) // about three quarters
	sa, ha := run("a", big, 0)       // GPU 0 (both free: the lower index)
	sb, hb := run("b", mem-big, 0)   // fits GPU 0's rest exactly: best fit
	sc, hc := run("c", 0, 1)         // the whole of GPU 1
	sd, hd := run("d", 1024, 0)      // no room anywhere: queued
	for _, c := range []struct {
		s    *executor.Spec
		h    *executor.Handle
		want string
	}{{sa, ha, fmt.Sprintf("%s %d", id(gpus[0]), big)}, {sb, hb, fmt.Sprintf("%s %d", id(gpus[0]), mem-big)}, {sc, hc, fmt.Sprintf("%s %d", id(gpus[1]), mem)}} {
		if got := waitFile(t, filepath.Join(c.s.Dir, "gpu")); got != c.want {
			t.Errorf("%s sees %q, want %q", c.s.Tenant, got, c.want)
		}
	}
	if st, _ := ex.Status(ctxT(t), hd); st.State != executor.Queued {
		t.Fatalf("a share with every GPU full: %+v, want queued", st)
	}
	touch(t, filepath.Join(sa.Dir, "go"))
	MustWait(t, ex, ha)
	if got := waitFile(t, filepath.Join(sd.Dir, "gpu")); got != fmt.Sprintf("%s 1024", id(gpus[0])) {
		t.Errorf("d sees %q once a's share was free, want GPU 0", got)
	}
	for _, s := range []*executor.Spec{sb, sc, sd} {
		touch(t, filepath.Join(s.Dir, "go"))
	}
	for _, x := range []*executor.Handle{hb, hc, hd} {
		MustWait(t, ex, x)
	}
}

// isolationScript probes the sandbox from inside and writes what it saw to
// probe.json.
const isolationScript = `
import json, os, subprocess, sys
out = {"env": sorted(os.environ)}
def attempt(name, fn):
    try:
        fn()
        out[name] = "allowed"
    except Exception as e:
        out[name] = "refused: " + type(e).__name__
secret = sys.argv[1]
attempt("read_secret", lambda: open(secret).read())
attempt("read_state", lambda: os.listdir(sys.argv[2]))
attempt("proc1_root", lambda: open("/proc/1/root" + secret).read())
os.symlink(secret, "link")
attempt("symlink_out", lambda: open("link").read())
attempt("write_usr", lambda: open("/usr/atelier-escape", "w").write("x"))
attempt("write_etc", lambda: open("/etc/atelier-escape", "w").write("x"))
def fill_tmp():
    with open("/tmp/fill", "wb") as f:
        for _ in range(8):
            f.write(b"x" * (1 << 20))
            f.flush()
attempt("fill_tmp", fill_tmp)
def userns():
    if subprocess.run(["unshare", "-U", "true"], capture_output=True).returncode != 0:
        raise PermissionError("unshare")
attempt("userns", userns)
procs = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            procs.append(open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").decode())
        except OSError:
            pass
out["procs"] = procs
out["proc1_environ"] = open("/proc/1/environ", "rb").read().decode(errors="replace")
out["uid"] = os.getuid()
with open("probe.json", "w") as f:
    json.dump(out, f)
`

// testIsolation runs a worker that tries to reach outside its sandbox
// (CONTRACT §9) next to a neighbour task, and checks it saw nothing of the
// host, the server or the neighbour.
func testIsolation(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.key")
	if err := os.WriteFile(secret, []byte("the server's key"), 0o644); err != nil {
		t.Fatal(err)
	}
	neighbour := spec(t, 1, sh(`echo neighbour-secret > mine; while [ ! -e go ]; do sleep 0.01; done`))
	neighbour.Tenant = "tenant-b"
	nh := MustSubmit(t, ex, neighbour)
	MustState(t, ex, nh, executor.Running)

	s := spec(t, 1, []string{python(), "-c", isolationScript, secret, envOf(t, h).stateDir})
	s.Limits.TmpBytes = 1 << 20
	s.Env = map[string]string{"MINE": "1"}
	hd := MustSubmit(t, ex, s)
	if st := MustWait(t, ex, hd); !st.Exit.Success() {
		t.Fatalf("probe = %+v", st.Exit)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "probe.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Env          []string `json:"env"`
		Procs        []string `json:"procs"`
		Proc1Environ string   `json:"proc1_environ"`
		UID          int      `json:"uid"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	var attempts map[string]any
	_ = json.Unmarshal(b, &attempts)
	for _, name := range []string{"read_secret", "read_state", "proc1_root", "symlink_out", "write_usr", "write_etc", "fill_tmp", "userns"} {
		if v, _ := attempts[name].(string); !strings.HasPrefix(v, "refused") {
			t.Errorf("%s: %q, want refused", name, v)
		}
	}
	allowed := slices.Concat(driver.TaskEnv, []string{"MINE", "PWD", "SHLVL", "_"})
	documented := func(k string) bool {
		return slices.Contains(allowed, k) || strings.HasPrefix(k, "PORT_") || strings.HasPrefix(k, "LC_")
	}
	for _, k := range got.Env {
		if !documented(k) {
			t.Errorf("the worker's environment has %s, which no driver documents", k)
		}
	}
	// The sandbox's first process (the driver's, e.g. bubblewrap's init)
	// holds only documented variables too: nothing of the server's.
	if !strings.Contains(got.Proc1Environ, "PATH=") {
		t.Errorf("/proc/1/environ in the sandbox = %q, want the task's environment", got.Proc1Environ)
	}
	for kv := range strings.SplitSeq(got.Proc1Environ, "\x00") {
		if k, _, _ := strings.Cut(kv, "="); kv != "" && !documented(k) {
			t.Errorf("/proc/1/environ in the sandbox has %s, which no driver documents", k)
		}
	}
	if len(got.Procs) > 4 {
		t.Errorf("the worker sees %d processes: %q", len(got.Procs), got.Procs)
	}
	for _, p := range got.Procs {
		if strings.Contains(p, "neighbour") || strings.Contains(p, filepath.Base(os.Args[0])) {
			t.Errorf("the worker sees the process %q", p)
		}
	}
	if got.UID == 0 {
		t.Error("the worker runs as root in its sandbox")
	}
	// The neighbour ran on, untouched.
	if st, _ := ex.Status(ctxT(t), nh); st.State != executor.Running {
		t.Errorf("neighbour = %+v", st)
	}
	touch(t, filepath.Join(neighbour.Dir, "go"))
	if st := MustWait(t, ex, nh); !st.Exit.Success() {
		t.Errorf("neighbour = %+v", st.Exit)
	}
}

// testProcessLimit forks until the limit and checks the task, not the
// machine, ran out.
func testProcessLimit(t *testing.T, h *Harness) {
	ex := MustNew(t, h)
	s := spec(t, 1, []string{python(), "-c", `
import os, time
n = 0
for _ in range(500):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
print(n)
`})
	s.Limits.Processes = 32
	hd := MustSubmit(t, ex, s)
	if st := MustWait(t, ex, hd); !st.Exit.Success() {
		t.Fatalf("fork loop = %+v", st.Exit)
	}
	n, err := strconv.Atoi(strings.TrimSpace(MustLogs(t, ex, hd, 0, 0)))
	if err != nil || n >= 32 || n < 1 {
		t.Errorf("forked %d (%v) under a limit of 32 processes", n, err)
	}
	// The machine still forks.
	MustWait(t, ex, MustSubmit(t, ex, spec(t, 1, sh("true"))))
}
