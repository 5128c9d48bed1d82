package gpu_test

import (
	"strings"
	"testing"

	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/gpu"
	"github.com/atelier-dev/atelier/executor/gpu/gputest"
)

func TestStatic(t *testing.T) {
	s, err := gpu.ParseStatic([]driver.GPU{
		{Index: 0, UUID: "GPU-a", Type: "NVIDIA-T4", MemoryMB: 16384},
		{Index: 1, UUID: "GPU-b", Type: "nvidia-t4", MemoryMB: 16384},
	})
	if err != nil {
		t.Fatal(err)
	}
	gputest.Run(t, s, 2)
	gputest.Run(t, gpu.Static(nil), 0)
}

func TestParseStaticRefuses(t *testing.T) {
	for name, gs := range map[string][]driver.GPU{
		"out of order":  {{Index: 1, Type: "nvidia-t4", MemoryMB: 16384}},
		"bad type":      {{Index: 0, Type: "T4 GPU", MemoryMB: 16384}},
		"tiny":          {{Index: 0, Type: "nvidia-t4", MemoryMB: 512}},
		"repeated uuid": {{Index: 0, UUID: "x", Type: "a", MemoryMB: 2048}, {Index: 1, UUID: "x", Type: "a", MemoryMB: 2048}},
	} {
		if _, err := gpu.ParseStatic(gs); err == nil || !strings.Contains(err.Error(), "gpus[") {
			t.Errorf("%s: %v, want an error naming the entry", name, err)
		}
	}
}

func TestTypeName(t *testing.T) {
	for in, want := range map[string]string{
		"Tesla T4":                "nvidia-t4",
		"NVIDIA H100 80GB HBM3":   "nvidia-h100-80gb-hbm3",
		"NVIDIA A100-SXM4-40GB":   "nvidia-a100-sxm4-40gb",
		"NVIDIA GeForce RTX 4090": "nvidia-geforce-rtx-4090",
		"":                        "nvidia-gpu",
	} {
		if got := gpu.TypeName(in); got != want {
			t.Errorf("TypeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDetect: where no NVIDIA driver is loaded (this machine, CI) the
// configured inventory is used and the note says why; where one is, NVML's
// inventory is used and passes the suite.
func TestDetect(t *testing.T) {
	conf := gpu.Static{{Index: 0, Type: "nvidia-t4", MemoryMB: 16384}}
	inv, note := gpu.Detect(t.Context(), conf)
	switch inv.Source() {
	case "nvml":
		if note != "" {
			t.Errorf("NVML used with the note %q", note)
		}
		gputest.Run(t, inv, -1)
	case "configured":
		if note == "" {
			t.Error("the configured inventory is used without a note saying why")
		}
		gputest.Run(t, inv, 1)
	default:
		t.Errorf("Detect = %s", inv.Source())
	}
}
