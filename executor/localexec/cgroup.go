package localexec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// CgroupFiles are where DetectCgroup reads the process's cgroup and the
// mounts; tests point them at fixtures.
type CgroupFiles struct {
	Cgroup    string // default /proc/self/cgroup
	Mountinfo string // default /proc/self/mountinfo
}

// cgroupControllers are the controllers a task cgroup needs; cpu is used
// when present.
var cgroupControllers = []string{"memory", "pids"}

// DetectCgroup finds the cgroup v2 directory the server runs in and, when
// it is delegated to the server (writable, with the memory and pids
// controllers), prepares it for task cgroups: the server moves itself
// into a leaf "atelier-server" (cgroup v2 lets only leaves hold processes
// once controllers are enabled for children), enables the controllers for
// children, and makes "atelier-tasks" with the same controllers, whose
// path it returns. Where there is no such hierarchy it returns "" and
// says why; nothing is changed then. It is what Options.CgroupDir is when
// the operator names none (systemd's Delegate=yes, a container with its
// own cgroup namespace).
func DetectCgroup(files CgroupFiles) (dir, why string) {
	files.Cgroup = cmpOr(files.Cgroup, "/proc/self/cgroup")
	files.Mountinfo = cmpOr(files.Mountinfo, "/proc/self/mountinfo")
	own, err := ownCgroupDir(files)
	if err != nil {
		return "", err.Error()
	}
	ctrl, err := os.ReadFile(filepath.Join(own, "cgroup.controllers"))
	if err != nil {
		return "", fmt.Sprintf("cgroup %s: %v", own, err)
	}
	have := strings.Fields(string(ctrl))
	for _, c := range cgroupControllers {
		if !slices.Contains(have, c) {
			return "", fmt.Sprintf("cgroup %s has no %s controller to delegate", own, c)
		}
	}
	if unix.Access(own, unix.W_OK) != nil || unix.Access(filepath.Join(own, "cgroup.subtree_control"), unix.W_OK) != nil {
		return "", fmt.Sprintf("cgroup %s is not delegated to the server (not writable)", own)
	}
	enable := "+" + strings.Join(cgroupControllers, " +")
	if slices.Contains(have, "cpu") {
		enable += " +cpu"
	}
	tasks := filepath.Join(own, "atelier-tasks")
	if sub, err := os.ReadFile(filepath.Join(tasks, "cgroup.subtree_control")); err == nil && hasAll(string(sub), cgroupControllers) {
		return tasks, "" // prepared by a previous start
	}
	server := filepath.Join(own, "atelier-server")
	if err := os.MkdirAll(server, 0o755); err != nil {
		return "", fmt.Sprintf("cgroup %s: %v", server, err)
	}
	// Move the whole process (every thread) into the leaf.
	if err := os.WriteFile(filepath.Join(server, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return "", fmt.Sprintf("moving the server into %s: %v", server, err)
	}
	if err := os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte(enable), 0); err != nil {
		return "", fmt.Sprintf("enabling %s for the children of %s (does another process share its cgroup?): %v", enable, own, err)
	}
	if err := os.MkdirAll(tasks, 0o755); err != nil {
		return "", fmt.Sprintf("cgroup %s: %v", tasks, err)
	}
	if err := os.WriteFile(filepath.Join(tasks, "cgroup.subtree_control"), []byte(enable), 0); err != nil {
		return "", fmt.Sprintf("enabling %s for the children of %s: %v", enable, tasks, err)
	}
	return tasks, ""
}

func hasAll(fields string, want []string) bool {
	f := strings.Fields(fields)
	for _, w := range want {
		if !slices.Contains(f, w) {
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ownCgroupDir returns the directory of the process's cgroup v2: its
// "0::<path>" line in /proc/self/cgroup below the cgroup2 mount (taking
// the mount's root within the hierarchy into account, as in a cgroup
// namespace).
func ownCgroupDir(files CgroupFiles) (string, error) {
	cg, err := os.Open(files.Cgroup)
	if err != nil {
		return "", err
	}
	defer cg.Close()
	path, err := parseCgroupV2(cg)
	if err != nil {
		return "", err
	}
	mi, err := os.Open(files.Mountinfo)
	if err != nil {
		return "", err
	}
	defer mi.Close()
	mount, root, err := parseCgroup2Mount(mi)
	if err != nil {
		return "", err
	}
	rel := path
	if root != "/" {
		var ok bool
		if rel, ok = strings.CutPrefix(path, root); !ok {
			return "", fmt.Errorf("the cgroup %s is outside the cgroup2 mount's root %s", path, root)
		}
	}
	return filepath.Join(mount, filepath.FromSlash(rel)), nil
}

var errNoCgroupV2 = errors.New("the server is not in a cgroup v2 hierarchy (a legacy or hybrid cgroup setup)")

// parseCgroupV2 returns the path of the "0::" line of /proc/self/cgroup.
func parseCgroupV2(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok && strings.HasPrefix(p, "/") {
			return p, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errNoCgroupV2
}

// parseCgroup2Mount returns the mount point and the root within the
// hierarchy of the cgroup2 file system in /proc/self/mountinfo. Its lines
// are: id parent major:minor root mountpoint options [optional…] - fstype
// source superoptions.
func parseCgroup2Mount(r io.Reader) (mount, root string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := slices.Index(f, "-")
		if sep < 5 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		return unescapeMount(f[4]), unescapeMount(f[3]), nil
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	return "", "", errors.New("no cgroup2 file system is mounted")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
