package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// These tests run real training jobs through real server processes (the
// test binary re-executed as `atelier server`, as in crash_test.go), with
// the Go SDK as the client.

// e2eFlavor is the flavor of the training servers below: one core per
// worker and up to 4 workers, so that a 2-worker gang fits on a 2-core
// machine.
const e2eFlavor = "e2e.cpu.1u"

// trainingEnv is the environment of a training server process: 4 slots
// and a flavors file with e2eFlavor.
func trainingEnv(t *testing.T) []string {
	t.Helper()
	flavors := filepath.Join(t.TempDir(), "flavors.json")
	body := `[{"flavor_id":"` + e2eFlavor + `","cpu":1,"memory_mb":4096,"max_num":4}]`
	if err := os.WriteFile(flavors, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"ATELIER_TRAINING_SLOTS=4", "ATELIER_TRAINING_FLAVORS=" + flavors}
}

// mustSDK logs the admin in to p and returns a Go SDK client with the
// session.
func mustSDK(t *testing.T, p *procServer) *sdk.Client {
	t.Helper()
	c, err := sdk.New(sdk.Options{Endpoint: p.URL, Token: MustLogin(t, &testServer{URL: p.URL})})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustFinal waits (30 s at most) until version 1 of job is final and
// returns it.
func mustFinal(t *testing.T, c *sdk.Client, jobID string) *core.JobVersion {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	v, err := c.WaitVersion(ctx, jobID, 1, 20*time.Millisecond)
	if err != nil {
		last, _ := c.GetVersion(t.Context(), jobID, 1)
		t.Fatalf("job %s did not end: %v (last seen %+v)", jobID, err, last)
	}
	return v
}

// mustLog returns the whole log of one worker of version 1 of job.
func mustLog(t *testing.T, c *sdk.Client, jobID, task string) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := c.StreamLog(t.Context(), jobID, 1, task, 0, false, &b); err != nil {
		t.Fatalf("log of %s: %v", task, err)
	}
	return b.String()
}

