package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// escapeScript is what a plain member of one tenant tried against the
// server before jobs were sandboxed (issue 12): every way out of its job
// that it knew, each recorded as allowed or refused in its log and in
// result-<rank>.json in its output. It never fails itself.
const escapeScript = `import ctypes, json, os, signal, sys, time
rank = os.environ["RANK"]
data, victim = os.environ["DATA_DIR"], os.environ["VICTIM_DIR"]
res = {}
def attempt(name, fn):
    try:
        got = fn()
        res[name] = "allowed: " + repr(got)[:80]
    except BaseException as e:
        res[name] = "refused: " + type(e).__name__
    print("%s: %s" % (name, res[name]), flush=True)
attempt("read_key", lambda: open(data + "/secret.key", "rb").read())
attempt("read_db", lambda: open(data + "/atelier.db", "rb").read(16))
attempt("list_data_dir", lambda: os.listdir(data))
attempt("read_victim_input", lambda: open(victim + "/inputs/0/secret.txt").read())
attempt("write_victim_code", lambda: open(victim + "/code/evil.py", "w").write("x"))
attempt("proc1_root", lambda: open("/proc/1/root" + data + "/secret.key", "rb").read())
os.symlink(data + "/secret.key", "link-%s" % rank)
attempt("symlink_out", lambda: open("link-%s" % rank, "rb").read())
attempt("signal_server", lambda: os.kill(int(os.environ["SERVER_PID"]), 0))
libc = ctypes.CDLL(None, use_errno=True)
def ptrace(pid):
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
    return pid
attempt("ptrace_victim", lambda: ptrace(int(os.environ["VICTIM_PID"])))
attempt("ptrace_server", lambda: ptrace(int(os.environ["SERVER_PID"])))
def fill_tmp():
    with open("/tmp/fill", "wb") as f:
        for _ in range(64):
            f.write(b"x" * (1 << 20))
            f.flush()
attempt("fill_tmp", fill_tmp)
def fork_bomb():
    kids = []
    try:
        for _ in range(400):
            pid = os.fork()
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            kids.append(pid)
    finally:
        for k in kids:
            os.kill(k, signal.SIGKILL)
        for k in kids:
            os.waitpid(k, 0)
    return len(kids)
attempt("fork_bomb", fork_bomb)
foreign = []
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            env = open("/proc/%s/environ" % p, "rb").read()
        except OSError:
            continue
        if b"AWS_SECRET_ACCESS_KEY" in env or b"ATELIER_ADMIN_PASSWORD" in env:
            foreign.append(p)
res["foreign_environ"] = foreign
res["visible_processes"] = len([p for p in os.listdir("/proc") if p.isdigit()])
res["env"] = sorted(os.environ)
with open(os.path.join(os.environ["TRAIN_URL"], "result-%s.json" % rank), "w") as f:
    json.dump(res, f)
`

// victimScript is tenant B's job: it waits (a minute at most) for a
// marker in its working directory, then copies its input to its output.
const victimScript = `import os, shutil, time
work = os.environ["ATELIER_WORK_DIR"]
for _ in range(1200):
    if os.path.exists(os.path.join(work, "marker")):
        break
    time.sleep(0.05)
shutil.copy(os.path.join(os.environ["DATA_URL"], "secret.txt"), os.path.join(os.environ["TRAIN_URL"], "copy.txt"))
print("victim done", flush=True)
`

