package driver_test

import (
	"maps"
	"testing"

	"github.com/atelier-dev/atelier/executor/driver"
)

func TestGPUEnv(t *testing.T) {
	t4 := func(i int, uuid string, share int64) driver.Assigned {
		return driver.Assigned{GPU: driver.GPU{Index: i, UUID: uuid, Type: "nvidia-t4", MemoryMB: 16384}, ShareMB: share}
	}
	for _, tc := range []struct {
		name string
		gpus []driver.Assigned
		mps  string
		want map[string]string
	}{
		{"none", nil, "/tmp/nvidia-mps", nil},
		{"share, no MPS", []driver.Assigned{t4(1, "GPU-b", 8192)}, "", map[string]string{
			"CUDA_VISIBLE_DEVICES": "GPU-b", "NVIDIA_VISIBLE_DEVICES": "GPU-b", "ATELIER_GPU_MEMORY_MB": "8192",
		}},
		{"share, MPS: the one visible GPU is ordinal 0", []driver.Assigned{t4(1, "GPU-b", 8192)}, "/tmp/nvidia-mps", map[string]string{
			"CUDA_VISIBLE_DEVICES": "GPU-b", "NVIDIA_VISIBLE_DEVICES": "GPU-b", "ATELIER_GPU_MEMORY_MB": "8192",
			"CUDA_MPS_PIPE_DIRECTORY": "/tmp/nvidia-mps", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=8192M",
		}},
		{"two whole GPUs without UUIDs, MPS", []driver.Assigned{t4(1, "", 16384), t4(0, "", 16384)}, "/run/mps", map[string]string{
			"CUDA_VISIBLE_DEVICES": "1,0", "NVIDIA_VISIBLE_DEVICES": "1,0", "ATELIER_GPU_MEMORY_MB": "32768",
			"CUDA_MPS_PIPE_DIRECTORY": "/run/mps", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT": "0=16384M,1=16384M",
		}},
	} {
		if got := driver.GPUEnv(tc.gpus, tc.mps); !maps.Equal(got, tc.want) {
			t.Errorf("%s: GPUEnv = %v, want %v", tc.name, got, tc.want)
		}
	}
}
