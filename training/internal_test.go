package training

import (
	"slices"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

var replaceTests = []struct {
	in, want string
}{
	{"/home/u/data/", "/w/in0/"},
	{"/home/u/data", "/w/in0"},
	{"/home/u/data/train.csv", "/w/in0/train.csv"},
	{"/home/u/data2", "/home/u/data2"},   // another name
	{"/x/home/u/data", "/x/home/u/data"}, // inside another path
	{"/home/u/data/sub/x", "/w/sub/x"},   // the longer mapping wins
	{"a=/home/u/data,b=/home/u/out", "a=/w/in0,b=/w/out0"},
	{"python t.py --d /home/u/data --o '/home/u/out/'", "python t.py --d /w/in0 --o '/w/out0/'"},
	{"", ""},
	{"no paths here", "no paths here"},
}

var testMappings = []pathMapping{{"/home/u/data/sub", "/w/sub"}, {"/home/u/data", "/w/in0"}, {"/home/u/out", "/w/out0"}}

func TestReplacePaths(t *testing.T) {
	for _, tt := range replaceTests {
		if got := replacePaths(tt.in, testMappings); got != tt.want {
			t.Errorf("replacePaths(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzReplacePaths(f *testing.F) {
	for _, tt := range replaceTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := replacePaths(s, testMappings)
		if !strings.Contains(s, "/home/u/") && got != s {
			t.Errorf("replacePaths(%q) changed a string without a mapped path: %q", s, got)
		}
	})
}

func TestParseTask(t *testing.T) {
	for in, want := range map[string]int{"worker-0": 0, "worker-12": 12} {
		if got, ok := parseTask(in); !ok || got != want {
			t.Errorf("parseTask(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "worker-", "worker--1", "worker-01", "worker-x", "w-0", "worker-9999999"} {
		if _, ok := parseTask(in); ok {
			t.Errorf("parseTask(%q) accepted", in)
		}
	}
}

func TestRelativeBootFile(t *testing.T) {
	tests := []struct {
		code, boot, want string
	}{
		{"obs://bkt/src/", "train.py", "train.py"},
		{"obs://bkt/src/", "./sub/train.py", "sub/train.py"},
		{"/bkt/src/", "/bkt/src/pytorch_sentiment.py", "pytorch_sentiment.py"},
		{"obs://bkt/src", "obs://bkt/src/x/t.py", "x/t.py"},
		{"obs://bkt/src.zip", "t.py", "t.py"},
		{"obs://bkt/src/", "../t.py", ""},
		{"obs://bkt/src/", "/cbk/src/t.py", ""},
		{"obs://bkt/src/", "/bkt/other/t.py", ""},
		{"obs://bkt/src.zip", "/bkt/src.zip/t.py", ""},
		{"obs://bkt/src/", "a\\b.py", ""},
		{"OBS://bkt/src/", "S3://bkt/src/t.py", "t.py"},
		{"obs://bkt/src/", "/Bad_Bucket/src/t.py", ""},
	}
	for _, tt := range tests {
		got, err := relativeBootFile(tt.code, tt.boot)
		if tt.want == "" {
			if err == nil {
				t.Errorf("relativeBootFile(%q, %q) = %q, want an error", tt.code, tt.boot, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("relativeBootFile(%q, %q) = %q, %v; want %q", tt.code, tt.boot, got, err, tt.want)
		}
	}
}

func TestMergeSpec(t *testing.T) {
	v := "1"
	base := atelier.JobSpec{
		Framework: "PyTorch", CodeDir: "obs://b/c/", BootFile: "t.py", Flavor: "f", InstanceCount: 2,
		Parameters: []atelier.JobParam{{Name: "a", Value: &v}}, Inputs: []atelier.JobInput{{ObsPath: "obs://b/in/"}},
		Env: map[string]string{"A": "1"}, LogURL: "obs://b/log/",
	}
	m := mergeSpec(base, atelier.JobSpec{InstanceCount: 1, Parameters: []atelier.JobParam{}, Inputs: []atelier.JobInput{{ObsPath: "obs://b/in2/"}}})
	if m.CodeDir != base.CodeDir || m.BootFile != "t.py" || m.Flavor != "f" || m.InstanceCount != 1 || len(m.Parameters) != 0 ||
		m.Inputs[0].ObsPath != "obs://b/in2/" || m.Env["A"] != "1" || m.LogURL != base.LogURL {
		t.Errorf("merge = %+v", m)
	}
	m = mergeSpec(base, atelier.JobSpec{UserCommand: "echo"})
	if m.BootFile != "" || m.UserCommand != "echo" {
		t.Errorf("user_command did not replace the boot file: %+v", m)
	}
	m.Env["A"] = "changed"
	if base.Env["A"] != "1" {
		t.Error("merge shares the base's env map")
	}
}

func TestBuildCommand(t *testing.T) {
	val, path := "a b", "/home/u/data/x"
	spec := &atelier.JobSpec{
		BootFile:   "sub/t.py",
		Parameters: []atelier.JobParam{{Name: "msg", Value: &val}, {Name: "dist"}, {Name: "data_url", Value: &path}},
		Inputs:     []atelier.JobInput{{ObsPath: "obs://b/in/", LocalPath: "/home/u/data/"}},
	}
	l := newLayout("/w", spec)
	got := buildCommand(spec, l, "")
	want := []string{"python3", "/w/code/sub/t.py", "--msg=a b", "--dist", "--data_url=/w/inputs/0/x"}
	if !slices.Equal(got, want) {
		t.Errorf("boot command = %q, want %q", got, want)
	}
	spec.BootFile, spec.UserCommand = "", "ls /home/u/data"
	got = buildCommand(spec, l, "python3")
	want = []string{"sh", "-c", "ls /w/inputs/0", "sh", "--msg=a b", "--dist", "--data_url=/w/inputs/0/x"}
	if !slices.Equal(got, want) {
		t.Errorf("user command = %q, want %q", got, want)
	}
}
