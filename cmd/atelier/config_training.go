package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/gpu"
	"github.com/atelier-dev/atelier/executor/localexec"
)

// CgroupOff is ATELIER_TRAINING_CGROUP_DIR's value that turns the
// automatic use of a delegated cgroup v2 hierarchy off.
const CgroupOff = "off"

// Defaults of the training settings.
const (
	DefaultExecutor       = "local"
	DefaultTrainingMaxRun = 24 * time.Hour
)

// TrainingConfig holds the training and executor settings, all from
// ATELIER_* variables (docs/operations.md, "Training settings" and
// "Workloads").
type TrainingConfig struct {
	Executor       string        // ATELIER_EXECUTOR: local (slurm and kubernetes arrive later)
	Slots          int           // ATELIER_TRAINING_SLOTS: workers that run at once, default the number of CPUs
	GPUs           int           // ATELIER_TRAINING_GPUS: that many generic GPUs (shorthand for ATELIER_GPUS), default 0
	GPUsFile       string        // ATELIER_GPUS: JSON file listing the GPUs where NVML finds none
	GPUMPS         string        // ATELIER_GPU_MPS: on, off or auto (default): NVIDIA MPS enforces GPU memory shares
	Sandbox        string        // ATELIER_SANDBOX: bwrap (default) or none (unsafe)
	ReadOnlyPaths  string        // ATELIER_SANDBOX_RO_PATHS: colon-separated host directories every sandbox sees read-only
	Processes      int           // ATELIER_SANDBOX_PROCESSES: processes and threads of one worker, default 4096
	TmpBytes       int64         // ATELIER_SANDBOX_TMP: size of a worker's private /tmp, default 1 GiB
	FlavorsFile    string        // ATELIER_TRAINING_FLAVORS: JSON file with a list of flavors
	FrameworksFile string        // ATELIER_TRAINING_FRAMEWORKS: JSON file with a list of frameworks
	MaxRun         time.Duration // ATELIER_TRAINING_MAX_RUN: bound of a job without max_run_seconds, default 24h
	// TaskStager is the atelier binary as tasks see it, for staging
	// through presigned URLs on executors without a shared filesystem
	// (ATELIER_TASK_STAGER; default: the server's own executable, see
	// taskStager).
	TaskStager string
	// TaskEndpoint is the server's URL as tasks reach it
	// (ATELIER_TASK_ENDPOINT; default ATELIER_PUBLIC_URL).
	TaskEndpoint string
	// LocalNoSharedFS makes the local driver give each task a directory of
	// its own instead of the server-staged one, so that tasks stage through
	// presigned URLs as on a remote driver (ATELIER_LOCAL_SHARED_FS=false;
	// for testing that path on one machine).
	LocalNoSharedFS bool
	// CgroupDir is a cgroup v2 directory delegated to the server
	// (ATELIER_TRAINING_CGROUP_DIR, e.g. systemd's Delegate=yes): each
	// worker then gets memory.max, cpu.max and pids.max. Unset: the one the
	// server runs in when it is delegated (localexec.DetectCgroup); "off":
	// none, memory limited by RLIMIT_AS and CPU share not limited.
	CgroupDir string
}

// trainingFromEnv reads the training variables and the ones that did not
// parse.
func trainingFromEnv(getenv func(string) string) (TrainingConfig, []error) {
	c := TrainingConfig{
		Executor:       strings.ToLower(strings.TrimSpace(getenv("ATELIER_EXECUTOR"))),
		FlavorsFile:    getenv("ATELIER_TRAINING_FLAVORS"),
		FrameworksFile: getenv("ATELIER_TRAINING_FRAMEWORKS"),
		CgroupDir:      getenv("ATELIER_TRAINING_CGROUP_DIR"),
		GPUsFile:       getenv("ATELIER_GPUS"),
		GPUMPS:         strings.ToLower(strings.TrimSpace(getenv("ATELIER_GPU_MPS"))),
		Sandbox:        strings.ToLower(strings.TrimSpace(getenv("ATELIER_SANDBOX"))),
		ReadOnlyPaths:  getenv("ATELIER_SANDBOX_RO_PATHS"),
		TaskStager:     getenv("ATELIER_TASK_STAGER"),
		TaskEndpoint:   getenv("ATELIER_TASK_ENDPOINT"),
	}
	var errs []error
	switch c.GPUMPS {
	case "", "auto", "on", "off":
	default:
		errs = append(errs, fmt.Errorf("ATELIER_GPU_MPS: %q is not on, off or auto", c.GPUMPS))
	}
	if v := strings.TrimSpace(getenv("ATELIER_LOCAL_SHARED_FS")); v != "" {
		shared, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ATELIER_LOCAL_SHARED_FS: %q is not true or false", v))
		}
		c.LocalNoSharedFS = err == nil && !shared
	}
	for _, iv := range []struct {
		name string
		dst  *int
	}{{"ATELIER_TRAINING_SLOTS", &c.Slots}, {"ATELIER_TRAINING_GPUS", &c.GPUs}, {"ATELIER_SANDBOX_PROCESSES", &c.Processes}} {
		if v := getenv(iv.name); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a whole number of 0 or more", iv.name, v))
				continue
			}
			*iv.dst = n
		}
	}
	if v := getenv("ATELIER_SANDBOX_TMP"); v != "" {
		n, err := parseSize(v)
		if err != nil || n < 1<<20 {
			errs = append(errs, fmt.Errorf("ATELIER_SANDBOX_TMP: %q is not a size of at least 1MiB such as 512MiB", v))
		} else {
			c.TmpBytes = n
		}
	}
	if v := getenv("ATELIER_TRAINING_MAX_RUN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_MAX_RUN: %q is not a Go duration such as 24h", v))
		} else {
			c.MaxRun = d
		}
	}
	return c, errs
}

