// Command gpucheck checks Atelier's real GPU path on a machine with an
// NVIDIA GPU: it lists the GPUs through NVML, places a 1 GiB share of one
// with the portable executor over the local driver (in the bubblewrap
// sandbox, with NVIDIA MPS where gpu.DetectMPS finds it), and runs a tiny
// Python check in that task, which reports the CUDA environment it got
// and, where nvidia-smi or torch is there, the devices it sees. It fails
// when the task sees another GPU than the one placed, more than one
// device, or (with MPS) not the pinned-memory limit of its share.
// scripts/gpu-check.sh runs it (docs/operations.md).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/gpu"
	"github.com/atelier-dev/atelier/executor/localexec"
)

const check = `
import json, os, shutil, subprocess
out = {k: v for k, v in os.environ.items() if k.startswith(("CUDA_", "NVIDIA_", "ATELIER_GPU"))}
if shutil.which("nvidia-smi"):
    r = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    out["nvidia_smi"] = (r.stdout + r.stderr).strip()
try:
    import torch
    out["torch_devices"] = torch.cuda.device_count()
    if out["torch_devices"]:
        p = torch.cuda.get_device_properties(0)
        out["torch_device0"] = p.name + " " + str(getattr(p, "uuid", ""))
        free, total = torch.cuda.mem_get_info(0)
        out["torch_mem_mb"] = [free >> 20, total >> 20]
        if os.environ.get("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"):
            # Past the share: MPS must refuse it.
            try:
                x = torch.empty((int(os.environ["ATELIER_GPU_MEMORY_MB"]) + 512) << 20, dtype=torch.uint8, device="cuda:0")
                out["over_share_alloc"] = "allowed"
                del x
            except RuntimeError as e:
                out["over_share_alloc"] = "refused: " + str(e).splitlines()[0]
except ImportError:
    out["torch"] = "not installed"
with open("check.json", "w") as f:
    json.dump(out, f)
print(json.dumps(out, indent=1))
`

func main() {
	python := flag.String("python", "python3", "the interpreter the task runs (torch is used where it has it)")
	ro := flag.String("ro", "", "comma-separated host directories the sandbox sees read-only (e.g. a virtual environment)")
	sandbox := flag.String("sandbox", localexec.SandboxBwrap, "bwrap or none")
	flag.Parse()
	if err := run(*python, *ro, *sandbox); err != nil {
		fmt.Fprintln(os.Stderr, "gpucheck: FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("gpucheck: OK")
}

func run(python, ro, sandbox string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	inv, note := gpu.Detect(ctx, nil)
	if inv.Source() != "nvml" {
		return fmt.Errorf("no NVML inventory (built with CGO_ENABLED=1?): %s", note)
	}
	devs, err := inv.Devices(ctx)
	if err != nil {
		return err
	}
	for _, d := range devs {
		fmt.Printf("NVML: GPU %d %s %s %d MB\n", d.Index, d.UUID, d.Type, d.MemoryMB)
	}
	mode := os.Getenv("ATELIER_GPU_MPS")
	mps, note, err := gpu.DetectMPS(mode, gpu.Host())
	if err != nil {
		return err
	}
	fmt.Println("MPS:", note)

	tmp, err := os.MkdirTemp("", "atelier-gpucheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "work")
	// Task users (the server runs as root) must reach the working directory.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(work, 0o777); err != nil {
		return err
	}
	if err := os.Chmod(work, 0o777); err != nil {
		return err
	}
	var roPaths []string
	if ro != "" {
		roPaths = strings.Split(ro, ",")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := localexec.New(ctx, localexec.Options{
		StateDir: filepath.Join(tmp, "state"), Sandbox: sandbox, ReadOnlyPaths: roPaths,
		GPUs: devs, MPSPipeDir: mps, Logger: log,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	ex, err := executor.Open(ctx, d, executor.Options{StateDir: filepath.Join(tmp, "executor"), Slots: 1, Logger: log})
	if err != nil {
		return err
	}
	defer ex.Close()
	h, err := ex.Submit(ctx, &executor.Spec{ID: "gpucheck", Workers: 1, Command: []string{python, "-c", check}, Dir: work, GPUMemoryMB: executor.GPUMemoryStepMB})
	if err != nil {
		return err
	}
	st, err := ex.Wait(ctx, h)
	if err != nil {
		return err
	}
	if rc, err := ex.Logs(ctx, h, 0, 0, false); err == nil {
		logs, _ := io.ReadAll(rc)
		rc.Close()
		fmt.Printf("task output:\n%s\n", logs)
	}
	if !st.Exit.Success() {
		return fmt.Errorf("the task failed: %+v", st.Exit)
	}
	if len(st.GPUs) != 1 || len(st.GPUs[0]) != 1 {
		return fmt.Errorf("placement %+v, want one GPU", st.GPUs)
	}
	return verify(filepath.Join(work, "check.json"), st.GPUs[0], mps)
}

// verify compares what the task saw with its placement.
func verify(path string, placed []driver.Assigned, mps string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		return err
	}
	var errs []error
	for k, v := range driver.GPUEnv(placed, mps) {
		if got[k] != v {
			errs = append(errs, fmt.Errorf("%s = %v, want %s", k, got[k], v))
		}
	}
	if n, ok := got["torch_devices"].(float64); ok && n != 1 {
		errs = append(errs, fmt.Errorf("torch sees %v devices, want 1", n))
	}
	if a, ok := got["over_share_alloc"].(string); ok && !strings.HasPrefix(a, "refused") {
		errs = append(errs, fmt.Errorf("under MPS an allocation past the %d MB share was %s, want refused", placed[0].ShareMB, a))
	}
	return errors.Join(errs...)
}
