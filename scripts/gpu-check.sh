#!/usr/bin/env bash
# gpu-check.sh checks Atelier's real GPU path on a machine with an NVIDIA
# GPU and driver (docs/operations.md, "Checking a GPU machine"):
#   1. nvidia-smi -L: the GPUs the driver sees;
#   2. the NVML inventory tests with ATELIER_REQUIRE_NVML=1 (no skipping);
#   3. whether the NVIDIA MPS control daemon is running;
#   4. scripts/gpucheck: a 1 GiB share of one GPU placed by the executor and
#      a tiny Python check run in the bubblewrap sandbox, which must see only
#      that GPU (by UUID) and, under MPS, CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=1024M
#      (with torch, an allocation past the share must be refused).
# Arguments go to gpucheck: -python /path/to/venv/bin/python -ro /path/to/venv
# (torch, where installed, lists the devices the task sees), -sandbox none.
# Run it as the server's user (root, for per-task users); it needs Go,
# bubblewrap, python3 and cgo (a C compiler) for NVML.
set -euo pipefail
cd "$(dirname "$0")/.."
export CGO_ENABLED=1
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"

echo "== nvidia-smi -L"
nvidia-smi -L

echo "== NVML inventory (go test ./executor/gpu/...)"
ATELIER_REQUIRE_NVML=1 go test -count=1 -v -run 'NVML|Detect' ./executor/gpu/...

echo "== NVIDIA MPS (ATELIER_GPU_MPS=${ATELIER_GPU_MPS:-auto})"
pipe="${CUDA_MPS_PIPE_DIRECTORY:-/tmp/nvidia-mps}"
if command -v nvidia-cuda-mps-control >/dev/null && [ -d "$pipe" ]; then
	echo "MPS pipe directory $pipe exists: the task must get CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"
else
	echo "no MPS daemon found (pipe directory $pipe): the share is advisory (ATELIER_GPU_MEMORY_MB only)"
fi

echo "== a sandboxed task on a 1 GiB share (go run ./scripts/gpucheck)"
go run ./scripts/gpucheck "$@"
