// Package driver defines what an executor driver implements: it starts,
// stops, observes and recovers tasks on one kind of compute (local
// processes in a sandbox, a Slurm cluster, Kubernetes pods, a fake). A
// driver does not queue, order tenants or place work on GPUs: the portable
// executor.Executor does that once, above every driver, and hands a driver
// only tasks it has decided to start (or, for a driver whose Capabilities
// say Queue, tasks the driver's own scheduler will start).
//
// The shape follows Nomad's task drivers: Capabilities and Fingerprint
// describe the driver, StartTask returns a serialisable TaskHandle from
// which RecoverTask re-attaches after a restart of the server, and a task's
// end is a typed ExitResult rather than text to match on.
//
// Error contract, for every method of every driver:
//   - a handle that names no task the driver knows (and RecoverTask cannot
//     find either) gives an error for which errors.Is(err, ErrNotFound);
//   - RecoverTask of a task whose processes are gone without a recorded
//     end gives ErrLost;
//   - a feature the driver's Capabilities do not declare gives
//     ErrUnsupported;
//   - a TaskConfig field the driver cannot honour gives an
//     *atelier.Error with CodeInvalidParam naming the field;
//   - anything else is wrapped with the operation's name.
package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Errors of the driver contract.
var (
	ErrNotFound    = errors.New("executor: no such task")
	ErrLost        = errors.New("executor: task lost")
	ErrUnsupported = errors.New("executor: not supported by this driver")
)

// Driver runs tasks on one kind of compute. Implementations are safe for
// concurrent use.
type Driver interface {
	// Name is the driver's registered name, e.g. "local"; it is
	// TaskHandle.Driver of every handle the driver returns.
	Name() string
	// Capabilities says what the driver can do.
	Capabilities() Capabilities
	// Fingerprint describes the compute the driver runs tasks on.
	Fingerprint(ctx context.Context) (*Fingerprint, error)
	// StartTask starts every worker of cfg at once and returns a handle
	// that RecoverTask accepts after a restart. It returns once the
	// workers were started (or, for a Queue driver, accepted); a worker
	// that cannot start makes the task exit with ExitStartFailed rather
	// than an error here, except for invalid configurations.
	StartTask(ctx context.Context, cfg *TaskConfig) (*TaskHandle, error)
	// InspectTask returns the task's current status.
	InspectTask(ctx context.Context, h *TaskHandle) (*TaskStatus, error)
	// WaitTask blocks until the task has exited and returns its final
	// status, or returns ctx.Err() when ctx ends first.
	WaitTask(ctx context.Context, h *TaskHandle) (*TaskStatus, error)
	// StopTask asks every worker to stop (SIGTERM or the driver's
	// equivalent) and kills what is left after grace. The task then exits
	// with ExitStopped. Stopping an exited task is not an error.
	StopTask(ctx context.Context, h *TaskHandle, grace time.Duration) error
	// RecoverTask re-attaches to a task started before a restart of the
	// server (by this driver in another process). Afterwards the other
	// methods work on h again. A handle whose Data is empty names the task
	// by its ID alone (a server that died between StartTask and recording
	// the handle): the driver finds it by ID or returns ErrNotFound.
	RecoverTask(ctx context.Context, h *TaskHandle) error
	// DestroyTask removes what the driver keeps of an exited task (state,
	// logs); a running task is stopped at once first. Unknown tasks are
	// not an error.
	DestroyTask(ctx context.Context, h *TaskHandle) error
	// TaskLogs opens worker's combined stdout and stderr from byte offset.
	// With follow, reads block for more output until the task has exited
	// (then io.EOF) or ctx ends.
	TaskLogs(ctx context.Context, h *TaskHandle, worker int, offset int64, follow bool) (io.ReadCloser, error)
	// Close stops watching tasks; it does not stop them when Capabilities
	// say Recover (a restarted server recovers them). Safe to call twice.
	Close() error
}

// Capabilities says what a driver can do. The portable executor refuses
// specs that need what a driver lacks, and executortest runs only the
// tests of what a driver declares.
type Capabilities struct {
	// Batch: tasks that run to completion (training jobs).
	Batch bool
	// LongRunning: tasks that serve until stopped (model services,
	// function instances), with Ports and Readiness.
	LongRunning bool
	// Gang: a task of more than one worker, started together, reaching
	// each other over TCP (MASTER_ADDR, MASTER_PORT).
	Gang bool
	// Ports: each worker of a task gets the TCP ports it names, reported
	// as Endpoints.
	Ports bool
	// GPUs: workers get the GPUs placed for them (CUDA_VISIBLE_DEVICES).
	GPUs bool
	// SharedFS: the task sees TaskConfig.Dir, staged by the server, at the
	// same path. Without it the task gets an empty directory of its own
	// at that path and fetches its inputs itself (the workload runtime
	// runs its command behind `atelier task-stage` with presigned URLs).
	SharedFS bool
	// Queue: the driver has a scheduler of its own (Slurm, Kubernetes);
	// the portable executor hands it every task at once instead of
	// holding tasks back until they fit.
	Queue bool
	// Recover: tasks outlive the server and RecoverTask re-attaches.
	Recover bool
	// MemoryLimit, CPULimit, ProcessLimit: the limits of Resources and
	// Limits are enforced.
	MemoryLimit  bool
	CPULimit     bool
	ProcessLimit bool
	// Isolation names how tasks are kept from the server and each other
	// (CONTRACT §9): IsolationNamespaces, IsolationCluster (the cluster's
	// own, e.g. pods) or IsolationNone.
	Isolation string
}

