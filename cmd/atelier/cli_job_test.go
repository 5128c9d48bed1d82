package main

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	core "github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
)

func TestJobUsageErrors(t *testing.T) {
	mustIsolate(t)
	code := t.TempDir()
	notDir := filepath.Join(code, "file.py")
	os.WriteFile(notDir, []byte("print(1)\n"), 0o644)
	for _, args := range [][]string{
		{"job"},
		{"job", "nope"},
		{"job", "submit"}, // nothing to run
		{"job", "submit", "extra", "--command", "true"},
		{"job", "submit", "--command", "true", "--boot-file", "t.py", "--code-dir", "obs://bkt/c/"},
		{"job", "submit", "--boot-file", "t.py"}, // no code dir
		{"job", "submit", "--boot-file", "t.py", "--code-dir", code},
		{"job", "submit", "--boot-file", "t.py", "--code-dir", notDir, "--code-obs-path", "obs://bkt/c/"},
		{"job", "submit", "--boot-file", "t.py", "--code-dir", code, "--code-obs-path", "/tmp/x/"},
		{"job", "submit", "--boot-file", "t.py", "--code-dir", code, "--code-obs-path", "obs://bkt/code.tar"},
		{"job", "submit", "--boot-file", "t.py", "--code-dir", "obs://bkt/c/", "--code-obs-path", "obs://bkt/c/"},
		{"job", "submit", "--command", "true", "--param", "=3"},
		{"job", "submit", "--command", "true", "--input", "/local/data"},
		{"job", "submit", "--command", "true", "--input", "obs://bkt/d/:"},
		{"job", "submit", "--command", "true", "--output-path", "obs://"},
		{"job", "submit", "--command", "true", "--log-url", "./logs"},
		{"job", "submit", "--command", "true", "--count", "0"},
		{"job", "submit", "--command", "true", "--max-run", "1ms"},
		{"job", "submit", "--command", "true", "--max-run", "soon"},
		{"job", "submit", "--command", "true", "--env", "NOEQUALS"},
		{"job", "submit", "--command", "true", "-o", "yaml"},
		{"job", "list", "x"},
		{"job", "list", "--limit", "-1"},
		{"job", "show"},
		{"job", "versions"},
		{"job", "events", "j", "--version", "-1"},
		{"job", "logs", "j", "--offset", "-5"},
		{"job", "logs", "j", "--task", ""},
		{"job", "logs"},
		{"job", "stop", "j", "--version", "x"},
		{"job", "delete"},
		{"job", "rerun"},
		{"job", "rerun", "j", "--pre-version", "-2"},
		{"job", "rerun", "j", "--count", "0"},
		{"job", "flavors", "x"},
		{"job", "frameworks", "x"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("atelier %s: exit %d (%s), want %d", strings.Join(args, " "), code, strings.TrimSpace(stderr), exitUsage)
		}
	}
}