// mustObject reads an object whole (a small one).
func mustObject(t *testing.T, c *sdk.Client, bucket, key string) []byte {
	t.Helper()
	rc, _, err := c.GetObject(t.Context(), bucket, key, nil)
	if err != nil {
		t.Fatalf("object %s/%s: %v", bucket, key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("object %s/%s: %v", bucket, key, err)
	}
	return b
}

func strp(s string) *string { return &s }

// TestTrainingDistributedLogReg is the real work: the stdlib
// logistic regression of examples/distributed_logreg on 2 workers that
// exchange gradients over TCP. The model lands in the output's OBS
// directory, each worker's log in log_url, and both ranks are in the
// logs.
func TestTrainingDistributedLogReg(t *testing.T) {
	srv := MustStartProcess(t, t.TempDir(), trainingEnv(t)...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "e2e"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadDir(ctx, filepath.Join("..", "..", "examples", "distributed_logreg"), "e2e", "", sdk.TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	const out = "/home/ma-user/work/out/"
	job, v, err := c.SubmitJob(ctx, "logreg-dist", "2 workers over TCP", core.JobSpec{
		CodeDir:       "obs://e2e/distributed_logreg/", // UploadDir keeps the directory's name
		BootFile:      "train.py",
		Parameters:    []core.JobParam{{Name: "dist"}, {Name: "epoch_num", Value: strp("3")}, {Name: "output_dir", Value: strp(out)}},
		Outputs:       []core.JobOutput{{ObsPath: "obs://e2e/out/", LocalPath: out}},
		LogURL:        "obs://e2e/logs/",
		Flavor:        e2eFlavor,
		InstanceCount: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if v.VersionID != 1 || v.State != core.JobCreating {
		t.Errorf("submitted version %d in %s, want 1 in CREATING", v.VersionID, v.State)
	}
	v = mustFinal(t, c, job.ID)
	if v.State != core.JobCompleted {
		t.Fatalf("version ended %s: %s\nworker-0:\n%s\nworker-1:\n%s", v.State, v.Reason,
			mustLog(t, c, job.ID, "worker-0"), mustLog(t, c, job.ID, "worker-1"))
	}

	var model struct {
		Weights   []float64 `json:"weights"`
		Epochs    int       `json:"epochs"`
		WorldSize int       `json:"world_size"`
		Accuracy  float64   `json:"accuracy"`
	}
	if err := json.Unmarshal(mustObject(t, c, "e2e", "out/model.json"), &model); err != nil {
		t.Fatalf("model.json does not parse: %v", err)
	}
	if len(model.Weights) != 4 || model.Epochs != 3 || model.WorldSize != 2 {
		t.Errorf("model.json: %d weights, %d epochs, world size %d; want 4, 3, 2", len(model.Weights), model.Epochs, model.WorldSize)
	}
	if model.Accuracy < 0.7 {
		t.Errorf("model accuracy %.3f, want ≥ 0.7 on the generated data", model.Accuracy)
	}

	for rank, task := range []string{"worker-0", "worker-1"} {
		r := strconv.Itoa(rank)
		log := mustLog(t, c, job.ID, task)
		for _, want := range []string{"rank " + r + "/2:", "rank " + r + " epoch 3 loss"} {
			if !strings.Contains(log, want) {
				t.Errorf("log of %s lacks %q:\n%s", task, want, log)
			}
		}
		obj := string(mustObject(t, c, "e2e", "logs/logreg-dist-v1-worker-"+r+".log"))
		if obj != log {
			t.Errorf("log object of %s (%d bytes) differs from the streamed log (%d bytes)", task, len(obj), len(log))
		}
	}
	if log := mustLog(t, c, job.ID, "worker-0"); !strings.Contains(log, "rank 0 wrote") {
		t.Errorf("rank 0 did not report writing the model:\n%s", log)
	}
}

// killScript: rank 1 SIGKILLs itself once rank 0 has written its pid to
// the output dir; rank 0 would sleep for 5 minutes.
const killScript = `import os, signal, time
pidfile = os.path.join(os.environ["TRAIN_URL"], "worker0.pid")
if os.environ["RANK"] == "1":
    deadline = time.time() + 30
    while not os.path.exists(pidfile) and time.time() < deadline:
        time.sleep(0.01)
    print("rank 1: killing myself", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
else:
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(pidfile + ".tmp", pidfile)
    print("rank 0: running long", flush=True)
    time.sleep(300)
`

// processesMatching returns the live processes whose command line holds s.
func processesMatching(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(b, []byte(s)) && processAlive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// processAlive says whether pid runs (a zombie does not count).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return !errors.Is(err, os.ErrNotExist)
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// TestTrainingKilledWorkerFailsGang: when worker 1 is killed by SIGKILL,
// the whole job fails at once, naming worker-1, and worker 0 is stopped.
func TestTrainingKilledWorkerFailsGang(t *testing.T) {
	srv := MustStartProcess(t, t.TempDir(), trainingEnv(t)...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "kill"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "kill", "code/kill.py", strings.NewReader(killScript), int64(len(killScript)), sdk.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	job, _, err := c.SubmitJob(ctx, "killed-worker", "", core.JobSpec{
		CodeDir:       "obs://kill/code/",
		BootFile:      "kill.py",
		Outputs:       []core.JobOutput{{ObsPath: "obs://kill/out/", LocalPath: "/out/"}},
		Flavor:        e2eFlavor,
		InstanceCount: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := mustFinal(t, c, job.ID)
	took := time.Since(start)
	if v.State != core.JobFailed || !strings.Contains(v.Reason, "worker-1") {
		t.Errorf("version ended %s (%q), want FAILED naming worker-1", v.State, v.Reason)
	}
	if strings.Contains(v.Reason, "worker-0") {
		t.Errorf("reason %q names worker-0, which was only stopped", v.Reason)
	}
	if took > 20*time.Second {
		t.Errorf("the gang took %s to fail; worker 0 was not stopped promptly", took)
	}
	// The outputs are uploaded however the gang ends: worker 0's pid (in
	// its sandbox's PID namespace, so only its presence tells).
	if pid, err := strconv.Atoi(strings.TrimSpace(string(mustObject(t, c, "kill", "out/worker0.pid")))); err != nil || pid <= 0 {
		t.Fatalf("worker0.pid holds no pid: %v", err)
	}
	// No process of the job is left on the machine: every worker's
	// command line names the job's working directory.
	if pids := processesMatching(job.ID); len(pids) > 0 {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("processes %v of the job still run after it failed", pids)
	}
	if log := mustLog(t, c, job.ID, "worker-1"); !strings.Contains(log, "rank 1: killing myself") {
		t.Errorf("log of worker-1: %q", log)
	}
}

// restartCommand records each start in starts (in its working
// directory), prints a line, waits for marker (a minute at most), and
// prints another.
const restartCommand = `echo started >> "$ATELIER_WORK_DIR/starts"
echo "before the kill"
i=0
while [ ! -e "$ATELIER_WORK_DIR/marker" ]; do
	i=$((i+1))
	if [ "$i" -gt 1200 ]; then echo "no marker"; exit 7; fi
	sleep 0.05
done
echo "after the restart"`

// TestTrainingServerRestart SIGKILLs the server while a job runs, starts
// a new server on the same data dir, and lets the job finish: the new
// server re-adopts it, and it ends COMPLETED with its whole log, run once.
func TestTrainingServerRestart(t *testing.T) {
	dir := t.TempDir()
	env := trainingEnv(t)
	srv := MustStartProcess(t, dir, env...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "restart"); err != nil {
		t.Fatal(err)
	}
	job, _, err := c.SubmitJob(ctx, "survivor", "", core.JobSpec{
		UserCommand:   restartCommand,
		LogURL:        "obs://restart/logs/",
		Flavor:        e2eFlavor,
		InstanceCount: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The job's working directory, where the test talks to it.
	shared := filepath.Join(dir, "training", job.ID, "v1")
	// Whatever happens, the job's loop ends.
	t.Cleanup(func() { _ = os.WriteFile(filepath.Join(shared, "marker"), nil, 0o644) })
	waitFor(t, "the job to run and print its first line", func() bool {
		v, err := c.GetVersion(ctx, job.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if core.JobStateFinal(v.State) {
			t.Fatalf("the job ended %s before the kill: %s", v.State, v.Reason)
		}
		return v.State == core.JobRunning && strings.Contains(mustLog(t, c, job.ID, "worker-0"), "before the kill")
	})
	srv.kill()

	srv = MustStartProcess(t, dir, env...)
	c = mustSDK(t, srv)
	if v, err := c.GetVersion(ctx, job.ID, 1); err != nil || v.State != core.JobRunning {
		t.Fatalf("after the restart the version is %+v (%v), want RUNNING", v, err)
	}
	if err := os.WriteFile(filepath.Join(shared, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	v := mustFinal(t, c, job.ID)
	if v.State != core.JobCompleted {
		t.Fatalf("version ended %s: %s", v.State, v.Reason)
	}
	const want = "before the kill\nafter the restart\n"
	if log := mustLog(t, c, job.ID, "worker-0"); log != want {
		t.Errorf("log = %q, want %q", log, want)
	}
	if obj := string(mustObject(t, c, "restart", "logs/survivor-v1-worker-0.log")); obj != want {
		t.Errorf("log object = %q, want %q", obj, want)
	}
	starts, err := os.ReadFile(filepath.Join(shared, "starts"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(starts), "started\n"); n != 1 || len(starts) != len("started\n") {
		t.Errorf("the job started %d times (%q), want once", n, starts)
	}
}

// TestTrainingExitCode: a script that exits 3 fails the version with the
// exit code in the reason and in exit_code.
func TestTrainingExitCode(t *testing.T) {
	srv := MustStartProcess(t, t.TempDir(), trainingEnv(t)...)
	c := mustSDK(t, srv)
	job, _, err := c.SubmitJob(t.Context(), "exit-3", "", core.JobSpec{
		UserCommand:   "echo about to fail; exit 3",
		Flavor:        e2eFlavor,
		InstanceCount: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := mustFinal(t, c, job.ID)
	if v.State != core.JobFailed || !strings.Contains(v.Reason, "worker-0 exited with code 3") {
		t.Errorf("version ended %s (%q), want FAILED with \"worker-0 exited with code 3\"", v.State, v.Reason)
	}
	if v.ExitCode == nil || *v.ExitCode != 3 {
		t.Errorf("exit_code = %v, want 3", v.ExitCode)
	}
	if !strings.Contains(v.Reason, "about to fail") {
		t.Errorf("reason %q lacks the last log line", v.Reason)
	}
}

// markerJob is a job running restartCommand in its working directory dir,
// which the test releases by writing dir/marker.
type markerJob struct {
	*core.TrainingJob
	dir string
}

// runningAndQueued submits two marker jobs to a one-slot server whose data
// directory is dataDir and returns once the first runs and the second
// waits in the executor's queue. Whatever happens, both are released at
// cleanup.
func runningAndQueued(t *testing.T, c *sdk.Client, dataDir string) (first, second markerJob) {
	t.Helper()
	submit := func(name string) markerJob {
		t.Helper()
		job, _, err := c.SubmitJob(t.Context(), name, "", core.JobSpec{UserCommand: restartCommand, Flavor: e2eFlavor, InstanceCount: 1})
		if err != nil {
			t.Fatal(err)
		}
		j := markerJob{job, filepath.Join(dataDir, "training", job.ID, "v1")}
		t.Cleanup(func() { _ = os.WriteFile(filepath.Join(j.dir, "marker"), nil, 0o644) })
		return j
	}
	waitState := func(j markerJob, state string) {
		t.Helper()
		waitFor(t, "job "+j.Name+" "+state, func() bool {
			v, err := c.GetVersion(t.Context(), j.ID, 1)
			return err == nil && v.State == state
		})
	}
	first = submit("first")
	waitState(first, core.JobRunning)
	second = submit("second")
	waitState(second, core.JobQueued)
	return first, second
}

// mustRunInTurn checks, on a server restarted after runningAndQueued, that
// the second job is still queued; releases the first, which completes,
// then the second, which runs and completes; and that each started once.
func mustRunInTurn(t *testing.T, c *sdk.Client, first, second markerJob) {
	t.Helper()
	if v, err := c.GetVersion(t.Context(), second.ID, 1); err != nil || v.State != core.JobQueued {
		t.Fatalf("after the restart the queued job is %+v (%v), want QUEUED", v, err)
	}
	for i, j := range []markerJob{first, second} {
		if i > 0 {
			waitFor(t, "the second job to run", func() bool {
				v, err := c.GetVersion(t.Context(), j.ID, 1)
				return err == nil && v.State == core.JobRunning
			})
		}
		if err := os.WriteFile(filepath.Join(j.dir, "marker"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if v := mustFinal(t, c, j.ID); v.State != core.JobCompleted {
			t.Fatalf("job %s ended %s: %s", j.Name, v.State, v.Reason)
		}
	}
	for _, j := range []markerJob{first, second} {
		if b, err := os.ReadFile(filepath.Join(j.dir, "starts")); err != nil || string(b) != "started\n" {
			t.Errorf("job %s started %q (%v), want once", j.Name, b, err)
		}
	}
}

// TestTrainingQueuedSurvivesSIGKILL SIGKILLs the server while one job
// holds the only slot and another waits in the executor's queue: after a
// restart the running one is re-adopted and the queued one runs after it,
// each once.
func TestTrainingQueuedSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	env := append(trainingEnv(t), "ATELIER_TRAINING_SLOTS=1")
	srv := MustStartProcess(t, dir, env...)
	first, second := runningAndQueued(t, mustSDK(t, srv), dir)
	srv.kill()
	srv = MustStartProcess(t, dir, env...)
	mustRunInTurn(t, mustSDK(t, srv), first, second)
}
