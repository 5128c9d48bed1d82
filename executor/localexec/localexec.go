// Package localexec is the executor driver for the local machine: every
// worker of a task is a process group of its own, in a bubblewrap sandbox
// (sandbox.go) unless the operator explicitly chose to run tenants' code
// unisolated.
//
// A worker is started as a small /bin/sh gate that waits on a pipe until
// the driver has recorded the worker's process group, then execs prlimit
// (process, file and address-space limits) and bubblewrap, which runs the
// command. Its stdout and stderr go to a log file, and bubblewrap writes
// the command's exit code to a status file, both in the driver's state
// directory (Options.StateDir/<task id>/), which no task can see. Nothing
// of a worker goes through the server (files, never pipes), so workers
// survive a restart of the server, and a new driver finds their exit codes
// on disk: RecoverTask re-adopts a task from its state file
// (Options.StateDir/<task id>/task.json).
//
// When the server runs as root every task gets a host user of its own
// (Options.UIDBase+1 …), so that neither the kernel's process limits nor
// file permissions are shared between tasks; inside its sandbox a task is
// user 1000 "atelier". A server that is not root runs tasks as its own
// user inside a user namespace.
//
// Limits: RLIMIT_NPROC, RLIMIT_NOFILE and (without cgroups) RLIMIT_AS for
// Resources.MemoryBytes, a size-limited /tmp, and with Options.CgroupDir (a
// delegated cgroup v2 directory) a cgroup per worker with memory.max,
// cpu.max and pids.max.
package localexec

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/executor/driver"
	"github.com/atelier-dev/atelier/internal/atomicfile"
	"github.com/atelier-dev/atelier/internal/clock"
	"golang.org/x/sys/unix"
)

// Name is the driver's registered name.
const Name = "local"

// handleVersion is the version of the TaskHandle.Data format.
const handleVersion = 3

// Defaults applied by New.
const (
	DefaultGrace        = 10 * time.Second
	DefaultPollInterval = 100 * time.Millisecond
	// logTailBytes is how much of a failed worker's log end goes into the
	// exit message; at most logTailLines lines of it.
	logTailBytes = 4096
	logTailLines = 10
	// exitGateRefused is the exit code of a worker whose gate was never
	// opened (the server died while starting it): the command never ran.
	exitGateRefused = 125
)

// Options configures the driver. Zero values take the defaults.
type Options struct {
	// StateDir holds one directory per task: its state file, its workers'
	// logs and exit statuses. Required; tasks never see it.
	StateDir string
	// Sandbox is SandboxBwrap (default) or SandboxNone.
	Sandbox string
	// BwrapPath is the bubblewrap binary (default: bwrap on PATH).
	BwrapPath string
	// UIDBase and UIDCount are the host users and group of tasks when the
	// server runs as root: the group UIDBase, and one user of
	// UIDBase+1 … UIDBase+UIDCount-1 per running task.
	UIDBase, UIDCount int
	// ReadOnlyPaths are host directories every sandbox sees read-only,
	// besides the system's (/usr, /etc, /opt, …): an interpreter installed
	// elsewhere, a shared model cache.
	ReadOnlyPaths []string
	// SearchRoots are directories below which the driver may make a
	// task's working directory reachable for task users (group UIDBase,
	// g+x), e.g. the server's data directory. A working directory
	// anywhere else must already be reachable.
	SearchRoots []string
	// NoSharedFS makes the driver behave like one whose tasks cannot see
	// the server's disk (Capabilities.SharedFS false), for testing the
	// runtime's staging through presigned URLs on one machine: a task's
	// working directory is then an empty directory the driver makes in
	// its state directory (<StateDir>/.work/<task>), which the sandbox
	// shows at TaskConfig.Dir, and removes when the task exits; whatever
	// the server has at TaskConfig.Dir is never seen. It needs the
	// bubblewrap sandbox.
	NoSharedFS bool
	// Limits are the defaults of driver.Limits.
	Limits driver.Limits
	// CPUs, MemoryMB and GPUs describe the machine (defaults: the number
	// of CPUs, total memory, no GPUs).
	CPUs     int
	MemoryMB int64
	GPUs     []driver.GPU
	// MPSPipeDir, when set, is the pipe directory of a running NVIDIA MPS
	// control daemon (gpu.DetectMPS finds it): workers placed on GPUs
	// then get CUDA_MPS_PIPE_DIRECTORY and CUDA_MPS_PINNED_DEVICE_MEM_LIMIT
	// (driver.GPUEnv), and the sandbox binds the directory read-write, for
	// a CUDA client reaches the daemon through the pipes and sockets in
	// it. Empty: no MPS; the share is only ATELIER_GPU_MEMORY_MB, advisory.
	MPSPipeDir string
	// CgroupDir, when set, is a cgroup v2 directory delegated to the
	// driver; each worker then runs in its own child cgroup with
	// memory.max, cpu.max and pids.max.
	CgroupDir string
	// Grace is how long workers get between SIGTERM and SIGKILL when a
	// worker of their gang failed (default DefaultGrace).
	Grace time.Duration
	// PollInterval is how often exits are checked and followed logs
	// re-read (default DefaultPollInterval). The exit of a worker this
	// process started is noticed at once.
	PollInterval time.Duration
	Clock        clock.Clock  // default clock.Real
	Logger       *slog.Logger // default slog.Default()
}