func TestParseParam(t *testing.T) {
	str := func(s string) *string { return &s }
	tests := []struct {
		in   string
		want core.JobParam
	}{
		{"epochs=3", core.JobParam{Name: "epochs", Value: str("3")}},
		{"dist", core.JobParam{Name: "dist"}},
		{"--lr=0.1", core.JobParam{Name: "lr", Value: str("0.1")}},
		{"empty=", core.JobParam{Name: "empty", Value: str("")}},
		{"expr=a=b", core.JobParam{Name: "expr", Value: str("a=b")}},
	}
	for _, tc := range tests {
		got, err := parseParam(tc.in)
		if err != nil || got.Name != tc.want.Name || (got.Value == nil) != (tc.want.Value == nil) ||
			(got.Value != nil && *got.Value != *tc.want.Value) {
			t.Errorf("parseParam(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestSplitDataArg(t *testing.T) {
	tests := []struct{ in, obs, local string }{
		{"obs://bkt/data/", "obs://bkt/data/", ""},
		{"obs://bkt/data/:/home/work/data", "obs://bkt/data/", "/home/work/data"},
		{"s3://bkt/x.zip:data", "obs://bkt/x.zip", "data"},
		{"OBS://bkt/data/:d", "obs://bkt/data/", "d"},
	}
	for _, tc := range tests {
		p, l, err := splitDataArg("--input", tc.in, obsPathArg)
		if err != nil || p != tc.obs || l != tc.local {
			t.Errorf("splitDataArg(%q) = %q, %q, %v; want %q, %q", tc.in, p, l, err, tc.obs, tc.local)
		}
	}
}

func FuzzSplitDataArg(f *testing.F) {
	for _, s := range []string{"obs://bkt/data/", "obs://bkt/data/:/home/work/data", "s3://bkt/x.zip:data", "obs://", ":", "obs://bkt/:", "S3://bkt/x/:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, l, err := splitDataArg("--input", s, obsPathArg)
		if err != nil {
			return
		}
		op, err := core.ParseObjectPath(p)
		if err != nil || op.String() != p || (l != "" && !strings.HasSuffix(s, ":"+l)) {
			t.Errorf("splitDataArg(%q) = %q, %q: not the canonical path and a part of the input (%v)", s, p, l, err)
		}
	})
}

func TestZipDir(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pkg", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "train.py"), []byte("print('hi')\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "sub", "m.py"), []byte("x = 1\n"), 0o644)
	var buf bytes.Buffer
	n, err := zipDir(dir, &buf)
	if err != nil || n != 2 {
		t.Fatalf("zipDir = %d, %v", n, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name == "train.py" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "print('hi')\n" || f.Mode().Perm()&0o100 == 0 {
				t.Errorf("train.py: %q mode %v", b, f.Mode())
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"pkg/sub/m.py", "train.py"}) {
		t.Errorf("zip holds %v", names)
	}
}

func TestTrainingConfig(t *testing.T) {
	dir := t.TempDir()
	flavors := filepath.Join(dir, "flavors.json")
	os.WriteFile(flavors, []byte(`[{"flavor_id":"big","cpu":4,"memory_mb":4096},{"flavor_id":"fixed","cpu":1,"max_num":7,"flavor_name":"Fixed"}]`), 0o644)
	frameworks := filepath.Join(dir, "frameworks.json")
	os.WriteFile(frameworks, []byte(`[{"framework_type":"PyTorch","framework_version":"2.3"}]`), 0o644)
	env := map[string]string{
		"ATELIER_EXECUTOR":            "Local",
		"ATELIER_TRAINING_SLOTS":      "6",
		"ATELIER_TRAINING_FLAVORS":    flavors,
		"ATELIER_TRAINING_FRAMEWORKS": frameworks,
		"ATELIER_TRAINING_MAX_RUN":    "2h",
		"ATELIER_TASK_STAGER":         "/usr/local/bin/atelier",
		"ATELIER_TASK_ENDPOINT":       "http://10.0.0.1:8080",
		"ATELIER_LOCAL_SHARED_FS":     "false",
	}
	c := configFromEnv(func(k string) string { return env[k] }).withDefaults()
	if err := c.validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	want := TrainingConfig{Executor: "local", Slots: 6, FlavorsFile: flavors, FrameworksFile: frameworks, MaxRun: 2 * time.Hour, Sandbox: "bwrap", Processes: 4096, TmpBytes: 1 << 30,
		TaskStager: "/usr/local/bin/atelier", TaskEndpoint: "http://10.0.0.1:8080", LocalNoSharedFS: true}
	if c.Training != want {
		t.Errorf("training config = %+v, want %+v", c.Training, want)
	}
	fs, err := c.Training.flavors(executor.Capacity{Slots: 6, CPU: 8, MemoryMB: 16384})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%s/%d/%s %s/%d/%s", fs[0].ID, fs[0].MaxNum, fs[0].Executor, fs[1].ID, fs[1].MaxNum, fs[1].Name); got != "big/2/local fixed/7/Fixed" {
		t.Errorf("flavors from the file = %s", got)
	}
	fws, err := c.Training.frameworks()
	if err != nil || len(fws) != 1 || fws[0].Interpreter != "python3" {
		t.Errorf("frameworks = %+v, %v", fws, err)
	}

	// Defaults.
	c = configFromEnv(func(string) string { return "" }).withDefaults()
	if c.Training != (TrainingConfig{Executor: "local", Slots: runtime.NumCPU(), MaxRun: 24 * time.Hour, Sandbox: "bwrap", Processes: 4096, TmpBytes: 1 << 30}) {
		t.Errorf("default training config = %+v", c.Training)
	}
	fws, _ = c.Training.frameworks()
	types := map[string]bool{}
	for _, f := range fws {
		types[f.Type] = true
	}
	for _, want := range []string{"PyTorch", "TensorFlow", "Ascend-Powered-Engine", "Python"} {
		if !types[want] {
			t.Errorf("default frameworks lack %s: %v", want, types)
		}
	}
}