// withDefaults returns c with every unset setting at its default.
func (c TrainingConfig) withDefaults() TrainingConfig {
	c.Executor = cmp.Or(c.Executor, DefaultExecutor)
	c.Sandbox = cmp.Or(c.Sandbox, localexec.SandboxBwrap)
	c.Processes = cmp.Or(c.Processes, localexec.DefaultProcesses)
	c.TmpBytes = cmp.Or(c.TmpBytes, localexec.DefaultTmpBytes)
	c.Slots = cmp.Or(c.Slots, runtime.NumCPU())
	c.MaxRun = cmp.Or(c.MaxRun, DefaultTrainingMaxRun)
	return c
}

// validate reports the problems of a defaulted config, reading the flavor
// and framework files.
func (c TrainingConfig) validate() []error {
	var errs []error
	switch {
	case executorDrivers[c.Executor] != nil:
	case c.Executor == "slurm", c.Executor == "kubernetes":
		errs = append(errs, fmt.Errorf("ATELIER_EXECUTOR: %q is not available yet: slurm/kubernetes arrive with a later issue; use local", c.Executor))
	default:
		errs = append(errs, fmt.Errorf("ATELIER_EXECUTOR: %q is not one of %s (slurm/kubernetes arrive with a later issue)", c.Executor, schemeList(executorDrivers)))
	}
	switch c.Sandbox {
	case localexec.SandboxBwrap, localexec.SandboxNone:
	default:
		errs = append(errs, fmt.Errorf("ATELIER_SANDBOX: %q is not %s or %s", c.Sandbox, localexec.SandboxBwrap, localexec.SandboxNone))
	}
	if c.Processes < 16 {
		errs = append(errs, fmt.Errorf("ATELIER_SANDBOX_PROCESSES: must be at least 16, not %d", c.Processes))
	}
	for _, p := range c.readOnlyPaths() {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("ATELIER_SANDBOX_RO_PATHS: %q is not an absolute path", p))
		}
	}
	if c.TaskStager != "" && !filepath.IsAbs(c.TaskStager) {
		errs = append(errs, fmt.Errorf("ATELIER_TASK_STAGER: %q is not an absolute path", c.TaskStager))
	}
	if c.TaskEndpoint != "" {
		if u, err := url.Parse(c.TaskEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ATELIER_TASK_ENDPOINT: %q is not an http:// or https:// URL", c.TaskEndpoint))
		}
	}
	if c.LocalNoSharedFS && c.Sandbox != localexec.SandboxBwrap {
		errs = append(errs, fmt.Errorf("ATELIER_LOCAL_SHARED_FS=false needs ATELIER_SANDBOX=%s (the sandbox shows each task its own directory)", localexec.SandboxBwrap))
	}
	if c.GPUs > 0 && c.GPUsFile != "" {
		errs = append(errs, errors.New("ATELIER_TRAINING_GPUS and ATELIER_GPUS: set one of them"))
	}
	if _, err := c.configuredGPUs(); err != nil {
		errs = append(errs, err)
	}
	if c.Slots < 1 {
		errs = append(errs, fmt.Errorf("ATELIER_TRAINING_SLOTS: must be at least 1, not %d", c.Slots))
	}
	if c.MaxRun < time.Minute {
		errs = append(errs, fmt.Errorf("ATELIER_TRAINING_MAX_RUN: must be at least 1m, not %s", c.MaxRun))
	}
	if c.CgroupDir != "" && c.CgroupDir != CgroupOff {
		if _, err := os.Stat(filepath.Join(c.CgroupDir, "cgroup.controllers")); err != nil {
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_CGROUP_DIR: %q is not a cgroup v2 directory (no cgroup.controllers)", c.CgroupDir))
		} else if unix.Access(c.CgroupDir, unix.W_OK) != nil {
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_CGROUP_DIR: %q is not writable by the server", c.CgroupDir))
		}
	}
	if _, err := c.flavorsFromFile(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.frameworks(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// taskStager is ATELIER_TASK_STAGER, or the server's own executable.
func (c TrainingConfig) taskStager() string {
	if c.TaskStager != "" {
		return c.TaskStager
	}
	exe, _ := os.Executable()
	return exe
}

// readOnlyPaths splits ATELIER_SANDBOX_RO_PATHS.
func (c TrainingConfig) readOnlyPaths() []string {
	var out []string
	for _, p := range strings.Split(c.ReadOnlyPaths, ":") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, filepath.Clean(p))
		}
	}
	return out
}