// Executor is the local driver. It is safe for concurrent use.
type Executor struct {
	opts    Options
	log     *slog.Logger
	bwrap   string
	version string // bubblewrap's
	root    bool
	sys     []sysPath
	etcDir  string

	mu    sync.Mutex
	tasks map[string]*task
	uids  map[int]string // host uid → task

	kick      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ driver.Driver = (*Executor)(nil)

// state is what the driver persists of a task.
type state struct {
	Config     driver.TaskConfig  `json:"config"`
	State      string             `json:"state"` // starting, running, exited
	UID        int                `json:"uid"`   // host user of the workers; -1: the server's
	MasterPort int                `json:"master_port"`
	Ports      [][]int            `json:"ports,omitempty"` // per worker, per named port
	PIDs       []int              `json:"pids,omitempty"`  // also the process group ids
	Cgroups    []string           `json:"cgroups,omitempty"`
	StartedAt  time.Time          `json:"started_at,omitzero"`
	FinishedAt time.Time          `json:"finished_at,omitzero"`
	Stop       bool               `json:"stop,omitempty"`
	Exit       *driver.ExitResult `json:"exit,omitempty"`
}

// Task states in the state file.
const (
	stStarting = "starting"
	stRunning  = "running"
	stExited   = "exited"
)

type task struct {
	st       state
	dir      string // the task's state directory
	done     chan struct{}
	ws       []*worker
	killAt   time.Time // SIGKILL the remaining workers at this time
	termed   bool      // SIGTERM sent to the remaining workers
	failed   int       // rank of the first failed worker, -1
	startErr string    // why a worker could not start
}

type worker struct {
	pid    int
	reaped chan struct{} // closed when this process reaped it; nil if recovered
	ended  bool
	code   int  // exit code; -1 when none
	noExit bool // ended without an exit status
}

// New returns the driver and starts its watch loop; Close stops it. With
// the sandbox on (the default) it checks that a sandbox can be made and
// returns an error saying why not otherwise.
func New(ctx context.Context, opts Options) (*Executor, error) {
	if opts.StateDir == "" {
		return nil, errors.New("localexec: Options.StateDir is required")
	}
	opts.Sandbox = cmp.Or(opts.Sandbox, SandboxBwrap)
	opts.CPUs = cmp.Or(opts.CPUs, runtime.NumCPU())
	opts.MemoryMB = cmp.Or(opts.MemoryMB, totalMemoryMB())
	opts.UIDBase = cmp.Or(opts.UIDBase, DefaultUIDBase)
	opts.UIDCount = cmp.Or(opts.UIDCount, DefaultUIDCount)
	opts.Limits.Processes = cmp.Or(opts.Limits.Processes, DefaultProcesses)
	opts.Limits.OpenFiles = cmp.Or(opts.Limits.OpenFiles, DefaultOpenFiles)
	opts.Limits.TmpBytes = cmp.Or(opts.Limits.TmpBytes, DefaultTmpBytes)
	opts.Grace = cmp.Or(opts.Grace, DefaultGrace)
	opts.PollInterval = cmp.Or(opts.PollInterval, DefaultPollInterval)
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case opts.Sandbox != SandboxBwrap && opts.Sandbox != SandboxNone:
		return nil, fmt.Errorf("localexec: sandbox %q is not %s or %s", opts.Sandbox, SandboxBwrap, SandboxNone)
	case opts.NoSharedFS && opts.Sandbox != SandboxBwrap:
		return nil, errors.New("localexec: NoSharedFS needs the bubblewrap sandbox, which shows a task its own directory at its working directory's path")
	case opts.Grace < 0 || opts.PollInterval < 0 || opts.UIDBase < 1 || opts.UIDCount < 2:
		return nil, errors.New("localexec: Grace and PollInterval must not be negative, UIDBase at least 1, UIDCount at least 2")
	case opts.MPSPipeDir != "" && !filepath.IsAbs(opts.MPSPipeDir):
		return nil, fmt.Errorf("localexec: the MPS pipe directory %q is not an absolute path", opts.MPSPipeDir)
	}
	if opts.MPSPipeDir != "" {
		if fi, err := os.Stat(opts.MPSPipeDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("localexec: the MPS pipe directory %s is not a directory (is the MPS control daemon running?)", opts.MPSPipeDir)
		}
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("localexec: state dir: %w", err)
	}
	// Nothing the server inherited (a terminal, a socket) may leak into a
	// task: every descriptor beyond stdio is closed on exec from now on.
	_ = unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	e := &Executor{
		opts:   opts,
		log:    opts.Logger.With("driver", Name),
		root:   os.Geteuid() == 0,
		tasks:  map[string]*task{},
		uids:   map[int]string{},
		kick:   make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	if opts.Sandbox == SandboxBwrap {
		var err error
		if e.bwrap, err = findBwrap(opts.BwrapPath); err != nil {
			return nil, fmt.Errorf("localexec: cannot sandbox tasks: %w", err)
		}
		e.version = bwrapVersion(e.bwrap)
		e.sys = scanSystemPaths(opts.ReadOnlyPaths)
		e.etcDir = filepath.Join(opts.StateDir, "etc")
		if err := os.MkdirAll(e.etcDir, 0o700); err != nil {
			return nil, fmt.Errorf("localexec: %w", err)
		}
		for name, content := range sandboxFiles() {
			if err := os.WriteFile(filepath.Join(e.etcDir, name), []byte(content), 0o600); err != nil {
				return nil, fmt.Errorf("localexec: %w", err)
			}
		}
		if e.root {
			// bubblewrap binds the operator's read-only paths as the task's
			// user: it must reach them, as it must working directories.
			for _, p := range opts.ReadOnlyPaths {
				if err := e.ensureSearchable(p); err != nil {
					return nil, fmt.Errorf("localexec: cannot sandbox tasks: read-only path %s: %s", p, atelier.ErrorMessage(err))
				}
			}
		}
		if err := e.probeSandbox(ctx); err != nil {
			return nil, fmt.Errorf("localexec: cannot sandbox tasks with %s: %w", e.bwrap, err)
		}
	}
	e.wg.Add(1)
	go e.loop()
	return e, nil
}

func bwrapVersion(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "bubblewrap"
	}
	return strings.TrimSpace(string(out))
}

// Name implements driver.Driver.
func (e *Executor) Name() string { return Name }

// Capabilities implements driver.Driver.
func (e *Executor) Capabilities() driver.Capabilities {
	iso := driver.IsolationNamespaces
	if e.opts.Sandbox == SandboxNone {
		iso = driver.IsolationNone
	}
	return driver.Capabilities{
		Batch: true, LongRunning: true, Gang: true, Ports: true, GPUs: true,
		SharedFS: !e.opts.NoSharedFS, Recover: true,
		MemoryLimit: true, CPULimit: e.opts.CgroupDir != "", ProcessLimit: e.opts.Sandbox == SandboxBwrap || e.opts.CgroupDir != "",
		Isolation: iso,
	}
}