func TestDefaultFlavors(t *testing.T) {
	tests := []struct {
		name string
		capa executor.Capacity
		want string // id:cpu/memMB/gpu×max_num
	}{
		{"small machine", executor.Capacity{Slots: 2, CPU: 2, MemoryMB: 4096},
			"modelarts.vm.cpu.2u:2/4096/0×1 modelarts.vm.cpu.8u:2/4096/0×1"},
		{"big machine", executor.Capacity{Slots: 32, CPU: 32, MemoryMB: 128 << 10},
			"modelarts.vm.cpu.2u:2/8192/0×16 modelarts.vm.cpu.8u:8/32768/0×4"},
		{"few slots", executor.Capacity{Slots: 3, CPU: 32, MemoryMB: 128 << 10},
			"modelarts.vm.cpu.2u:2/8192/0×3 modelarts.vm.cpu.8u:8/32768/0×3"},
		{"gpus", executor.Capacity{Slots: 16, CPU: 16, MemoryMB: 64 << 10, GPUs: []driver.GPU{{Index: 0, Type: "nvidia-t4", MemoryMB: 16384}, {Index: 1, Type: "nvidia-t4", MemoryMB: 16384}}},
			"modelarts.vm.cpu.2u:2/8192/0×8 modelarts.vm.cpu.8u:8/32768/0×2 modelarts.vm.gpu.p100:8/65536/1×1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := TrainingConfig{Executor: "local"}.flavors(tc.capa)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, fmt.Sprintf("%s:%d/%d/%d×%d", f.ID, f.CPU, f.MemoryMB, f.GPU, f.MaxNum))
				if f.Executor != "local" || f.Name == "" {
					t.Errorf("flavor %+v lacks executor or name", f)
				}
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("flavors\n got %s\nwant %s", s, tc.want)
			}
		})
	}
}

func TestTrainingConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ATELIER_EXECUTOR": "slurm"}, "slurm/kubernetes arrive with a later issue"},
		{map[string]string{"ATELIER_EXECUTOR": "kubernetes"}, "slurm/kubernetes arrive with a later issue"},
		{map[string]string{"ATELIER_EXECUTOR": "docker"}, "ATELIER_EXECUTOR"},
		{map[string]string{"ATELIER_TRAINING_SLOTS": "many"}, "ATELIER_TRAINING_SLOTS"},
		{map[string]string{"ATELIER_TRAINING_GPUS": "-1"}, "ATELIER_TRAINING_GPUS"},
		{map[string]string{"ATELIER_SANDBOX": "chroot"}, "ATELIER_SANDBOX"},
		{map[string]string{"ATELIER_SANDBOX_PROCESSES": "8"}, "ATELIER_SANDBOX_PROCESSES"},
		{map[string]string{"ATELIER_SANDBOX_TMP": "10KiB"}, "ATELIER_SANDBOX_TMP"},
		{map[string]string{"ATELIER_SANDBOX_RO_PATHS": "/opt/conda:relative"}, "ATELIER_SANDBOX_RO_PATHS"},
		{map[string]string{"ATELIER_TASK_STAGER": "bin/atelier"}, "ATELIER_TASK_STAGER"},
		{map[string]string{"ATELIER_TASK_ENDPOINT": "ftp://h/"}, "ATELIER_TASK_ENDPOINT"},
		{map[string]string{"ATELIER_LOCAL_SHARED_FS": "maybe"}, "ATELIER_LOCAL_SHARED_FS"},
		{map[string]string{"ATELIER_LOCAL_SHARED_FS": "false", "ATELIER_SANDBOX": "none"}, "ATELIER_LOCAL_SHARED_FS=false needs"},
		{map[string]string{"ATELIER_GPUS": write("gpus.json", `[{"index":0,"type":"T4 card","memory_mb":16384}]`)}, "ATELIER_GPUS"},
		{map[string]string{"ATELIER_GPUS": write("gpus2.json", `[{"index":0,"type":"nvidia-t4","memory_mb":16384}]`), "ATELIER_TRAINING_GPUS": "1"}, "set one of them"},
		{map[string]string{"ATELIER_TRAINING_MAX_RUN": "forever"}, "ATELIER_TRAINING_MAX_RUN"},
		{map[string]string{"ATELIER_TRAINING_MAX_RUN": "30s"}, "ATELIER_TRAINING_MAX_RUN"},
		{map[string]string{"ATELIER_TRAINING_FLAVORS": filepath.Join(dir, "missing.json")}, "ATELIER_TRAINING_FLAVORS"},
		{map[string]string{"ATELIER_TRAINING_FLAVORS": write("typo.json", `[{"flavor_id":"a","cpus":2}]`)}, "ATELIER_TRAINING_FLAVORS"},
		{map[string]string{"ATELIER_TRAINING_FLAVORS": write("dup.json", `[{"flavor_id":"a"},{"flavor_id":"a"}]`)}, "appears twice"},
		{map[string]string{"ATELIER_TRAINING_FLAVORS": write("empty.json", `[]`)}, "lists no flavor"},
		{map[string]string{"ATELIER_TRAINING_FLAVORS": write("other.json", `[{"flavor_id":"a","executor":"slurm"}]`)}, "executor"},
		{map[string]string{"ATELIER_TRAINING_FRAMEWORKS": write("fw.json", `[{"framework_version":"1"}]`)}, "framework_type"},
	}
	for _, tc := range tests {
		c := configFromEnv(func(k string) string { return tc.env[k] }).withDefaults()
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: validate = %v, want an error naming %q", tc.env, err, tc.want)
		}
	}
}

// jobCLI is a logged-in CLI against a real server with the local executor.
func jobCLI(t *testing.T) (e2eCLI, *testServer) {
	t.Helper()
	mustIsolate(t)
	old := jobPollInterval
	jobPollInterval = 20 * time.Millisecond
	t.Cleanup(func() { jobPollInterval = old })
	ts := MustStartServer(t, t.TempDir(), func(c *ServerConfig) { c.Training.Slots = 4 })
	cli := e2eCLI{t: t}
	cli.run(exitOK, testAdminPassword+"\n", "login", "--endpoint", ts.URL, "--email", testAdminEmail, "--password-stdin")
	cli.run(exitOK, "", "obs", "mb", "obs://jobs")
	return cli, ts
}

