package gpu

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
)

// MPS modes, the values of ATELIER_GPU_MPS.
const (
	MPSAuto = "auto" // use MPS where its daemon is found (the default)
	MPSOn   = "on"   // use MPS; not finding it is an error
	MPSOff  = "off"  // never: a share is only advisory
)

// DefaultMPSPipeDir is where NVIDIA's MPS control daemon keeps its pipes
// and sockets unless CUDA_MPS_PIPE_DIRECTORY says otherwise.
const DefaultMPSPipeDir = "/tmp/nvidia-mps"

// MPSHost is what DetectMPS looks at; Host() is this machine.
type MPSHost struct {
	Getenv   func(string) string
	LookPath func(string) (string, error)
	Stat     func(string) (fs.FileInfo, error)
}

// Host is this machine: its environment, PATH and files.
func Host() MPSHost { return MPSHost{Getenv: os.Getenv, LookPath: exec.LookPath, Stat: os.Stat} }

// DetectMPS returns the pipe directory of NVIDIA's Multi-Process Service
// for workers to use (localexec.Options.MPSPipeDir), or "" when they are
// not to use MPS, with a note for the log saying why. The directory is
// the server's CUDA_MPS_PIPE_DIRECTORY, else /tmp/nvidia-mps, and must be
// absolute. MPS is found when that directory exists and
// nvidia-cuda-mps-control is on PATH; in mode "on" not finding it is an
// error, in "auto" (and "") it means no MPS, in "off" it is not looked for.
func DetectMPS(mode string, h MPSHost) (dir, note string, err error) {
	switch mode {
	case MPSOff:
		return "", "ATELIER_GPU_MPS=off: GPU memory shares are advisory", nil
	case MPSOn, MPSAuto, "":
	default:
		return "", "", fmt.Errorf("ATELIER_GPU_MPS=%q is not on, off or auto", mode)
	}
	dir = h.Getenv("CUDA_MPS_PIPE_DIRECTORY")
	if dir == "" {
		dir = DefaultMPSPipeDir
	}
	why := ""
	if !filepath.IsAbs(dir) {
		why = fmt.Sprintf("the MPS pipe directory %q is not an absolute path", dir)
	} else if fi, err := h.Stat(dir); err != nil || !fi.IsDir() {
		why = fmt.Sprintf("no MPS pipe directory %s (is nvidia-cuda-mps-control -d running?)", dir)
	} else if _, err := h.LookPath("nvidia-cuda-mps-control"); err != nil {
		why = "nvidia-cuda-mps-control is not on PATH"
	}
	switch {
	case why == "":
		return dir, "NVIDIA MPS at " + dir + ": GPU memory shares are enforced (CUDA_MPS_PINNED_DEVICE_MEM_LIMIT)", nil
	case mode == MPSOn:
		return "", "", fmt.Errorf("ATELIER_GPU_MPS=on but %s", why)
	default:
		return "", "MPS not used, GPU memory shares are advisory: " + why, nil
	}
}