// Fingerprint implements driver.Driver.
func (e *Executor) Fingerprint(ctx context.Context) (*driver.Fingerprint, error) {
	attrs := map[string]string{"sandbox": SandboxNone}
	if e.opts.Sandbox == SandboxBwrap {
		attrs["sandbox"] = e.version
	}
	if e.root {
		attrs["task_users"] = fmt.Sprintf("%d-%d", e.opts.UIDBase+1, e.opts.UIDBase+e.opts.UIDCount-1)
	}
	if e.opts.CgroupDir != "" {
		attrs["cgroup"] = e.opts.CgroupDir
	}
	return &driver.Fingerprint{CPUs: e.opts.CPUs, MemoryMB: e.opts.MemoryMB, GPUs: slices.Clone(e.opts.GPUs), Attributes: attrs}, nil
}

// Close stops the watch loop; workers keep running. The goroutines that
// reap workers this process started end when those workers do.
func (e *Executor) Close() error {
	e.closeOnce.Do(func() { close(e.closed) })
	e.wg.Wait()
	return nil
}

func (e *Executor) isClosed() bool {
	select {
	case <-e.closed:
		return true
	default:
		return false
	}
}

var errClosed = errors.New("localexec: driver closed")

// fileName makes a task ID safe as a file name.
func fileName(id string) string {
	var b strings.Builder
	for _, c := range []byte(id) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && b.Len() > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// taskDir is a task's state directory, <StateDir>/tasks/<id>: apart from
// the driver's own files (etc, the probe's), so that no task ID can name
// one of them.
func (e *Executor) taskDir(id string) string {
	return filepath.Join(e.opts.StateDir, "tasks", fileName(id))
}

// workDir is the host directory a task works in: its TaskConfig.Dir, or
// with NoSharedFS one of the driver's own.
func (e *Executor) workDir(c *driver.TaskConfig) string {
	if e.opts.NoSharedFS {
		// ".work": fileName never starts a task's name with a dot.
		return filepath.Join(e.opts.StateDir, ".work", fileName(c.ID))
	}
	return c.Dir
}

func logPath(dir string, rank int) string {
	return filepath.Join(dir, fmt.Sprintf("worker-%d.log", rank))
}

func statusPath(dir string, rank int) string {
	return filepath.Join(dir, fmt.Sprintf("worker-%d.status", rank))
}

func (e *Executor) validate(cfg *driver.TaskConfig) error {
	inv := atelier.CodeInvalidParam
	switch {
	case cfg == nil:
		return inv.Errorf("The task is required.")
	case cfg.ID == "":
		return inv.Errorf("The task ID must not be empty.").WithField("id")
	case cfg.Workers < 1:
		return inv.Errorf("workers must be at least 1.").WithField("workers")
	case len(cfg.Command) == 0 || cfg.Command[0] == "":
		return inv.Errorf("command must not be empty.").WithField("command")
	case cfg.Resources.CPU < 0 || cfg.Resources.MemoryBytes < 0:
		return inv.Errorf("cpu and memory must not be negative.")
	case len(cfg.WorkerGPUs) > 0 && len(cfg.WorkerGPUs) != cfg.Workers:
		return inv.Errorf("The GPU placement names %d workers, not %d.", len(cfg.WorkerGPUs), cfg.Workers).WithField("gpus")
	}
	if e.opts.NoSharedFS {
		// The task gets a directory of its own at this path.
		if !filepath.IsAbs(cfg.Dir) || filepath.Clean(cfg.Dir) == "/" {
			return inv.Errorf("The working directory must be an absolute path below /.").WithField("dir")
		}
	} else if fi, err := os.Stat(cfg.Dir); !filepath.IsAbs(cfg.Dir) || err != nil || !fi.IsDir() {
		return inv.Errorf("The working directory must be an existing absolute directory.").WithField("dir")
	}
	for i, m := range cfg.Mounts {
		if fi, err := os.Stat(m.Source); !filepath.IsAbs(m.Source) || err != nil || !fi.IsDir() {
			return inv.Errorf("mounts[%d].source must be an existing absolute directory.", i).WithField("mounts")
		}
		if !filepath.IsAbs(m.Target) || filepath.Clean(m.Target) == "/" {
			return inv.Errorf("mounts[%d].target must be an absolute path below /.", i).WithField("mounts")
		}
	}
	return nil
}

// StartTask implements driver.Driver: it starts every worker at once.
func (e *Executor) StartTask(ctx context.Context, cfg *driver.TaskConfig) (*driver.TaskHandle, error) {
	if err := e.validate(cfg); err != nil {
		return nil, err
	}
	c := *cfg
	c.Kind = cmp.Or(c.Kind, driver.KindBatch)
	c.Limits.Processes = cmp.Or(c.Limits.Processes, e.opts.Limits.Processes)
	c.Limits.OpenFiles = cmp.Or(c.Limits.OpenFiles, e.opts.Limits.OpenFiles)
	c.Limits.TmpBytes = cmp.Or(c.Limits.TmpBytes, e.opts.Limits.TmpBytes)
	data, err := json.Marshal(handleData{Dir: e.taskDir(c.ID)})
	if err != nil {
		return nil, err
	}
	h := &driver.TaskHandle{Driver: Name, Version: handleVersion, ID: c.ID, Data: data}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return nil, errClosed
	}
	if _, ok := e.tasks[c.ID]; ok {
		return nil, atelier.CodeInvalidParam.Errorf("The task ID %q is already in use.", c.ID).WithField("id")
	}
	t := &task{dir: e.taskDir(c.ID), done: make(chan struct{}), failed: -1}
	t.st = state{Config: c, State: stStarting, UID: -1}
	// A task that was never started (its server died first) may have left
	// a directory: start from an empty one.
	if err := os.RemoveAll(t.dir); err != nil {
		return nil, fmt.Errorf("localexec: start: %w", err)
	}
	if err := os.MkdirAll(t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("localexec: start: %w", err)
	}
	if err := e.prepare(t); err != nil {
		_ = os.RemoveAll(t.dir)
		return nil, err
	}
	// Not synced: until the workers are recorded below (synced) none of
	// them can run, and without this file RecoverTask says the task never
	// started, which is true.
	if err := t.write(false); err != nil {
		e.freeUID(t)
		_ = os.RemoveAll(t.dir)
		return nil, fmt.Errorf("localexec: start: %w", err)
	}
	e.tasks[c.ID] = t
	e.launch(t)
	return h, nil
}