func TestJobCLIE2E(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Fatalf("the job end-to-end test needs python3: %v", err)
	}
	cli, _ := jobCLI(t)
	code := t.TempDir()
	os.WriteFile(filepath.Join(code, "train.py"), []byte(`import json, sys
print("ARGV " + json.dumps(sys.argv[1:]))
sys.stdout.flush()
`), 0o644)
	os.WriteFile(filepath.Join(code, "fail.py"), []byte(`import sys
print("about to fail")
sys.exit(3)
`), 0o644)

	var flavors struct{ Flavors []core.Flavor }
	cli.json(&flavors, "job", "flavors", "-o", "json")
	if len(flavors.Flavors) < 2 || flavors.Flavors[0].ID != "modelarts.vm.cpu.2u" {
		t.Fatalf("flavors = %+v", flavors)
	}
	if out, _ := cli.run(exitOK, "", "job", "frameworks"); !strings.Contains(out, "PyTorch") {
		t.Errorf("frameworks table = %q", out)
	}

	// A local code directory is zipped, uploaded and run; -f streams the
	// log of worker-0 and the exit status follows the final state.
	out, errOut := cli.run(exitOK, "", "job", "submit", "--name", "args", "--code-dir", code, "--code-obs-path", "obs://jobs/code/",
		"--boot-file", "train.py", "--param", "epochs=3", "--param", "dist", "--param", "lr=0.1",
		"--flavor", "modelarts.vm.cpu.2u", "--framework", "Python", "-f")
	if !strings.Contains(out, `ARGV ["--epochs=3", "--dist", "--lr=0.1"]`) {
		t.Errorf("followed log = %q (stderr %q)", out, errOut)
	}
	if !strings.Contains(errOut, "COMPLETED") || !strings.Contains(errOut, "obs://jobs/code/") {
		t.Errorf("stderr = %q", errOut)
	}

	var show struct {
		Job     core.TrainingJob
		Version core.JobVersion
	}
	cli.json(&show, "job", "show", "args", "-o", "json")
	if show.Job.Name != "args" || show.Version.State != core.JobCompleted || show.Version.ExitCode == nil || *show.Version.ExitCode != 0 {
		t.Fatalf("job show = %+v", show)
	}
	jobID := show.Job.ID
	if out, _ := cli.run(exitOK, "", "job", "logs", jobID); !strings.Contains(out, "ARGV") {
		t.Errorf("job logs = %q", out)
	}
	if out, _ := cli.run(exitOK, "", "job", "logs", "args", "--offset", "5"); !strings.HasPrefix(out, `["--epochs=3"`) {
		t.Errorf("job logs --offset 5 = %q", out)
	}
	var events struct{ Events []core.JobEvent }
	cli.json(&events, "job", "events", "args", "-o", "json")
	var states []string
	for _, e := range events.Events {
		states = append(states, e.State)
	}
	if len(states) < 2 || states[len(states)-1] != core.JobCompleted {
		t.Errorf("events = %v", states)
	}
	cli.refused("ATL.TRN.0009", "job", "logs", "args", "--task", "worker-5")

	// rerun: a new version with an override, waited for.
	out, _ = cli.run(exitOK, "", "job", "rerun", "args", "--param", "epochs=4", "-w", "-o", "json")
	var v2 core.JobVersion
	mustUnmarshal(t, out, &v2)
	if v2.VersionID != 2 || v2.State != core.JobCompleted || len(v2.Spec.Parameters) != 1 {
		t.Errorf("rerun = %+v", v2)
	}
	if out, _ := cli.run(exitOK, "", "job", "logs", "args", "--version", "2"); !strings.Contains(out, `ARGV ["--epochs=4"]`) {
		t.Errorf("version 2 log = %q", out)
	}
	if out, _ := cli.run(exitOK, "", "job", "versions", "args"); !strings.Contains(out, "COMPLETED") || strings.Count(out, "\n") != 3 {
		t.Errorf("versions table = %q", out)
	}

	// A failing script: exit 1 and the reason on stderr.
	out, errOut = cli.run(exitRefused, "", "job", "submit", "--name", "fails", "--code-dir", "obs://jobs/code/"+filepath.Base(code)+".zip",
		"--boot-file", "fail.py", "--flavor", "modelarts.vm.cpu.2u", "-f")
	if !strings.Contains(out, "about to fail") {
		t.Errorf("followed log of the failing job = %q", out)
	}
	if !strings.Contains(errOut, "FAILED") || !strings.Contains(errOut, "3") {
		t.Errorf("stderr of the failing job = %q", errOut)
	}

	var list core.JobPage
	cli.json(&list, "job", "list", "-o", "json")
	if len(list.Jobs) != 2 {
		t.Errorf("job list = %+v", list)
	}
	if out, _ := cli.run(exitOK, "", "job", "list", "--status", "failed"); !strings.Contains(out, "fails") || strings.Contains(out, "args") {
		t.Errorf("job list --status failed = %q", out)
	}
	cli.refused("ATL.TRN.0002", "job", "submit", "--name", "fails", "--command", "true", "--flavor", "modelarts.vm.cpu.2u")
	cli.refused("ATL.TRN.0004", "job", "submit", "--command", "true", "--flavor", "nope")
	cli.run(exitOK, "", "job", "stop", "fails")
	cli.run(exitOK, "", "job", "delete", "fails")
	cli.refused("ATL.TRN.0001", "job", "show", "fails")
}