// GenericGPUMemoryMB is the memory of each of ATELIER_TRAINING_GPUS's
// generic GPUs.
const GenericGPUMemoryMB = 16384

// configuredGPUs is the configured GPU inventory: ATELIER_GPUS's list,
// or ATELIER_TRAINING_GPUS generic GPUs (type nvidia-gpu, 16 GiB each).
func (c TrainingConfig) configuredGPUs() (gpu.Static, error) {
	if c.GPUsFile == "" {
		out := make(gpu.Static, c.GPUs)
		for i := range out {
			out[i] = driver.GPU{Index: i, UUID: fmt.Sprintf("GPU-configured-%d", i), Type: "nvidia-gpu", MemoryMB: GenericGPUMemoryMB}
		}
		return out, nil
	}
	var gs []driver.GPU
	if err := decodeJSONFile("ATELIER_GPUS", c.GPUsFile, &gs); err != nil {
		return nil, err
	}
	s, err := gpu.ParseStatic(gs)
	if err != nil {
		return nil, fmt.Errorf("ATELIER_GPUS: %s: %s", c.GPUsFile, atelier.ErrorMessage(err))
	}
	return s, nil
}

// decodeJSONFile reads a JSON list from path into v, refusing unknown
// fields, so a typo in a flavor file is an error rather than a default.
func decodeJSONFile(setting, path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", setting, err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %s is not a JSON list of the expected objects: %w", setting, path, err)
	}
	return nil
}

// flavorsFromFile returns the flavors of ATELIER_TRAINING_FLAVORS, or nil
// when it is not set.
func (c TrainingConfig) flavorsFromFile() ([]*atelier.Flavor, error) {
	if c.FlavorsFile == "" {
		return nil, nil
	}
	var fs []*atelier.Flavor
	if err := decodeJSONFile("ATELIER_TRAINING_FLAVORS", c.FlavorsFile, &fs); err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("ATELIER_TRAINING_FLAVORS: %s lists no flavor", c.FlavorsFile)
	}
	seen := map[string]bool{}
	var errs []error
	for i, f := range fs {
		switch {
		case f == nil || f.ID == "":
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_FLAVORS: flavor %d has no flavor_id", i))
		case seen[f.ID]:
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_FLAVORS: flavor_id %q appears twice", f.ID))
		case f.CPU < 0 || f.MemoryMB < 0 || f.GPU < 0 || f.MaxNum < 0:
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_FLAVORS: flavor %q has a negative cpu, memory_mb, gpu_num or max_num", f.ID))
		case f.Executor != "" && f.Executor != c.Executor:
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_FLAVORS: flavor %q is for executor %q, but ATELIER_EXECUTOR is %q", f.ID, f.Executor, c.Executor))
		}
		if f != nil {
			seen[f.ID] = true
		}
	}
	return fs, errors.Join(errs...)
}

// flavors returns the configured flavors, or the defaults derived from the
// executor's capacity. A flavor without max_num gets the number of its
// workers the executor can run at once.
func (c TrainingConfig) flavors(capa executor.Capacity) ([]*atelier.Flavor, error) {
	fs, err := c.flavorsFromFile()
	if err != nil {
		return nil, err
	}
	if fs == nil {
		fs = defaultFlavors(capa)
	}
	for _, f := range fs {
		f.Executor = cmp.Or(f.Executor, c.Executor)
		if f.MaxNum == 0 {
			f.MaxNum = maxWorkers(f, capa)
		}
		if f.Name == "" {
			f.Name = flavorName(f)
		}
	}
	return fs, nil
}

