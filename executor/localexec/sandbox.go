package localexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
)

// Sandbox modes (Options.Sandbox).
const (
	// SandboxBwrap runs every worker in bubblewrap: its own user, mount,
	// PID, IPC and UTS namespaces, no further user namespaces, and a view
	// of the filesystem holding only the system's read-only directories,
	// its working directory and mounts, a private /tmp and /dev.
	SandboxBwrap = "bwrap"
	// SandboxNone runs workers as plain processes of the server's user
	// with only the task's environment: unsafe for tenants' code
	// (ATELIER_SANDBOX=none, docs/training.md).
	SandboxNone = "none"
)

// Defaults of the sandbox.
const (
	DefaultUIDBase  = 900_000_000
	DefaultUIDCount = 65_536
	// sandboxUID is the user (and group) a task is inside its sandbox.
	sandboxUID = 1000
	// DefaultProcesses, DefaultOpenFiles and DefaultTmpBytes bound a
	// worker unless its spec says otherwise.
	DefaultProcesses = 4096
	DefaultOpenFiles = 65_536
	DefaultTmpBytes  = 1 << 30
	// taskPATH is the PATH of every task.
	taskPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

// systemPaths are the host's read-only system directories a sandbox sees
// when they exist; a symbolic link (/bin → usr/bin on merged-/usr
// systems) is recreated as the same link.
var systemPaths = []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/sys"}

// sandboxFiles are the files of the sandbox's /etc that replace the
// host's: the task's own user, and nothing of the host's accounts.
func sandboxFiles() map[string]string {
	return map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\n" +
			"atelier:x:" + strconv.Itoa(sandboxUID) + ":" + strconv.Itoa(sandboxUID) + ":Atelier task:/tmp:/bin/sh\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"group":    "root:x:0:\natelier:x:" + strconv.Itoa(sandboxUID) + ":\nnogroup:x:65534:\n",
		"hostname": "atelier-task\n",
	}
}

// findBwrap returns the bubblewrap binary, or an error saying why there
// is none.
func findBwrap(path string) (string, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("bubblewrap %s: %w", path, err)
		}
		return path, nil
	}
	p, err := exec.LookPath("bwrap")
	if err != nil {
		return "", errors.New("bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
	}
	return p, nil
}

// sandboxArgs returns bubblewrap's arguments for one worker, before
// "--" and the command. dir is the working directory, bound read-write at
// target (the same path unless Options.NoSharedFS), gpuDevs the
// /dev/nvidia* devices it may use, mpsDir (when not empty) the MPS pipe
// directory, bound read-write after the private /tmp (its default,
// /tmp/nvidia-mps, is below it).
func (e *Executor) sandboxArgs(dir, target string, mounts []mountArg, tmpBytes int64, gpuDevs []string, mpsDir string) []string {
	a := []string{
		"--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
		"--disable-userns",
		"--uid", strconv.Itoa(sandboxUID), "--gid", strconv.Itoa(sandboxUID),
		"--hostname", "atelier-task",
	}
	// An operator's path below /tmp is bound after the private /tmp,
	// which would hide it; /tmp itself stays hidden.
	late := func(p sysPath) bool { return p.extra && strings.HasPrefix(p.path, "/tmp/") }
	bindSys := func(after bool) {
		for _, p := range e.sys {
			switch {
			case late(p) != after:
			case p.link != "":
				a = append(a, "--symlink", p.link, p.path)
			default:
				a = append(a, "--ro-bind", p.path, p.path)
			}
		}
	}
	bindSys(false)
	for i, name := range etcNames {
		a = append(a, "--ro-bind-data", strconv.Itoa(5+i), "/etc/"+name)
	}
	a = append(a,
		"--proc", "/proc",
		"--dev", "/dev",
		"--size", strconv.FormatInt(tmpBytes, 10), "--tmpfs", "/tmp",
		"--dir", "/var/tmp",
	)
	bindSys(true)
	for _, d := range gpuDevs {
		a = append(a, "--dev-bind", d, d)
	}
	if mpsDir != "" {
		a = append(a, "--bind", mpsDir, mpsDir)
	}
	a = append(a, "--bind", dir, target)
	for _, m := range mounts {
		if m.readOnly {
			a = append(a, "--ro-bind", m.source, m.target)
		} else {
			a = append(a, "--bind", m.source, m.target)
		}
	}
	return append(a, "--chdir", target, "--json-status-fd", "3")
}

