package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/secretbox"
	"github.com/atelier-dev/atelier/internal/ziptest"
	"github.com/atelier-dev/atelier/obs"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
	"github.com/atelier-dev/atelier/workload"
)

// These tests run the staging of a driver without a shared filesystem for
// real: a server process whose local driver gives every task an empty
// directory of its own (ATELIER_LOCAL_SHARED_FS=false), and the test
// binary as the tasks' stager, reaching the server over loopback through
// presigned URLs.

// MustStager copies the test binary to a directory the sandboxed task
// users can reach and returns its path: tasks run it as `atelier
// task-stage` (TestMain sends that argument to run).
func MustStager(t *testing.T, dataDir string) string {
	t.Helper()
	requireSandbox(t, "staging without a shared filesystem needs the sandbox")
	dir := filepath.Join(filepath.Dir(dataDir), "stager")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(dir, "atelier")
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// remoteEnv is the environment of a server whose tasks share no
// filesystem with it.
func remoteEnv(t *testing.T, stager string) []string {
	return append(trainingEnv(t), "ATELIER_LOCAL_SHARED_FS=false", "ATELIER_TASK_STAGER="+stager)
}

// remoteScript reads its input through the mapped local path, writes
// outputs (one nested, one link that must not be uploaded) and reports
// what it sees.
const remoteScript = `import os, sys
data = sys.argv[1].split("=", 1)[1]
a = open(os.path.join(data, "a.txt")).read()
b = open(os.path.join(data, "sub", "b.txt")).read()
out = os.environ["TRAIN_URL"]
os.makedirs(os.path.join(out, "nested"), exist_ok=True)
with open(os.path.join(out, "result.txt"), "w") as f:
    f.write("a=%s b=%s stage=%s cwd=%s\n" % (a, b, "ATELIER_STAGE" in os.environ, os.getcwd()))
open(os.path.join(out, "nested", "x.txt"), "w").write("x")
os.symlink("/etc/passwd", os.path.join(out, "link"))
print("trained on", sorted(os.listdir(data)), flush=True)
`

// TestRemoteStagingTraining runs a training job with a code_dir zip, an
// input directory and an output on a driver without a shared filesystem:
// the task fetches its code and input and uploads its output itself,
// through presigned URLs, and the server's side never holds them.
func TestRemoteStagingTraining(t *testing.T) {
	dir := t.TempDir()
	stager := MustStager(t, dir)
	srv := MustStartProcess(t, dir, remoteEnv(t, stager)...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "rem"); err != nil {
		t.Fatal(err)
	}
	put := func(key string, b []byte) {
		if _, err := c.PutObject(ctx, "rem", key, bytes.NewReader(b), int64(len(b)), sdk.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("code.zip", ziptest.Bytes(t, map[string]string{"src/train.py": remoteScript}))
	put("in/a.txt", []byte("alpha"))
	put("in/sub/b.txt", []byte("beta"))
	job, _, err := c.SubmitJob(ctx, "remote", "", core.JobSpec{
		CodeDir:    "obs://rem/code.zip",
		BootFile:   "src/train.py",
		Parameters: []core.JobParam{{Name: "data", Value: strp("/data")}},
		Inputs:     []core.JobInput{{ObsPath: "obs://rem/in/", LocalPath: "/data"}},
		Outputs:    []core.JobOutput{{ObsPath: "obs://rem/out/"}},
		LogURL:     "obs://rem/logs/",
		Flavor:     e2eFlavor,
	})
	if err != nil {
		t.Fatal(err)
	}
	v := mustFinal(t, c, job.ID)
	log := mustLog(t, c, job.ID, "worker-0")
	if v.State != core.JobCompleted {
		t.Fatalf("version ended %s: %s\nlog:\n%s\nserver:\n%s", v.State, v.Reason, log, srv.stderr.String())
	}
	work := filepath.Join(dir, "training", job.ID, "v1")
	want := "a=alpha b=beta stage=False cwd=" + work + "\n"
	if got := string(mustObject(t, c, "rem", "out/result.txt")); got != want {
		t.Errorf("result.txt = %q, want %q", got, want)
	}
	if got := string(mustObject(t, c, "rem", "out/nested/x.txt")); got != "x" {
		t.Errorf("nested/x.txt = %q", got)
	}
	if _, _, err := c.GetObject(ctx, "rem", "out/link", nil); core.ErrorKind(err) != core.NotFound {
		t.Errorf("the link was uploaded: %v", err)
	}
	if !strings.Contains(log, "trained on ['a.txt', 'sub']") {
		t.Errorf("log lacks the script's line:\n%s", log)
	}
	if strings.Contains(log, core.PresignSignatureParam) || strings.Contains(srv.stderr.String(), core.PresignSignatureParam) {
		t.Error("a presigned URL reached the task's log or the server's")
	}
	if got := string(mustObject(t, c, "rem", "logs/remote-v1-worker-0.log")); got != log {
		t.Errorf("the uploaded log differs from the streamed one")
	}
	// Nothing was staged on the server, and the task's own directory went
	// with it.
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("the server has the working directory %s: %v", work, err)
	}
	if ents, err := os.ReadDir(filepath.Join(dir, "executor", "local", ".work")); err != nil || len(ents) != 0 {
		t.Errorf("the task's directory is left: %v, %v", ents, err)
	}
}

// TestRemoteStagingRefusals: presigned URLs the server did not mint, or
// that expired, are refused with ATL.OBS.0015; a dataset input, which only
// the server can stage, is refused at submit naming the input.
func TestRemoteStagingRefusals(t *testing.T) {
	dir := t.TempDir()
	stager := MustStager(t, dir)
	srv := MustStartProcess(t, dir, remoteEnv(t, stager)...)
	c := mustSDK(t, srv)
	ctx := t.Context()
	if _, err := c.CreateBucket(ctx, "neg"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(ctx, "neg", "in/a.txt", strings.NewReader("a"), 1, sdk.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	_, _, err := c.SubmitJob(ctx, "dataset", "", core.JobSpec{
		UserCommand: "true", Flavor: e2eFlavor,
		Inputs: []core.JobInput{{DatasetID: "d1", DatasetVersionID: "v1"}},
	})
	if ae, ok := errors.AsType[*core.Error](err); !ok || ae.Code != core.CodeInvalidJobSpec.ID || !strings.Contains(ae.Message, "spec.inputs[0]") {
		t.Errorf("a dataset input = %v, want %s naming spec.inputs[0]", err, core.CodeInvalidJobSpec.ID)
	}

	// URLs minted with the server's presign key, derived from its secret
	// key file, as the server does.
	var who struct {
		TenantID string `json:"tenant_id"`
	}
	token := MustLogin(t, &testServer{URL: srv.URL})
	mustStatus(t, call(t, http.DefaultClient, "GET", srv.URL+"/v1/auth/whoami", token, nil, nil, &who), 200)
	box, err := secretbox.LoadOrCreateKey(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	mint := func(clk clock.Clock, expires time.Time) core.PresignedQuery {
		p, err := obs.NewPresigner(box.DeriveKey(obs.PresignKeyLabel), clk)
		if err != nil {
			t.Fatal(err)
		}
		q, err := p.Presign(core.ObjectGrant{Tenant: who.TenantID, Access: core.AccessRead, Bucket: "neg", Key: "in/", Expires: expires})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	now := time.Now()
	good := mint(clock.Real{}, now.Add(time.Hour))
	expired := mint(clock.NewFake(now.Add(-2*time.Hour)), now.Add(-time.Hour))
	tampered := good
	tampered.Scope = strings.Replace(good.Scope, "in/", "", 1) // the whole bucket
	get := func(q core.PresignedQuery) *http.Response {
		return call(t, http.DefaultClient, "GET", core.ObjectURL(srv.URL, "neg", "in/a.txt", q), "", nil, nil, nil)
	}
	mustStatus(t, get(good), 200)
	for name, q := range map[string]core.PresignedQuery{"expired": expired, "tampered": tampered} {
		var e struct {
			Code      string `json:"error_code"`
			Message   string `json:"error_msg"`
			RequestID string `json:"request_id"`
		}
		resp := call(t, http.DefaultClient, "GET", core.ObjectURL(srv.URL, "neg", "in/a.txt", q), "", nil, nil, &e)
		if resp.StatusCode != 403 || e.Code != core.CodePresignDenied.ID || e.RequestID == "" {
			t.Errorf("%s URL: %d %+v", name, resp.StatusCode, e)
		}
	}
	list := call(t, http.DefaultClient, "GET", core.ListURL(srv.URL, "neg", "", good), "", nil, nil, nil)
	mustStatus(t, list, 403)

	// The stager, given the expired URL, does not run the command: it
	// exits StagerExitInputs with one line naming the input and the
	// refusal, and no signature.
	m := workload.StageManifest{Version: workload.StageManifestVersion, Inputs: []workload.StageInput{{
		Field: "spec.inputs[0].obs_path", Dir: "inputs/0", Kind: workload.SourceDir, URL: core.ListURL(srv.URL, "neg", "in/", expired),
	}}}
	var stderr bytes.Buffer
	work := t.TempDir()
	code := runTaskStage([]string{"--", "touch", "ran"}, manifestEnv(t, &m), nil, work, &stderr)
	line := stderr.String()
	if code != workload.StagerExitInputs || strings.Count(line, "\n") != 1 || !strings.Contains(line, "spec.inputs[0].obs_path") ||
		!strings.Contains(line, core.CodePresignDenied.ID) || strings.Contains(line, expired.Signature) {
		t.Errorf("stager with an expired URL: exit %d, stderr %q", code, line)
	}
	if _, err := os.Stat(filepath.Join(work, "ran")); err == nil {
		t.Error("the command ran")
	}
}

// manifestEnv returns a getenv that holds m as the stage manifest.
func manifestEnv(t *testing.T, m *workload.StageManifest) func(string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(m); err != nil {
		t.Fatal(err)
	}
	return func(k string) string {
		if k == workload.StageEnv {
			return b.String()
		}
		return ""
	}
}

// TestTaskStageExits runs the stager in this process against a real
// server: the command's exit code passes through, the outputs are
// uploaded whatever it is, a missing command is 127, an output URL that
// does not allow writing is StagerExitOutputs, and the command never
// sees the manifest.
func TestTaskStageExits(t *testing.T) {
	dir := t.TempDir()
	ts := MustStartServer(t, dir)
	token := MustLogin(t, ts)
	mustStatus(t, call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/stg", token, nil, nil, nil), 201)
	mustStatus(t, call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/stg/in/a.txt", token, strings.NewReader("a"), nil, nil), 200)
	mustStatus(t, call(t, http.DefaultClient, "PUT", ts.URL+"/v1/obs/stg/one.bin", token, strings.NewReader("one"), nil, nil), 200)
	var who struct {
		TenantID string `json:"tenant_id"`
	}
	mustStatus(t, call(t, http.DefaultClient, "GET", ts.URL+"/v1/auth/whoami", token, nil, nil, &who), 200)
	presign := func(access core.ObjectAccess, key string) core.PresignedQuery {
		q, err := ts.Main.presigner.Presign(core.ObjectGrant{Tenant: who.TenantID, Access: access, Bucket: "stg", Key: key, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	manifest := func(outKey string, outAccess core.ObjectAccess) *workload.StageManifest {
		return &workload.StageManifest{
			Version: workload.StageManifestVersion,
			Inputs: []workload.StageInput{
				{Field: "in", Dir: "inputs/0", Kind: workload.SourceDir, URL: core.ListURL(ts.URL, "stg", "in/", presign(core.AccessRead, "in/"))},
				{Field: "one", Dir: "inputs/1", Kind: workload.SourceObject, URL: core.ObjectURL(ts.URL, "stg", "one.bin", presign(core.AccessGet, "one.bin"))},
				{Field: "empty", Dir: "inputs/2"},
			},
			Outputs: []workload.StageOutput{{Field: "out", Dir: "outputs/0", URL: core.ObjectURL(ts.URL, "stg", outKey, presign(outAccess, outKey))}},
		}
	}
	script := `test -z "$ATELIER_STAGE" || exit 9
test "$(cat inputs/0/a.txt)$(cat inputs/1/one.bin)" = aone || exit 8
test -d inputs/2 || exit 7
mkdir -p outputs/0/d && echo "$1" > "outputs/0/d/r e.txt" && ln -s /etc/passwd outputs/0/link
exit "$1"`
	for _, tc := range []struct {
		name      string
		m         *workload.StageManifest
		command   []string
		code      int
		uploaded  string // key of the output, "" when none
		stderrHas string
	}{
		{"success", manifest("out0/", core.AccessWrite), []string{"sh", "-c", script, "sh", "0"}, 0, "out0/d/r e.txt", ""},
		{"failure", manifest("out3/", core.AccessWrite), []string{"sh", "-c", script, "sh", "3"}, 3, "out3/d/r e.txt", ""},
		{"no command", manifest("out4/", core.AccessWrite), []string{"/nonexistent/cmd"}, 127, "", "was not found"},
		{"output not writable", manifest("out5/", core.AccessRead), []string{"sh", "-c", script, "sh", "0"}, workload.StagerExitOutputs, "", core.CodePresignDenied.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			env := manifestEnv(t, tc.m)
			code := runTaskStage(append([]string{"--"}, tc.command...), env, []string{"PATH=" + os.Getenv("PATH"), workload.StageEnv + "=x"}, t.TempDir(), &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderrHas) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.stderrHas)
			}
			if tc.uploaded != "" {
				resp := call(t, http.DefaultClient, "GET", ts.URL+"/v1/obs/stg/"+url.PathEscape(tc.uploaded), token, nil, nil, nil)
				mustStatus(t, resp, 200)
				link := call(t, http.DefaultClient, "HEAD", ts.URL+"/v1/obs/stg/"+strings.Split(tc.uploaded, "/")[0]+"/link", token, nil, nil, nil)
				mustStatus(t, link, 404)
			}
		})
	}
	var stderr bytes.Buffer
	if code := runTaskStage([]string{"true"}, func(string) string { return "" }, nil, t.TempDir(), &stderr); code != workload.StagerExitInputs {
		t.Errorf("without -- and a manifest: exit %d", code)
	}
}

// TestTaskStageSignal: a stop (SIGTERM) reaches the command through the
// stager, which exits with the command's code.
func TestTaskStageSignal(t *testing.T) {
	t.Parallel()
	work := t.TempDir()
	m := &workload.StageManifest{Version: workload.StageManifestVersion}
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(m); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], workload.StageCommand, "--", "sh", "-c", `trap 'echo got-term; exit 5' TERM; touch ready; while :; do sleep 0.01; done`)
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), workload.StageEnv + "=" + b.String()}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the command to start", func() bool {
		_, err := os.Stat(filepath.Join(work, "ready"))
		return err == nil
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		t.Fatal("the stager did not end after SIGTERM")
	}
	if cmd.ProcessState.ExitCode() != 5 || !strings.Contains(out.String(), "got-term") {
		t.Errorf("exit %d, output %q", cmd.ProcessState.ExitCode(), out.String())
	}
}