// defaultFlavors are the seed's CPU flavors, cut to the machine's cores and
// memory, plus one GPU flavor when the executor has GPUs.
func defaultFlavors(capa executor.Capacity) []*atelier.Flavor {
	cores := max(capa.CPU, 1)
	mem := capa.MemoryMB
	if mem <= 0 {
		mem = int64(cores) * 2048
	}
	cpuFlavor := func(id string, cpu int, memMB int64) *atelier.Flavor {
		return &atelier.Flavor{ID: id, CPU: min(cpu, cores), MemoryMB: min(memMB, mem)}
	}
	fs := []*atelier.Flavor{
		cpuFlavor("modelarts.vm.cpu.2u", 2, 8<<10),
		cpuFlavor("modelarts.vm.cpu.8u", 8, 32<<10),
	}
	if len(capa.GPUs) > 0 {
		fs = append(fs, &atelier.Flavor{ID: "modelarts.vm.gpu.p100", CPU: min(8, cores), MemoryMB: min(64<<10, mem), GPU: 1, GPUType: capa.GPUs[0].Type})
	}
	return fs
}

// maxWorkers is how many workers of flavor f the executor runs at once:
// bounded by its slots, and by its cores, memory and GPUs divided by the
// flavor's. CPU flavors get at least 1.
func maxWorkers(f *atelier.Flavor, capa executor.Capacity) int {
	n := max(capa.Slots, 1)
	if f.CPU > 0 && capa.CPU > 0 {
		n = min(n, max(capa.CPU/f.CPU, 1))
	}
	if f.MemoryMB > 0 && capa.MemoryMB > 0 {
		n = min(n, max(int(capa.MemoryMB/f.MemoryMB), 1))
	}
	if f.GPU > 0 {
		n = min(n, gpusOfType(capa.GPUs, f.GPUType)/f.GPU)
	}
	return n
}

// gpusOfType counts the GPUs of type typ (any type when empty).
func gpusOfType(gs []driver.GPU, typ string) int {
	n := 0
	for _, g := range gs {
		if typ == "" || strings.EqualFold(g.Type, typ) {
			n++
		}
	}
	return n
}

// flavorName describes a flavor's resources, e.g. "CPU: 2 vCPUs 8 GiB".
func flavorName(f *atelier.Flavor) string {
	mem := fmt.Sprintf("%d MiB", f.MemoryMB)
	if f.MemoryMB%1024 == 0 {
		mem = fmt.Sprintf("%d GiB", f.MemoryMB/1024)
	}
	if f.GPU > 0 {
		return fmt.Sprintf("GPU: %d×%s, %d vCPUs %s", f.GPU, cmp.Or(f.GPUType, "GPU"), f.CPU, mem)
	}
	return fmt.Sprintf("CPU: %d vCPUs %s", f.CPU, mem)
}

// defaultFrameworks are ModelArts' engines as the seed names them, all run
// by python3 on this machine, plus plain Python.
func defaultFrameworks() []*atelier.Framework {
	return []*atelier.Framework{
		{Type: "PyTorch", Version: "PyTorch-1.0.0-python3.6", Interpreter: "python3"},
		{Type: "PyTorch", Version: "PyTorch-1.4.0-python3.6", Interpreter: "python3"},
		{Type: "TensorFlow", Version: "TF-2.1.0-python3.6", Interpreter: "python3"},
		{Type: "Ascend-Powered-Engine", Version: "MindSpore-1.3.0-python3.7", Interpreter: "python3"},
		{Type: "Python", Version: "python3", Interpreter: "python3"},
	}
}

// frameworks returns the frameworks of ATELIER_TRAINING_FRAMEWORKS, or the
// defaults.
func (c TrainingConfig) frameworks() ([]*atelier.Framework, error) {
	if c.FrameworksFile == "" {
		return defaultFrameworks(), nil
	}
	var fs []*atelier.Framework
	if err := decodeJSONFile("ATELIER_TRAINING_FRAMEWORKS", c.FrameworksFile, &fs); err != nil {
		return nil, err
	}
	if len(fs) == 0 {
		return nil, fmt.Errorf("ATELIER_TRAINING_FRAMEWORKS: %s lists no framework", c.FrameworksFile)
	}
	var errs []error
	for i, f := range fs {
		if f == nil || f.Type == "" {
			errs = append(errs, fmt.Errorf("ATELIER_TRAINING_FRAMEWORKS: framework %d has no framework_type", i))
			continue
		}
		f.Interpreter = cmp.Or(f.Interpreter, "python3")
	}
	return fs, errors.Join(errs...)
}