// handleData is TaskHandle.Data.
type handleData struct {
	Dir string `json:"dir"` // the task's state directory
}

// prepare picks the task's host user and ports and gives the user its
// working directory. Caller holds mu. On an error it leaves no user
// taken.
func (e *Executor) prepare(t *task) (err error) {
	c := &t.st.Config
	defer func() {
		if err != nil {
			e.freeUID(t)
		}
	}()
	work := e.workDir(c)
	if e.opts.NoSharedFS {
		// Empty, like a fresh node's: nothing of an earlier start stays.
		if err := os.RemoveAll(work); err != nil {
			return fmt.Errorf("localexec: work dir: %w", err)
		}
		if err := os.MkdirAll(work, 0o750); err != nil {
			return fmt.Errorf("localexec: work dir: %w", err)
		}
	}
	if e.root && e.opts.Sandbox == SandboxBwrap {
		uid, ok := e.allocUID(c.ID)
		if !ok {
			return fmt.Errorf("localexec: all %d task users are in use", e.opts.UIDCount-1)
		}
		t.st.UID = uid
		// bubblewrap reaches every directory as the task's user; the user
		// owns what it may write.
		reach, own := []string{work}, []string{work}
		for _, m := range c.Mounts {
			reach = append(reach, m.Source)
			if !m.ReadOnly {
				own = append(own, m.Source)
			}
		}
		for _, d := range reach {
			if err := e.ensureSearchable(d); err != nil {
				return err
			}
		}
		for _, d := range own {
			if err := chownTree(d, uid, uid); err != nil {
				return fmt.Errorf("localexec: give the task its directory: %w", err)
			}
		}
	}
	port, err := freePort()
	if err != nil {
		return fmt.Errorf("localexec: master port: %w", err)
	}
	t.st.MasterPort = port
	if len(c.Ports) > 0 {
		t.st.Ports = make([][]int, c.Workers)
		for w := range c.Workers {
			for range c.Ports {
				p, err := freePort()
				if err != nil {
					return fmt.Errorf("localexec: port: %w", err)
				}
				t.st.Ports[w] = append(t.st.Ports[w], p)
			}
		}
	}
	return nil
}

// allocUID picks a task user that neither this driver nor any process on
// the machine uses (another server's tasks, a task of this one still
// dying), starting at a place derived from the task ID, so that drivers on
// one machine rarely even try the same user. Caller holds mu.
func (e *Executor) allocUID(id string) (int, bool) {
	busy := hostUIDs(e.opts.UIDBase+1, e.opts.UIDBase+e.opts.UIDCount)
	n := e.opts.UIDCount - 1
	h := fnv.New32a()
	h.Write([]byte(id))
	start := int(h.Sum32() % uint32(n))
	for i := range n {
		uid := e.opts.UIDBase + 1 + (start+i)%n
		if _, used := e.uids[uid]; used || busy[uid] {
			continue
		}
		e.uids[uid] = id
		return uid, true
	}
	return 0, false
}

