// Package executor defines how Atelier runs a gang of worker processes (a
// training job version) on some compute: the local machine (localexec),
// and later Slurm and Kubernetes, all behind one small interface that the
// conformance suite in executortest checks.
//
// An executor knows nothing of jobs, tenants' objects or the store: the
// training service stages the working directory, submits a Spec, follows
// the Status and logs, and keeps the Handle in the store so that a
// restarted server can Recover the gang.
package executor

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// Spec is one gang of identical workers to run.
type Spec struct {
	// ID names the gang; it is unique among the executor's gangs, e.g.
	// "<job id>-v3".
	ID string
	// Tenant is the owner, for per-tenant fair queuing.
	Tenant string
	// Workers is the number of worker processes, at least 1. Every worker
	// gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, NODE_RANK,
	// GROUP_RANK, MASTER_ADDR, MASTER_PORT and the torchrun PET_* family
	// (PET_NPROC_PER_NODE, PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR,
	// PET_MASTER_PORT), so torch.distributed and torchrun scripts work.
	Workers int
	// Command is the argv every worker runs, in Dir.
	Command []string
	// Env is added to every worker's environment.
	Env map[string]string
	// Dir is the gang's working directory; it exists and belongs to the
	// caller. Executors may create files under Dir/.atelier/ (logs, exit
	// codes) and nowhere else.
	Dir string
	// CPU (cores) and MemoryBytes limit each worker where the executor can
	// (0: no limit). GPUs is the number of GPUs per worker.
	CPU         float64
	MemoryBytes int64
	GPUs        int
	// Timeout stops the gang after this long running (0: never); the status
	// then says so.
	Timeout time.Duration
}

// States of a gang.
const (
	Queued  = "queued"  // accepted, waiting for capacity
	Running = "running" // every worker started
	Exited  = "exited"  // every worker has ended; see ExitCode
)

// Status is what an executor knows of a gang.
type Status struct {
	State string
	// ExitCode is 0 when every worker exited 0; otherwise the exit code of
	// the first worker that failed (-1 when it was killed by a signal,
	// stopped or timed out).
	ExitCode int
	// FailedWorker is the rank of that worker, -1 when none failed.
	FailedWorker int
	// Reason explains a failure: "worker-1 exited with code 3: <last log
	// lines>", "stopped", "timed out after 1h0m0s", "lost: …".
	Reason     string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Handle identifies a submitted gang. It is serialisable (JSON) and
// versioned, so that the training service can store it and a restarted
// server can hand it back to Recover.
type Handle struct {
	Driver  string          `json:"driver"`  // e.g. "local"
	Version int             `json:"version"` // of Data's format
	ID      string          `json:"id"`      // Spec.ID
	Data    json.RawMessage `json:"data,omitempty"`
}

// Capacity is what an executor can run at once.
type Capacity struct {
	Slots    int   // workers that run at once; more are queued
	CPU      int   // cores
	MemoryMB int64 // total memory
	GPUs     int
}

// Errors of the executor contract.
var (
	// ErrNotFound: the handle names no gang this executor knows (and
	// Recover could not find it either).
	ErrNotFound = errors.New("executor: no such gang")
	// ErrLost: the gang's processes are gone without a recorded exit (for
	// example the machine rebooted); Recover returns it and the caller
	// fails the version with that reason.
	ErrLost = errors.New("executor: gang lost")
	// ErrTooLarge: the spec asks for more than the executor can ever run
	// (more workers than slots, more GPUs than exist).
	ErrTooLarge = errors.New("executor: spec exceeds capacity")
)

// Executor runs gangs. Implementations are safe for concurrent use.
//
// Error contract: Submit returns ErrTooLarge or a validation error naming
// the Spec field; Status, Wait, Stop and Logs return ErrNotFound for an
// unknown handle; Recover returns ErrLost or ErrNotFound; every other
// failure is wrapped with the operation.
type Executor interface {
	// Submit queues the gang and returns at once. Gangs start in FIFO
	// order within a tenant, round-robin across tenants, when enough slots
	// are free for all of their workers at once.
	Submit(ctx context.Context, spec *Spec) (*Handle, error)
	// Status returns the gang's current status.
	Status(ctx context.Context, h *Handle) (*Status, error)
	// Wait blocks until the gang has exited, or ctx ends (ctx.Err()).
	Wait(ctx context.Context, h *Handle) (*Status, error)
	// Stop ends the gang: a queued one never starts; running workers get
	// SIGTERM, and SIGKILL after grace. Stopping an exited gang is not an
	// error. The status then has Reason "stopped".
	Stop(ctx context.Context, h *Handle, grace time.Duration) error
	// Logs opens worker's combined stdout and stderr from byte offset.
	// With follow, reads block for more output until the gang has exited
	// (then io.EOF) or ctx ends.
	Logs(ctx context.Context, h *Handle, worker int, offset int64, follow bool) (io.ReadCloser, error)
	// Recover re-adopts a gang submitted before a restart of the server:
	// afterwards Status, Wait, Stop and Logs work on h again.
	Recover(ctx context.Context, h *Handle) error
	// Capacity says what the executor can run at once.
	Capacity() Capacity
	// Close stops watching gangs; it does not stop them (a restarted server
	// recovers them). It is safe to call twice.
	Close() error
}