// Isolation values.
const (
	IsolationNone       = "none"
	IsolationNamespaces = "namespaces"
	IsolationCluster    = "cluster"
)

// Fingerprint describes a driver's compute.
type Fingerprint struct {
	CPUs     int   // cores
	MemoryMB int64 // total memory
	GPUs     []GPU
	// Attributes are driver facts for the logs and the admin API, e.g.
	// "sandbox": "bubblewrap 0.8.0".
	Attributes map[string]string
}

// GPU is one GPU of a driver's inventory.
type GPU struct {
	Index    int    `json:"index"`
	UUID     string `json:"uuid,omitempty"`
	Type     string `json:"type"` // e.g. "nvidia-t4"
	MemoryMB int64  `json:"memory_mb"`
}

// TaskConfig is a task the portable executor decided to start.
type TaskConfig struct {
	// ID names the task, unique among the driver's tasks; drivers name
	// what they create after it so that RecoverTask can find a task by ID.
	ID string
	// Tenant owns the task; drivers use it for naming and accounting only.
	Tenant string
	// Kind is KindBatch or KindService.
	Kind Kind
	// Workers is the number of identical workers, at least 1.
	Workers int
	// Command is the argv every worker runs, in Dir.
	Command []string
	// Env is every variable the task's code sees besides the ones the
	// driver adds (docs/training.md lists them); nothing of the server's
	// environment is inherited.
	Env map[string]string
	// Dir is the task's working directory. With SharedFS it exists, the
	// server staged it, and the task sees it read-write at this path.
	// Without SharedFS it need not exist on the server: the driver gives
	// the task an empty directory at this path (in its own view).
	Dir string
	// Mounts are extra directories the task sees read-only (or read-write
	// when ReadOnly is false) at Target.
	Mounts []Mount
	// Resources are per worker.
	Resources Resources
	// WorkerGPUs[i] are the GPUs placed for worker i (empty: none).
	WorkerGPUs [][]Assigned
	// Ports are the names of the TCP ports each worker listens on (a
	// service's "http"); the first is also $PORT.
	Ports []string
	// Readiness says when a long-running worker is ready; nil: once its
	// first port accepts connections (or at once without ports).
	Readiness *Probe
	// Limits bound what a worker may use besides memory and CPU.
	Limits Limits
	// Timeout is advisory: the portable executor stops the task after it;
	// a driver whose scheduler enforces a time limit may pass it on.
	Timeout time.Duration
}

// Kind of task.
type Kind string

// Kinds of task.
const (
	KindBatch   Kind = "batch"
	KindService Kind = "service"
)

// Mount is an extra directory in a task's view.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only"`
}

// Resources are what one worker may use.
type Resources struct {
	CPU         float64 // cores; 0: no limit
	MemoryBytes int64   // 0: no limit
}

// Limits bound a worker besides memory and CPU; zero fields take the
// driver's defaults.
type Limits struct {
	Processes int   // processes and threads
	OpenFiles int   // file descriptors
	TmpBytes  int64 // size of its private /tmp
}

// Assigned is a GPU (or a share of one) placed for a worker.
type Assigned struct {
	GPU
	// ShareMB is the GPU memory the worker may use; equal to MemoryMB for
	// a whole GPU.
	ShareMB int64 `json:"share_mb"`
}

// Probe is a readiness check of a long-running worker.
type Probe struct {
	// HTTPPath, when set, is requested with GET on the first port; any
	// 2xx answer is ready. Empty: a TCP connect to the first port.
	HTTPPath string
}