// hostUIDs returns the users in [lo, hi) that own a process.
func hostUIDs(lo, hi int) map[int]bool {
	out := map[int]bool{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, ent := range ents {
		if c := ent.Name()[0]; c < '0' || c > '9' {
			continue
		}
		fi, err := os.Stat("/proc/" + ent.Name())
		if err != nil {
			continue
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) >= lo && int(st.Uid) < hi {
			out[int(st.Uid)] = true
		}
	}
	return out
}

// freeUID gives t's user back. Caller holds mu.
func (e *Executor) freeUID(t *task) {
	if t.st.UID > 0 && e.uids[t.st.UID] == t.st.Config.ID {
		delete(e.uids, t.st.UID)
	}
}

// ensureSearchable makes sure the task users can reach dir: bubblewrap
// opens it as the task's user, so every directory above it must be
// searchable by the tasks' group (Options.UIDBase). One below
// Options.SearchRoots (the server's own) is given that group with g+x;
// one above them (the data directory's parents, e.g. /root) gets a POSIX
// ACL entry letting only that group search it (setfacl -m g:GID:x), which
// the log records. Where neither works, it is an error saying what to do.
func (e *Executor) ensureSearchable(dir string) error {
	gid := e.opts.UIDBase
	for p := filepath.Dir(filepath.Clean(dir)); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localexec: %w", err)
		}
		if !groupMaySearch(p, fi, gid) {
			if err := e.letSearch(p, fi, gid); err != nil {
				return err
			}
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

// letSearch lets group gid search directory p.
func (e *Executor) letSearch(p string, fi os.FileInfo, gid int) error {
	if e.underSearchRoot(p) {
		if err := os.Chown(p, -1, gid); err != nil {
			return fmt.Errorf("localexec: %w", err)
		}
		if err := os.Chmod(p, fi.Mode().Perm()|0o010); err != nil {
			return fmt.Errorf("localexec: %w", err)
		}
		return nil
	}
	if err := grantGroupSearch(p, fi, gid); err != nil {
		e.log.Warn("cannot let task users reach their working directories", "dir", p, "err", err)
		return atelier.CodeInvalidParam.Errorf("The working directory is not reachable by task users: %s is not searchable.", p).WithField("dir")
	}
	e.log.Info("let the task users' group search a directory above the working directories (POSIX ACL)", "dir", p, "acl", fmt.Sprintf("g:%d:x", gid), "undo", fmt.Sprintf("setfacl -x g:%d %s", gid, p))
	return nil
}

func (e *Executor) underSearchRoot(p string) bool {
	for _, r := range e.opts.SearchRoots {
		r = filepath.Clean(r)
		if p == r || strings.HasPrefix(p, r+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

// chownTree gives every file under dir (links themselves, not their
// targets) to uid:gid.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// launch starts every worker of t, gated, records their process groups,
// then opens the gates. Caller holds mu.
func (e *Executor) launch(t *task) {
	c := &t.st.Config
	now := e.opts.Clock.Now()
	t.st.StartedAt = now
	t.ws = make([]*worker, c.Workers)
	gates := make([]*os.File, 0, c.Workers)
	defer func() {
		for _, g := range gates {
			g.Close()
		}
	}()
	for rank := range c.Workers {
		w, gate, err := e.spawn(t, rank)
		if err != nil {
			e.log.Error("start worker", "task", c.ID, "worker", rank, "err", err)
			t.startErr = fmt.Sprintf("worker-%d could not be started", rank)
			for i := range c.Workers {
				if i >= rank {
					t.ws[i] = &worker{ended: true, code: -1, noExit: true}
				} else {
					kill(t.ws[i].pid, syscall.SIGKILL)
				}
			}
			t.st.PIDs = pids(t.ws)
			t.st.State = stRunning
			t.killAt, t.termed = now, true
			if err := t.save(); err != nil {
				e.log.Error("save task state", "task", c.ID, "err", err)
			}
			e.poke()
			return // the gates close unopened: started workers exit 125
		}
		t.ws[rank] = w
		gates = append(gates, gate)
	}
	t.st.PIDs = pids(t.ws)
	t.st.State = stRunning
	if err := t.save(); err != nil {
		// Without the state a restarted server could not find the
		// workers: do not let them run.
		e.log.Error("save task state", "task", c.ID, "err", err)
		for _, w := range t.ws {
			kill(w.pid, syscall.SIGKILL)
		}
		t.startErr = "the task's state could not be recorded"
		t.killAt, t.termed = now, true
		e.poke()
		return
	}
	for rank, w := range t.ws {
		if len(t.st.Cgroups) > rank {
			if err := os.WriteFile(filepath.Join(t.st.Cgroups[rank], "cgroup.procs"), []byte(strconv.Itoa(w.pid)), 0); err != nil {
				e.log.Error("join cgroup", "task", c.ID, "worker", rank, "err", err)
			}
		}
	}
	for _, g := range gates {
		if _, err := g.Write([]byte("go\n")); err != nil {
			e.log.Error("open worker gate", "task", c.ID, "err", err)
		}
	}
	e.log.Info("task started", "task", c.ID, "tenant", c.Tenant, "workers", c.Workers, "uid", t.st.UID)
}

func pids(ws []*worker) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		if w != nil {
			out[i] = w.pid
		}
	}
	return out
}

// The gate of a worker: it waits for "go" on fd 4 and then runs the
// worker. gateExec replaces itself with the sandbox (bubblewrap writes the
// exit status to fd 3); gateSupervise, without a sandbox, stays to write
// it.
const (
	gateExec      = `IFS= read -r g <&4; [ "$g" = go ] || exit 125; exec 4<&-; exec "$@"`
	gateSupervise = `IFS= read -r g <&4; [ "$g" = go ] || exit 125; exec 4<&-; "$@" 3>&-; c=$?; printf '{ "exit-code": %d }\n' "$c" >&3; exit "$c"`
)

// spawn starts worker rank of t behind its gate and returns the gate's
// write end. Caller holds mu.
func (e *Executor) spawn(t *task, rank int) (*worker, *os.File, error) {
	c := &t.st.Config
	if e.opts.CgroupDir != "" {
		cg, err := e.makeCgroup(c, rank)
		if err != nil {
			return nil, nil, err
		}
		t.st.Cgroups = append(t.st.Cgroups, cg)
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	open := func(path string, flag int) (*os.File, error) {
		f, err := os.OpenFile(path, flag, 0o600)
		if err == nil {
			files = append(files, f)
		}
		return f, err
	}
	logf, err := open(logPath(t.dir, rank), os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND)
	if err != nil {
		return nil, nil, err
	}
	statf, err := open(statusPath(t.dir, rank), os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return nil, nil, err
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	files = append(files, gateR)
	extra := []*os.File{statf, gateR}

	limits := []string{
		"--nproc=" + strconv.FormatUint(clampLimit(unix.RLIMIT_NPROC, uint64(c.Limits.Processes)), 10),
		"--nofile=" + strconv.FormatUint(clampLimit(unix.RLIMIT_NOFILE, uint64(c.Limits.OpenFiles)), 10),
	}
	if c.Resources.MemoryBytes > 0 && e.opts.CgroupDir == "" {
		limits = append(limits, "--as="+strconv.FormatInt(c.Resources.MemoryBytes, 10))
	}
	prlimit := append([]string{"prlimit"}, limits...)
	var args []string
	if e.opts.Sandbox == SandboxBwrap {
		var gpuIdx []int
		mpsDir := ""
		if rank < len(c.WorkerGPUs) {
			for _, g := range c.WorkerGPUs[rank] {
				gpuIdx = append(gpuIdx, g.Index)
			}
			if len(gpuIdx) > 0 {
				mpsDir = e.opts.MPSPipeDir
			}
		}
		mounts := make([]mountArg, 0, len(c.Mounts))
		for _, m := range c.Mounts {
			mounts = append(mounts, mountArg{source: m.Source, target: m.Target, readOnly: m.ReadOnly})
		}
		// The sandbox's /etc/passwd, group and hostname come as data on
		// fds 5, 6, 7, so that the task user need not reach the state dir.
		for _, name := range etcNames {
			f, err := open(filepath.Join(e.etcDir, name), os.O_RDONLY)
			if err != nil {
				gateW.Close()
				return nil, nil, err
			}
			extra = append(extra, f)
		}
		args = slices.Concat([]string{"-c", gateExec, "sh"}, prlimit, []string{"--", e.bwrap},
			e.sandboxArgs(e.workDir(c), c.Dir, mounts, c.Limits.TmpBytes, gpuDevices(gpuIdx), mpsDir), []string{"--"}, c.Command)
	} else {
		args = slices.Concat([]string{"-c", gateSupervise, "sh"}, prlimit, []string{"--"}, c.Command)
	}
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = e.workDir(c)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = extra
	cmd.Env = e.workerEnv(t, rank)
	uid, gid := -1, -1
	if t.st.UID > 0 {
		uid, gid = t.st.UID, t.st.UID
	}
	cmd.SysProcAttr = e.sysProcAttr(uid, gid)
	if err := cmd.Start(); err != nil {
		gateW.Close()
		return nil, nil, err
	}
	w := &worker{pid: cmd.Process.Pid, reaped: make(chan struct{})}
	go func() {
		// Reap the worker's leader (no zombies) and tell the loop at once.
		_ = cmd.Wait()
		close(w.reaped)
		e.poke()
	}()
	return w, gateW, nil
}

// clampLimit lowers v to the server's own hard limit of resource res: a
// task user may not raise it beyond that.
func clampLimit(res int, v uint64) uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(res, &rl); err == nil && rl.Max != unix.RLIM_INFINITY && rl.Max < v {
		return rl.Max
	}
	return v
}

// etcNames are the sandbox's own /etc files, in the order of fds 5, 6, 7.
var etcNames = []string{"passwd", "group", "hostname"}

// sysProcAttr starts a worker in a session of its own (so it is its own
// process group and has no controlling terminal) as uid:gid (when ≥ 0),
// with the tasks' group for reaching its working directory.
func (e *Executor) sysProcAttr(uid, gid int) *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setsid: true}
	if uid >= 0 {
		a.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(e.opts.UIDBase)}}
	}
	return a
}

