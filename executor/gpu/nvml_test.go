//go:build linux && cgo

package gpu_test

import (
	"os"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"

	"github.com/atelier-dev/atelier/executor/gpu"
	"github.com/atelier-dev/atelier/executor/gpu/gputest"
)

// TestNVMLMock runs the suite on go-nvml's mock of a DGX H100 (eight
// H100 SXM5 80GB): the NVML code path without a GPU.
func TestNVMLMock(t *testing.T) {
	inv := gpu.NewNVML(dgxh100.New())
	gputest.Run(t, inv, 8)
	devs, err := inv.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if devs[0].Type != "nvidia-h100-80gb-hbm3" || devs[0].MemoryMB < 80000 {
		t.Errorf("device 0 = %+v, want an H100 80GB", devs[0])
	}
}

// TestNVMLMachine runs the suite on this machine's NVML, where a driver
// is loaded (ATELIER_REQUIRE_NVML=1 on a GPU machine makes it required).
func TestNVMLMachine(t *testing.T) {
	inv := gpu.NewNVML(nvml.New())
	if _, err := inv.Devices(t.Context()); err != nil {
		if os.Getenv("ATELIER_REQUIRE_NVML") != "" {
			t.Fatalf("ATELIER_REQUIRE_NVML is set but NVML fails: %v", err)
		}
		t.Skipf("no NVIDIA driver here: %v", err)
	}
	gputest.Run(t, inv, -1)
}