type mountArg struct {
	source, target string
	readOnly       bool
}

type sysPath struct {
	path  string
	link  string // target when path is a symbolic link
	extra bool   // one of Options.ReadOnlyPaths
}

// scanSystemPaths finds which system directories exist here, plus the
// operator's extra read-only paths.
func scanSystemPaths(extra []string) []sysPath {
	var out []sysPath
	for i, p := range slices.Concat(systemPaths, extra) {
		isExtra := i >= len(systemPaths)
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if t, err := os.Readlink(p); err == nil {
				out = append(out, sysPath{path: p, link: t, extra: isExtra})
			}
			continue
		}
		if slices.ContainsFunc(out, func(s sysPath) bool { return s.path == p }) {
			continue
		}
		out = append(out, sysPath{path: p, extra: isExtra})
	}
	return out
}

// gpuDevices returns the NVIDIA device nodes a worker needs for the GPUs
// with these indexes: the control devices and /dev/nvidia<N> of each.
func gpuDevices(indexes []int) []string {
	if len(indexes) == 0 {
		return nil
	}
	var out []string
	for _, d := range []string{"/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"} {
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	for _, i := range indexes {
		d := "/dev/nvidia" + strconv.Itoa(i)
		if _, err := os.Stat(d); err == nil {
			out = append(out, d)
		}
	}
	return out
}

// probeSandbox starts a trivial sandbox as the user tasks will run as,
// in a directory where tasks' working directories will be (the first of
// Options.SearchRoots), and says why it fails, if it does (no user
// namespaces, a seccomp profile that forbids them, an old bubblewrap, a
// data directory task users cannot reach).
func (e *Executor) probeSandbox(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	parent := ""
	if len(e.opts.SearchRoots) > 0 {
		parent = e.opts.SearchRoots[0]
	}
	dir, err := os.MkdirTemp(parent, ".atelier-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	uid, gid := -1, -1
	if e.root {
		uid, gid = e.opts.UIDBase+e.opts.UIDCount-1, e.opts.UIDBase+e.opts.UIDCount-1
		if err := e.ensureSearchable(dir); err != nil {
			return fmt.Errorf("%s Sandboxed tasks run as users %d-%d (group %d) and must reach their working directories: use a data directory below directories every user may search (e.g. /var/lib/atelier), or let the tasks' group through with setfacl -m g:%d:x <directory> (or chmod o+x <directory>)",
				atelier.ErrorMessage(err), e.opts.UIDBase+1, e.opts.UIDBase+e.opts.UIDCount-1, e.opts.UIDBase, e.opts.UIDBase)
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return err
		}
	}
	status, err := os.Create(filepath.Join(e.opts.StateDir, "probe.status"))
	if err != nil {
		return err
	}
	defer os.Remove(status.Name())
	defer status.Close()
	args := append(e.sandboxArgs(dir, dir, nil, 1<<20, nil, ""), "--", "/bin/sh", "-c", "echo ok")
	cmd := exec.CommandContext(ctx, e.bwrap, args...)
	cmd.Env = []string{"PATH=" + taskPATH}
	cmd.ExtraFiles = []*os.File{status, nil}
	for _, name := range etcNames {
		f, err := os.Open(filepath.Join(e.etcDir, name))
		if err != nil {
			return err
		}
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	cmd.SysProcAttr = e.sysProcAttr(uid, gid)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.TrimSpace(out.String()) != "ok" {
		msg := strings.TrimSpace(out.String())
		if msg == "" && err != nil {
			msg = err.Error()
		}
		return fmt.Errorf("a test sandbox failed: %s", msg)
	}
	return nil
}