// workerEnv is the whole environment of worker rank: the documented
// variables (docs/training.md) and the task's own, nothing of the
// server's.
func (e *Executor) workerEnv(t *task, rank int) []string {
	c := &t.st.Config
	env := map[string]string{
		"PATH": taskPATH, "HOME": c.Dir, "LANG": "C.UTF-8", "TMPDIR": "/tmp",
		"PYTHONUNBUFFERED": "1", "USER": "atelier", "LOGNAME": "atelier",
	}
	for k, v := range c.Env {
		env[k] = v
	}
	n, master, p := strconv.Itoa(c.Workers), "127.0.0.1", strconv.Itoa(t.st.MasterPort)
	r := strconv.Itoa(rank)
	for k, v := range map[string]string{
		"RANK": r, "LOCAL_RANK": r, "WORLD_SIZE": n, "LOCAL_WORLD_SIZE": n,
		"NODE_RANK": "0", "GROUP_RANK": "0", "MASTER_ADDR": master, "MASTER_PORT": p,
		"PET_NPROC_PER_NODE": n, "PET_NNODES": "1", "PET_NODE_RANK": "0",
		"PET_MASTER_ADDR": master, "PET_MASTER_PORT": p,
	} {
		env[k] = v
	}
	if rank < len(t.st.Ports) {
		for i, name := range c.Ports {
			port := strconv.Itoa(t.st.Ports[rank][i])
			if i == 0 {
				env["PORT"] = port
			}
			env["PORT_"+strings.ToUpper(envName(name))] = port
		}
	}
	if rank < len(c.WorkerGPUs) {
		maps.Copy(env, driver.GPUEnv(c.WorkerGPUs[rank], e.opts.MPSPipeDir))
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// envName keeps letters, digits and '_' of a port name.
func envName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

func (e *Executor) makeCgroup(c *driver.TaskConfig, rank int) (string, error) {
	dir := filepath.Join(e.opts.CgroupDir, fmt.Sprintf("%s-w%d", fileName(c.ID), rank))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	write := func(file, v string) error {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(v), 0); err != nil {
			return fmt.Errorf("cgroup %s: %w", file, err)
		}
		return nil
	}
	if c.Resources.MemoryBytes > 0 {
		if err := write("memory.max", strconv.FormatInt(c.Resources.MemoryBytes, 10)); err != nil {
			return "", err
		}
	}
	if c.Resources.CPU > 0 {
		const period = 100000
		if err := write("cpu.max", fmt.Sprintf("%d %d", int64(c.Resources.CPU*period), period)); err != nil {
			return "", err
		}
	}
	if c.Limits.Processes > 0 {
		if err := write("pids.max", strconv.Itoa(c.Limits.Processes)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// oomKilled reports whether the kernel killed a process of cgroup dir for
// memory.
func oomKilled(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "memory.events"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), " "); ok && k == "oom_kill" && v != "0" {
			return true
		}
	}
	return false
}

// poke wakes the watch loop.
func (e *Executor) poke() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

func (e *Executor) loop() {
	defer e.wg.Done()
	tick, stop := e.opts.Clock.NewTicker(e.opts.PollInterval)
	defer stop()
	for {
		select {
		case <-e.closed:
			return
		case <-tick:
		case <-e.kick:
		}
		e.mu.Lock()
		if !e.isClosed() {
			now := e.opts.Clock.Now()
			for _, t := range e.tasks {
				if t.st.State == stRunning {
					e.check(t, now)
				}
			}
		}
		e.mu.Unlock()
	}
}

// check moves a running task on: notes exits, fails the gang on the first
// failed worker, enforces a stop and its grace, finishes the task when
// every worker has ended. Caller holds mu.
func (e *Executor) check(t *task, now time.Time) {
	for rank, w := range t.ws {
		if w.ended {
			continue
		}
		observe(t.dir, rank, w)
		if w.ended && w.code != 0 && !t.st.Stop && t.failed < 0 {
			t.failed = rank
			e.log.Info("worker failed", "task", t.st.Config.ID, "worker", rank, "code", w.code)
		}
	}
	if !t.termed && (t.st.Stop || t.failed >= 0) {
		t.termed = true
		if t.killAt.IsZero() {
			t.killAt = now.Add(e.opts.Grace)
		}
		for _, w := range t.ws {
			if !w.ended {
				kill(w.pid, syscall.SIGTERM)
			}
		}
	}
	allEnded := true
	for _, w := range t.ws {
		if !w.ended {
			allEnded = false
			if t.termed && !now.Before(t.killAt) {
				kill(w.pid, syscall.SIGKILL)
			}
		}
	}
	if !allEnded {
		return
	}
	for _, w := range t.ws {
		// Leftovers of a worker that exited (background children) go with
		// it; a sandbox's go with its PID namespace anyway.
		kill(w.pid, syscall.SIGKILL)
	}
	e.finish(t, now, e.exitResult(t))
}

// observe notes whether worker rank has ended.
func observe(dir string, rank int, w *worker) {
	if w.pid == 0 { // never started
		w.ended, w.code, w.noExit = true, -1, true
		return
	}
	// Liveness first: an exit status written before the group emptied is
	// then read below.
	alive := groupAlive(w.pid, w.reaped)
	if code, ok := readStatus(statusPath(dir, rank)); ok {
		w.ended, w.code = true, code
		return
	}
	if !alive {
		w.ended, w.code, w.noExit = true, -1, true
	}
}

// readStatus reads the exit code from a worker's status file: JSON
// documents, one of which has "exit-code" once the command has ended.
func readStatus(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	for {
		var doc struct {
			ExitCode *int `json:"exit-code"`
		}
		if err := dec.Decode(&doc); err != nil {
			return 0, false
		}
		if doc.ExitCode != nil {
			return *doc.ExitCode, true
		}
	}
}

// exitResult says how t ended. Caller holds mu.
func (e *Executor) exitResult(t *task) *driver.ExitResult {
	switch {
	case t.startErr != "":
		return &driver.ExitResult{Kind: driver.ExitStartFailed, Code: -1, Worker: -1, Message: t.startErr}
	case t.st.Stop:
		return &driver.ExitResult{Kind: driver.ExitStopped, Code: -1, Worker: -1}
	case t.failed < 0:
		return &driver.ExitResult{Kind: driver.ExitCompleted, Worker: -1}
	}
	rank := t.failed
	w := t.ws[rank]
	res := &driver.ExitResult{Kind: driver.ExitFailed, Code: w.code, Worker: rank}
	switch {
	case len(t.st.Cgroups) > rank && oomKilled(t.st.Cgroups[rank]):
		res.Kind, res.Code = driver.ExitOOMKilled, -1
		res.Message = fmt.Sprintf("worker-%d was killed for using more memory than its limit", rank)
	case w.noExit:
		res.Kind, res.Code, res.Signal = driver.ExitSignaled, -1, int(syscall.SIGKILL)
		res.Message = fmt.Sprintf("worker-%d was killed", rank)
	case w.code > 128 && w.code <= 128+64:
		res.Kind, res.Code, res.Signal = driver.ExitSignaled, -1, w.code-128
		res.Message = fmt.Sprintf("worker-%d was killed by signal %d", rank, w.code-128)
	default:
		res.Message = fmt.Sprintf("worker-%d exited with code %d", rank, w.code)
	}
	if tail := logTail(logPath(t.dir, rank)); tail != "" {
		res.Message += ": " + tail
	}
	return res
}

// finish records t's end. Caller holds mu.
func (e *Executor) finish(t *task, now time.Time, exit *driver.ExitResult) {
	t.st.State = stExited
	t.st.FinishedAt = now
	t.st.Exit = exit
	// Not synced: lost, the exit is read again from the status files.
	if err := t.write(false); err != nil {
		e.log.Error("save task state", "task", t.st.Config.ID, "err", err)
	}
	for _, cg := range t.st.Cgroups {
		_ = os.Remove(cg)
	}
	if e.opts.NoSharedFS {
		// Like a pod's scratch space, the directory goes with the task.
		if err := os.RemoveAll(e.workDir(&t.st.Config)); err != nil {
			e.log.Warn("remove work dir", "task", t.st.Config.ID, "err", err)
		}
	}
	e.freeUID(t)
	close(t.done)
	e.log.Info("task exited", "task", t.st.Config.ID, "kind", exit.Kind, "code", exit.Code)
}

func (e *Executor) lookup(h *driver.TaskHandle) (*task, error) {
	if h == nil || h.Driver != Name {
		return nil, driver.ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tasks[h.ID]
	if !ok {
		return nil, driver.ErrNotFound
	}
	return t, nil
}

// InspectTask implements driver.Driver; a long-running task's readiness
// is probed on each call.
func (e *Executor) InspectTask(ctx context.Context, h *driver.TaskHandle) (*driver.TaskStatus, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	st := t.status()
	ports := t.st.Ports
	probe := t.st.Config.Readiness
	kind := t.st.Config.Kind
	e.mu.Unlock()
	if st.State != driver.TaskRunning {
		return st, nil
	}
	st.Ready = true
	if kind == driver.KindService {
		for _, wp := range ports {
			if len(wp) == 0 || !probeReady(ctx, wp[0], probe) {
				st.Ready = false
				break
			}
		}
	}
	return st, nil
}

func (t *task) status() *driver.TaskStatus {
	st := &driver.TaskStatus{State: driver.TaskRunning, StartedAt: t.st.StartedAt}
	for w, ps := range t.st.Ports {
		for i, p := range ps {
			st.Endpoints = append(st.Endpoints, driver.Endpoint{Worker: w, Name: t.st.Config.Ports[i], Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p))})
		}
	}
	if t.st.State == stExited {
		st.State, st.FinishedAt, st.Endpoints = driver.TaskExited, t.st.FinishedAt, nil
		if t.st.Exit != nil {
			x := *t.st.Exit
			st.Exit = &x
		}
	}
	return st
}

