package gpu_test

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier/executor/gpu"
)

// fakeHost is a machine with the given environment, programs on PATH and
// directories.
func fakeHost(env map[string]string, progs []string, dirs ...string) gpu.MPSHost {
	return gpu.MPSHost{
		Getenv: func(k string) string { return env[k] },
		LookPath: func(p string) (string, error) {
			for _, q := range progs {
				if q == p {
					return "/usr/bin/" + p, nil
				}
			}
			return "", errors.New("not found")
		},
		Stat: func(p string) (fs.FileInfo, error) {
			for _, d := range dirs {
				if d == p {
					return os.Stat(os.TempDir()) // any directory's info
				}
			}
			return nil, fs.ErrNotExist
		},
	}
}

func TestDetectMPS(t *testing.T) {
	ctl := []string{"nvidia-cuda-mps-control"}
	custom := map[string]string{"CUDA_MPS_PIPE_DIRECTORY": "/run/mps"}
	for _, tc := range []struct {
		name, mode string
		host       gpu.MPSHost
		want       string
		err        bool
	}{
		{"auto, daemon at the default", "auto", fakeHost(nil, ctl, "/tmp/nvidia-mps"), "/tmp/nvidia-mps", false},
		{"default mode is auto", "", fakeHost(nil, ctl, "/tmp/nvidia-mps"), "/tmp/nvidia-mps", false},
		{"auto, CUDA_MPS_PIPE_DIRECTORY", "auto", fakeHost(custom, ctl, "/run/mps"), "/run/mps", false},
		{"auto, the set directory is missing", "auto", fakeHost(custom, ctl, "/tmp/nvidia-mps"), "", false},
		{"auto, no control program", "auto", fakeHost(nil, nil, "/tmp/nvidia-mps"), "", false},
		{"auto, nothing", "auto", fakeHost(nil, nil), "", false},
		{"on, found", "on", fakeHost(nil, ctl, "/tmp/nvidia-mps"), "/tmp/nvidia-mps", false},
		{"on, not found", "on", fakeHost(nil, nil), "", true},
		{"on, relative directory", "on", fakeHost(map[string]string{"CUDA_MPS_PIPE_DIRECTORY": "mps"}, ctl, "mps"), "", true},
		{"off, though present", "off", fakeHost(nil, ctl, "/tmp/nvidia-mps"), "", false},
		{"bad mode", "yes", fakeHost(nil, ctl, "/tmp/nvidia-mps"), "", true},
	} {
		dir, note, err := gpu.DetectMPS(tc.mode, tc.host)
		switch {
		case (err != nil) != tc.err:
			t.Errorf("%s: err = %v", tc.name, err)
		case err != nil && !strings.Contains(err.Error(), "ATELIER_GPU_MPS"):
			t.Errorf("%s: %v does not name ATELIER_GPU_MPS", tc.name, err)
		case dir != tc.want:
			t.Errorf("%s: dir = %q, want %q", tc.name, dir, tc.want)
		case err == nil && note == "":
			t.Errorf("%s: no note for the log", tc.name)
		}
	}
}
