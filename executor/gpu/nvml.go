//go:build linux && cgo

package gpu

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/atelier-dev/atelier/executor/driver"
)

// NVML is the inventory of NVIDIA's management library. The library is
// loaded (dlopen of libnvidia-ml.so.1) only when Devices is called.
type NVML struct {
	lib nvml.Interface
	mu  sync.Mutex
}

var _ Inventory = (*NVML)(nil)

// NewNVML returns the inventory of lib (nvml.New() for the machine's
// driver; a go-nvml mock server in tests).
func NewNVML(lib nvml.Interface) *NVML { return &NVML{lib: lib} }

func openNVML() (Inventory, error) {
	n := NewNVML(nvml.New())
	if _, err := n.Devices(context.Background()); err != nil {
		return nil, err
	}
	return n, nil
}

// Source implements Inventory.
func (*NVML) Source() string { return "nvml" }

// Devices implements Inventory: every GPU with its NVML index (the
// index nvidia-smi shows), UUID, product type (TypeName of its name) and
// total memory, in MB.
//
// A GPU in MIG mode is left out, so the indexes listed can have gaps: CUDA
// cannot run on a MIG-enabled GPU as a whole, only on its MIG devices
// (CUDA_VISIBLE_DEVICES=MIG-<uuid>), which Atelier does not place on yet.
// GPUs that do not support MIG (GetMigMode says NOT_SUPPORTED) are listed.
func (n *NVML) Devices(ctx context.Context) (out []driver.GPU, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	defer func() {
		// A missing libnvidia-ml.so panics in some go-nvml versions.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("nvml: %v", r)
		}
	}()
	if ret := n.lib.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml: init: %w", nvmlError(ret))
	}
	defer n.lib.Shutdown()
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml: device count: %w", nvmlError(ret))
	}
	for i := range count {
		dev, ret := n.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d: %w", i, nvmlError(ret))
		}
		name, ret := dev.GetName()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d name: %w", i, nvmlError(ret))
		}
		uuid, ret := dev.GetUUID()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d uuid: %w", i, nvmlError(ret))
		}
		mem, ret := dev.GetMemoryInfo()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml: device %d memory: %w", i, nvmlError(ret))
		}
		if cur, _, ret := dev.GetMigMode(); ret == nvml.SUCCESS && cur == nvml.DEVICE_MIG_ENABLE {
			continue
		}
		out = append(out, driver.GPU{Index: i, UUID: uuid, Type: TypeName(name), MemoryMB: int64(mem.Total >> 20)})
	}
	return out, nil
}

func nvmlError(ret nvml.Return) error {
	return errors.New(nvml.ErrorString(ret))
}
