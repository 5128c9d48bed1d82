//go:build linux && cgo

package gpu_test

import (
	"os"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/executor/gpu"
	"github.com/atelier-dev/atelier/executor/gpu/gputest"
)

// TestNVMLMock runs the suite on go-nvml's mock of a DGX H100 (eight
// H100 SXM5 80GB): the NVML code path without a GPU. Each GPU is listed
// with its index, the mock's UUID, the normalised type and its memory.
func TestNVMLMock(t *testing.T) {
	srv := dgxh100.New()
	inv := gpu.NewNVML(srv)
	gputest.Run(t, inv, 8)
	devs, err := inv.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range devs {
		want := driver.GPU{Index: i, UUID: srv.Devices[i].(*server.Device).UUID, Type: "nvidia-h100-80gb-hbm3", MemoryMB: 81920}
		if d != want {
			t.Errorf("device %d = %+v, want %+v", i, d, want)
		}
	}
}

// TestNVMLMockMIG: a GPU in MIG mode is left out (its MIG devices are not
// placed on); the others keep their NVML indexes, so the list has a gap.
func TestNVMLMockMIG(t *testing.T) {
	srv := dgxh100.NewWithGPUs(gpus.Multiple(4, gpus.H100_SXM5_80GB)...)
	if ret, _ := srv.Devices[2].SetMigMode(nvml.DEVICE_MIG_ENABLE); ret != nvml.SUCCESS {
		t.Fatalf("SetMigMode = %v", ret)
	}
	inv := gpu.NewNVML(srv)
	gputest.Run(t, inv, 3)
	devs, _ := inv.Devices(t.Context())
	var idx []int
	for _, d := range devs {
		idx = append(idx, d.Index)
		if d.UUID == srv.Devices[2].(*server.Device).UUID {
			t.Errorf("the MIG-enabled GPU is listed: %+v", d)
		}
	}
	if len(idx) != 3 || idx[0] != 0 || idx[1] != 1 || idx[2] != 3 {
		t.Errorf("indexes %v, want [0 1 3]", idx)
	}
}

// TestNVMLMachine runs the suite on this machine's NVML, where a driver
// is loaded (ATELIER_REQUIRE_NVML=1 on a GPU machine makes it required;
// scripts/gpu-check.sh sets it).
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