// probeReady checks a worker's first port: an HTTP GET of the probe's
// path answering 2xx, or a TCP connect.
func probeReady(ctx context.Context, port int, p *driver.Probe) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if p == nil || p.HTTPPath == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+p.HTTPPath, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// WaitTask implements driver.Driver.
func (e *Executor) WaitTask(ctx context.Context, h *driver.TaskHandle) (*driver.TaskStatus, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		e.mu.Lock()
		defer e.mu.Unlock()
		return t.status(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.closed:
		return nil, fmt.Errorf("localexec: wait: %w", errClosed)
	}
}

// StopTask implements driver.Driver.
func (e *Executor) StopTask(ctx context.Context, h *driver.TaskHandle, grace time.Duration) error {
	t, err := e.lookup(h)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if t.st.State != stRunning {
		return nil
	}
	now := e.opts.Clock.Now()
	if !t.st.Stop {
		t.st.Stop = true
		if err := t.save(); err != nil {
			return fmt.Errorf("localexec: stop: %w", err)
		}
	}
	if kill := now.Add(max(grace, 0)); t.killAt.IsZero() || kill.Before(t.killAt) {
		t.killAt = kill
	}
	t.termed = false // SIGTERM now, even if a failure already sent one
	e.check(t, now)
	e.poke()
	return nil
}