// TaskHandle identifies a started task. It is serialisable (JSON) and
// versioned, so that the portable executor can keep it and a restarted
// server can hand it back to RecoverTask.
type TaskHandle struct {
	Driver  string          `json:"driver"`
	Version int             `json:"version"` // of Data's format
	ID      string          `json:"id"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// TaskState is where a task is, as its driver sees it.
type TaskState string

// Task states.
const (
	// TaskPending: accepted by a Queue driver's scheduler, not started.
	TaskPending TaskState = "pending"
	// TaskRunning: every worker started.
	TaskRunning TaskState = "running"
	// TaskExited: every worker has ended; Exit says how.
	TaskExited TaskState = "exited"
)

// TaskStatus is what a driver knows of a task.
type TaskStatus struct {
	State      TaskState
	StartedAt  time.Time
	FinishedAt time.Time
	// Exit is set once State is TaskExited.
	Exit *ExitResult
	// Endpoints are the workers' ports (long-running tasks).
	Endpoints []Endpoint
	// Ready says that every worker passed its readiness probe.
	Ready bool
}

// Endpoint is where a worker's named port is reached.
type Endpoint struct {
	Worker int    `json:"worker"`
	Name   string `json:"name"`
	Addr   string `json:"addr"` // host:port
}

// ExitKind says how a task ended.
type ExitKind string

// Exit kinds.
const (
	// ExitCompleted: every worker exited 0.
	ExitCompleted ExitKind = "completed"
	// ExitFailed: a worker exited with a non-zero Code.
	ExitFailed ExitKind = "failed"
	// ExitSignaled: a worker was killed by Signal (not asked by Atelier).
	ExitSignaled ExitKind = "signaled"
	// ExitOOMKilled: a worker was killed for using more memory than its
	// limit.
	ExitOOMKilled ExitKind = "oom_killed"
	// ExitStopped: StopTask ended it.
	ExitStopped ExitKind = "stopped"
	// ExitTimedOut: the portable executor stopped it at its Timeout.
	ExitTimedOut ExitKind = "timed_out"
	// ExitStartFailed: a worker could not be started.
	ExitStartFailed ExitKind = "start_failed"
	// ExitLost: the task's processes vanished without a recorded end.
	ExitLost ExitKind = "lost"
)

// ExitResult is how a task ended.
type ExitResult struct {
	Kind ExitKind `json:"kind"`
	// Code is the exit code of the first worker that failed (0 when
	// none did; -1 when it has none: killed, stopped, lost).
	Code int `json:"code"`
	// Signal is the signal that killed that worker, 0 if none.
	Signal int `json:"signal,omitempty"`
	// Worker is the rank of that worker, -1 when no worker failed.
	Worker int `json:"worker"`
	// Message is a short description safe to show the task's owner: the
	// failed worker's last log lines, why a start failed. Never match on
	// it; use Kind, Code and Signal.
	Message string `json:"message,omitempty"`
}

// Success reports whether the task completed.
func (r *ExitResult) Success() bool { return r != nil && r.Kind == ExitCompleted }

// TaskEnv are the variables a driver sets for every worker besides the
// task's own Env (which may override the first group): what a task's
// environment holds and nothing else (CONTRACT §9; docs/training.md).
var TaskEnv = []string{
	// The basics.
	"PATH", "HOME", "LANG", "TMPDIR", "PYTHONUNBUFFERED", "USER", "LOGNAME",
	// A gang's distributed setup (torch.distributed, torchrun).
	"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "NODE_RANK", "GROUP_RANK",
	"MASTER_ADDR", "MASTER_PORT", "PET_NPROC_PER_NODE", "PET_NNODES", "PET_NODE_RANK",
	"PET_MASTER_ADDR", "PET_MASTER_PORT",
	// A long-running task's ports: PORT and PORT_<NAME> for each named port.
	"PORT",
	// Placed GPUs (GPUEnv).
	"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "ATELIER_GPU_MEMORY_MB",
	// Placed GPUs where the driver uses NVIDIA MPS (GPUEnv).
	"CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", "CUDA_MPS_PIPE_DIRECTORY",
}

// GPUEnv is the environment of a worker placed on gpus (nil when it has
// none), the same for every driver:
//
//   - CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES: each GPU's UUID
//     (its index where the inventory has no UUID), comma-separated in
//     placement order. A UUID names the same GPU whatever the enumeration
//     order: CUDA's default order (fastest first) need not be NVML's and
//     nvidia-smi's (PCI bus), and a CUDA_VISIBLE_DEVICES set when the MPS
//     daemon started renumbers the indexes its clients see; NVIDIA's MPS
//     guide recommends UUIDs for that reason.
//   - ATELIER_GPU_MEMORY_MB: the GPU memory the worker may use, the sum of
//     its shares. Without MPS nothing enforces it: it is advisory.
//   - with MPS (mpsPipeDir not empty): CUDA_MPS_PIPE_DIRECTORY, and
//     CUDA_MPS_PINNED_DEVICE_MEM_LIMIT "0=8192M" or "0=16384M,1=16384M":
//     a limit for each device ordinal as the worker sees them, that is
//     after CUDA_VISIBLE_DEVICES, so its i-th GPU is ordinal i. The MPS
//     server then refuses allocations beyond the share.
func GPUEnv(gpus []Assigned, mpsPipeDir string) map[string]string {
	if len(gpus) == 0 {
		return nil
	}
	ids := make([]string, len(gpus))
	limits := make([]string, len(gpus))
	var total int64
	for i, g := range gpus {
		ids[i] = g.UUID
		if ids[i] == "" {
			ids[i] = strconv.Itoa(g.Index)
		}
		limits[i] = fmt.Sprintf("%d=%dM", i, g.ShareMB)
		total += g.ShareMB
	}
	env := map[string]string{
		"CUDA_VISIBLE_DEVICES":   strings.Join(ids, ","),
		"NVIDIA_VISIBLE_DEVICES": strings.Join(ids, ","),
		"ATELIER_GPU_MEMORY_MB":  strconv.FormatInt(total, 10),
	}
	if mpsPipeDir != "" {
		env["CUDA_MPS_PIPE_DIRECTORY"] = mpsPipeDir
		env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = strings.Join(limits, ",")
	}
	return env
}