// TestEscapeAttempts is the finding of issue 12 as a test against a real
// server process: a plain member of one tenant runs a 2-worker gang that
// tries to read the server's key file, database, environment and another
// tenant's running job, to write into that job, to signal and trace the
// server, to follow links and /proc/1/root out of its sandbox, to fill
// /tmp and to fork without bound. Every attempt is refused, the job's log
// says so, and the server and the other tenant's job carry on.
func TestEscapeAttempts(t *testing.T) {
	requireSandbox(t, "the sandbox cannot be tested")
	dir := t.TempDir()
	const awsSecret = "aws-secret-in-the-servers-environment"
	srv := MustStartProcess(t, dir, append(trainingEnv(t),
		"AWS_SECRET_ACCESS_KEY="+awsSecret, "ATELIER_SANDBOX_PROCESSES=64", "ATELIER_SANDBOX_TMP=4MiB")...)
	keyBefore, err := os.ReadFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	admin := MustLogin(t, &testServer{URL: srv.URL})
	api := func(method, path string, body any, want int, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp := call(t, http.DefaultClient, method, srv.URL+path, admin, bytes.NewReader(b), map[string]string{"Content-Type": "application/json"}, out)
		mustStatus(t, resp, want)
	}
	var tenantB struct {
		ID string `json:"id"`
	}
	api("POST", "/v1/tenants", map[string]any{"name": "tenant-b"}, 201, &tenantB)
	const pw = "A-long-enough-password-1"
	api("POST", "/v1/users", map[string]any{"email": "member@example.com", "password": pw}, 201, nil)
	api("POST", "/v1/users", map[string]any{"tenant_id": tenantB.ID, "email": "victim@example.com", "password": pw}, 201, nil)
	client := func(email, tenant string) *sdk.Client {
		c, err := sdk.New(sdk.Options{Endpoint: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.LoginEmail(ctx, email, pw, tenant); err != nil {
			t.Fatalf("login %s: %v", email, err)
		}
		return c
	}
	member, victim := client("member@example.com", ""), client("victim@example.com", tenantB.ID)
	put := func(c *sdk.Client, bucket, key, body string) {
		t.Helper()
		if _, err := c.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), sdk.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Tenant B's job runs, holding its input.
	if _, err := victim.CreateBucket(ctx, "victim"); err != nil {
		t.Fatal(err)
	}
	put(victim, "victim", "code/victim.py", victimScript)
	put(victim, "victim", "in/secret.txt", "tenant-b-secret")
	vjob, _, err := victim.SubmitJob(ctx, "victim", "", core.JobSpec{
		CodeDir: "obs://victim/code/", BootFile: "victim.py", Flavor: e2eFlavor,
		Inputs:  []core.JobInput{{ObsPath: "obs://victim/in/"}},
		Outputs: []core.JobOutput{{ObsPath: "obs://victim/out/"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	victimDir := filepath.Join(dir, "training", vjob.ID, "v1")
	t.Cleanup(func() { _ = os.WriteFile(filepath.Join(victimDir, "marker"), nil, 0o644) })
	waitFor(t, "tenant B's job to run", func() bool {
		v, err := victim.GetVersion(ctx, vjob.ID, 1)
		if err != nil || core.JobStateFinal(v.State) {
			t.Fatalf("tenant B's job: %+v, %v", v, err)
		}
		return v.State == core.JobRunning
	})
	var victimPIDs []int
	waitFor(t, "a process of tenant B's job", func() bool {
		victimPIDs = processesMatching(vjob.ID)
		return len(victimPIDs) > 0
	})

	// The member's gang tries every way out.
	if _, err := member.CreateBucket(ctx, "attack"); err != nil {
		t.Fatal(err)
	}
	put(member, "attack", "code/escape.py", escapeScript)
	ajob, _, err := member.SubmitJob(ctx, "escape", "", core.JobSpec{
		CodeDir: "obs://attack/code/", BootFile: "escape.py", Flavor: e2eFlavor, InstanceCount: 2,
		Outputs: []core.JobOutput{{ObsPath: "obs://attack/out/"}},
		Env: map[string]string{
			"DATA_DIR": dir, "VICTIM_DIR": victimDir,
			"SERVER_PID": strconv.Itoa(srv.cmd.Process.Pid), "VICTIM_PID": strconv.Itoa(victimPIDs[0]),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := mustFinal(t, member, ajob.ID); v.State != core.JobCompleted {
		t.Fatalf("the escape job ended %s: %s", v.State, v.Reason)
	}
	attempts := []string{"read_key", "read_db", "read_victim_input", "write_victim_code",
		"proc1_root", "symlink_out", "signal_server", "ptrace_victim", "ptrace_server", "fill_tmp"}
	for rank := range 2 {
		r := strconv.Itoa(rank)
		var res map[string]any
		if err := json.Unmarshal(mustObject(t, member, "attack", "out/result-"+r+".json"), &res); err != nil {
			t.Fatalf("result of worker %d: %v", rank, err)
		}
		log := mustLog(t, member, ajob.ID, "worker-"+r)
		for _, name := range attempts {
			if v, _ := res[name].(string); !strings.HasPrefix(v, "refused") {
				t.Errorf("worker %d: %s %q, want refused", rank, name, v)
			}
			if !strings.Contains(log, name+": refused") {
				t.Errorf("worker %d's log does not show %s refused", rank, name)
			}
		}
		// The sandbox makes the parents of the working directory as empty
		// directories: the data directory's path is there, nothing in it.
		if v, _ := res["list_data_dir"].(string); !strings.HasPrefix(v, "refused") && v != "allowed: ['training']" {
			t.Errorf("worker %d lists the data directory: %q", rank, v)
		}
		// The fork bomb stops at the task's process limit (64, the
		// worker's own processes included).
		if v, _ := res["fork_bomb"].(string); !strings.HasPrefix(v, "refused") {
			t.Errorf("worker %d: fork bomb %q, want it stopped by the process limit", rank, v)
		}
		if f, _ := res["foreign_environ"].([]any); len(f) > 0 {
			t.Errorf("worker %d sees the server's environment in /proc %v", rank, f)
		}
		if n, _ := res["visible_processes"].(float64); n > 4 {
			t.Errorf("worker %d sees %v processes", rank, n)
		}
		env, _ := res["env"].([]any)
		for _, k := range env {
			if k == "AWS_SECRET_ACCESS_KEY" || k == "ATELIER_ADMIN_PASSWORD" || k == "ATELIER_ADMIN_EMAIL" {
				t.Errorf("worker %d's environment has the server's %s", rank, k)
			}
		}
		if strings.Contains(log, awsSecret) || strings.Contains(log, testAdminPassword) {
			t.Errorf("worker %d's log holds a server secret", rank)
		}
	}

	// The server and tenant B's job carried on.
	resp := call(t, http.DefaultClient, "GET", srv.URL+"/healthz", "", nil, nil, nil)
	mustStatus(t, resp, 200)
	if err := os.WriteFile(filepath.Join(victimDir, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if v := mustFinal(t, victim, vjob.ID); v.State != core.JobCompleted {
		t.Fatalf("tenant B's job ended %s: %s", v.State, v.Reason)
	}
	if got := string(mustObject(t, victim, "victim", "out/copy.txt")); got != "tenant-b-secret" {
		t.Errorf("tenant B's output = %q", got)
	}
	if _, err := os.Stat(filepath.Join(victimDir, "code", "evil.py")); err == nil {
		t.Error("the member wrote into tenant B's code directory")
	}
	if keyAfter, err := os.ReadFile(filepath.Join(dir, "secret.key")); err != nil || !bytes.Equal(keyAfter, keyBefore) {
		t.Errorf("the key file changed: %v", err)
	}
}