// TaskLogs implements driver.Driver.
func (e *Executor) TaskLogs(ctx context.Context, h *driver.TaskHandle, worker int, offset int64, follow bool) (io.ReadCloser, error) {
	t, err := e.lookup(h)
	if err != nil {
		return nil, err
	}
	if worker < 0 || worker >= t.st.Config.Workers {
		return nil, atelier.CodeInvalidParam.Errorf("worker must be between 0 and %d.", t.st.Config.Workers-1).WithField("worker")
	}
	if offset < 0 {
		return nil, atelier.CodeInvalidParam.Errorf("offset must not be negative.").WithField("offset")
	}
	r := &logReader{ctx: ctx, e: e, t: t, path: logPath(t.dir, worker), off: offset, follow: follow}
	if err := r.open(); err != nil {
		return nil, fmt.Errorf("localexec: logs: %w", err)
	}
	return r, nil
}

// RecoverTask implements driver.Driver. A running task is watched again,
// its exits read from the status files. It returns ErrLost when no worker
// of a running task is alive any more and at least one left no exit code
// (the machine rebooted, or someone killed the whole process group),
// unless a stop had been asked for: then the task exits as stopped. A task
// whose workers' gates never opened (the server died while starting it)
// never ran: ErrNotFound.
func (e *Executor) RecoverTask(ctx context.Context, h *driver.TaskHandle) error {
	if h == nil || h.Driver != Name || (len(h.Data) > 0 && h.Version != handleVersion) {
		return driver.ErrNotFound
	}
	dir := e.taskDir(h.ID)
	b, err := os.ReadFile(filepath.Join(dir, "task.json"))
	if errors.Is(err, os.ErrNotExist) {
		return driver.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("localexec: recover: %w", err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("localexec: recover: state file: %w", err)
	}
	if st.Config.ID != h.ID {
		return driver.ErrNotFound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.isClosed() {
		return errClosed
	}
	if _, ok := e.tasks[h.ID]; ok {
		return nil
	}
	t := &task{st: st, dir: dir, done: make(chan struct{}), failed: -1}
	switch st.State {
	case stStarting:
		_ = os.RemoveAll(dir)
		return driver.ErrNotFound
	case stExited:
		close(t.done)
		e.tasks[h.ID] = t
		return nil
	case stRunning:
	default:
		return fmt.Errorf("localexec: recover: unknown state %q", st.State)
	}
	t.ws = make([]*worker, st.Config.Workers)
	anyAlive, allExit, anyRan := false, true, false
	for rank := range t.ws {
		w := &worker{}
		if rank < len(st.PIDs) {
			w.pid = st.PIDs[rank]
		}
		probe := *w // check below records the exits and failures
		observe(dir, rank, &probe)
		anyAlive = anyAlive || !probe.ended
		allExit = allExit && !probe.noExit
		anyRan = anyRan || !probe.ended || probe.code != exitGateRefused
		t.ws[rank] = w
	}
	if !anyAlive && !anyRan {
		_ = os.RemoveAll(dir)
		return driver.ErrNotFound
	}
	if !anyAlive && !allExit && !st.Stop {
		return fmt.Errorf("localexec: recover %s: workers ended without an exit code: %w", h.ID, driver.ErrLost)
	}
	if st.UID > 0 {
		e.uids[st.UID] = h.ID
	}
	e.tasks[h.ID] = t
	e.check(t, e.opts.Clock.Now())
	e.log.Info("task recovered", "task", h.ID, "state", t.st.State)
	return nil
}

// DestroyTask implements driver.Driver.
func (e *Executor) DestroyTask(ctx context.Context, h *driver.TaskHandle) error {
	if h == nil || h.Driver != Name {
		return nil
	}
	e.mu.Lock()
	t := e.tasks[h.ID]
	if t != nil {
		if t.st.State == stRunning {
			for _, w := range t.ws {
				kill(w.pid, syscall.SIGKILL)
			}
			t.st.Stop = true
			e.finish(t, e.opts.Clock.Now(), &driver.ExitResult{Kind: driver.ExitStopped, Code: -1, Worker: -1})
		}
		delete(e.tasks, h.ID)
	}
	e.mu.Unlock()
	if e.opts.NoSharedFS {
		if err := os.RemoveAll(e.workDir(&driver.TaskConfig{ID: h.ID})); err != nil {
			return fmt.Errorf("localexec: destroy: %w", err)
		}
	}
	if err := os.RemoveAll(e.taskDir(h.ID)); err != nil {
		return fmt.Errorf("localexec: destroy: %w", err)
	}
	return nil
}

// save writes the state file atomically and durably.
func (t *task) save() error { return t.write(true) }

// write writes the state file atomically, synced when sync is set.
func (t *task) write(sync bool) error {
	b, err := json.Marshal(&t.st)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(t.dir, "task.json"), b, 0o600, sync)
}
