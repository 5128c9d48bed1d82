package localexec

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseCgroup(t *testing.T) {
	for _, tc := range []struct {
		name, cgroup, mountinfo, want, err string
	}{
		{"unified", "0::/system.slice/atelier.service\n",
			"25 1 0:22 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/system.slice/atelier.service", ""},
		{"hybrid, like this CI machine", "4:memory:/x\n0::/\n",
			"30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n31 25 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup/unified", ""},
		{"namespace root", "0::/kubepods/pod1/c1\n",
			"40 1 0:30 /kubepods/pod1/c1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n", "/sys/fs/cgroup", ""},
		{"escaped mount point", "0::/a\n",
			`41 1 0:31 / /mnt/cg\040two rw - cgroup2 cgroup2 rw` + "\n", "/mnt/cg two/a", ""},
		{"legacy only", "4:memory:/x\n", "30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw\n", "", "not in a cgroup v2"},
		{"not mounted", "0::/a\n", "30 25 0:26 / /proc rw - proc proc rw\n", "", "no cgroup2"},
		{"outside the mount root", "0::/other\n", "40 1 0:30 /mine /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "", "outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files := CgroupFiles{Cgroup: filepath.Join(dir, "cgroup"), Mountinfo: filepath.Join(dir, "mountinfo")}
			os.WriteFile(files.Cgroup, []byte(tc.cgroup), 0o600)
			os.WriteFile(files.Mountinfo, []byte(tc.mountinfo), 0o600)
			got, err := ownCgroupDir(files)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("ownCgroupDir = %q, %v; want an error with %q", got, err, tc.err)
			case tc.err == "" && (err != nil || got != tc.want):
				t.Errorf("ownCgroupDir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestDetectCgroupPrepares walks DetectCgroup over a directory laid out
// like a delegated cgroup v2 directory. The kernel's rules (only leaves
// hold processes once controllers are delegated) are not checked here:
// this machine has no delegated hierarchy; see the note in docs/workloads.md.
func TestDetectCgroupPrepares(t *testing.T) {
	root := t.TempDir()
	own := filepath.Join(root, "svc")
	os.MkdirAll(own, 0o755)
	os.WriteFile(filepath.Join(own, "cgroup.controllers"), []byte("cpuset cpu io memory pids\n"), 0o644)
	os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), nil, 0o644)
	files := CgroupFiles{Cgroup: filepath.Join(root, "self-cgroup"), Mountinfo: filepath.Join(root, "mountinfo")}
	os.WriteFile(files.Cgroup, []byte("0::/svc\n"), 0o600)
	os.WriteFile(files.Mountinfo, []byte("25 1 0:22 / "+root+" rw - cgroup2 cgroup2 rw\n"), 0o600)
	dir, why := DetectCgroup(files)
	if dir != filepath.Join(own, "atelier-tasks") || why != "" {
		t.Fatalf("DetectCgroup = %q, %q", dir, why)
	}
	for file, want := range map[string]string{
		filepath.Join(own, "atelier-server", "cgroup.procs"): strconv.Itoa(os.Getpid()),
		filepath.Join(own, "cgroup.subtree_control"):         "+memory +pids +cpu",
		filepath.Join(dir, "cgroup.subtree_control"):         "+memory +pids +cpu",
	} {
		if b, err := os.ReadFile(file); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", file, b, err, want)
		}
	}
	// A second start finds the prepared directory.
	os.WriteFile(filepath.Join(dir, "cgroup.subtree_control"), []byte("memory pids cpu\n"), 0o644)
	if again, why := DetectCgroup(files); again != dir || why != "" {
		t.Errorf("second DetectCgroup = %q, %q", again, why)
	}
	// Without the memory controller there is nothing to use.
	os.WriteFile(filepath.Join(own, "cgroup.controllers"), []byte("cpu pids\n"), 0o644)
	os.RemoveAll(dir)
	if d, why := DetectCgroup(files); d != "" || !strings.Contains(why, "memory") {
		t.Errorf("DetectCgroup without memory = %q, %q", d, why)
	}
}

// TestDetectCgroupHere: where nothing is delegated (this machine: cgroup
// v1 controllers, an empty unified hierarchy) DetectCgroup says why and
// changes nothing; where a hierarchy is delegated, the directory it
// returns is ready for task cgroups.
func TestDetectCgroupHere(t *testing.T) {
	dir, why := DetectCgroup(CgroupFiles{})
	if dir == "" {
		if why == "" {
			t.Error("no reason given")
		}
		return
	}
	sub, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil || !hasAll(string(sub), cgroupControllers) {
		t.Errorf("delegated %s enables %q (%v) for its children, want %v", dir, sub, err, cgroupControllers)
	}
}
