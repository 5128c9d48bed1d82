package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIEndToEnd drives the CLI against a real server, as the README's tour
// does: log in, make a bucket, copy a tree in and out, list, remove.
func TestCLIEndToEnd(t *testing.T) {
	mustIsolate(t)
	ts := MustStartServer(t, t.TempDir())
	cli := func(t *testing.T, wantCode int, stdin string, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, stdin, append([]string{"--endpoint", ts.URL}, args...)...)
		if code != wantCode {
			t.Fatalf("atelier %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out + errOut
	}

	cli(t, 0, testAdminPassword+"\n", "login", "--email", testAdminEmail, "--password-stdin")
	cli(t, 0, "", "obs", "mb", "obs://demo")

	// A tree with nesting, an empty directory, a non-ASCII name, an empty
	// file and a few MiB.
	src := filepath.Join(t.TempDir(), "tree")
	files := map[string][]byte{
		"a/b/c.txt":  []byte("hello"),
		"a/ünï.txt":  []byte("名前"),
		"zero.bin":   {},
		"big/x.bin":  bytes.Repeat([]byte("0123456789abcdef"), 3<<16),
		"a/b/d/e.md": []byte("# e"),
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(src, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	cli(t, 2, "", "obs", "cp", "-r", src, "obs://demo/no-slash")
	cli(t, 0, "", "obs", "cp", "-r", src, "obs://demo/in/")

	var list struct {
		Objects []struct {
			Key  string `json:"key"`
			Size int64  `json:"size"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(cli(t, 0, "", "obs", "ls", "-r", "-o", "json", "obs://demo/in/")), &list); err != nil {
		t.Fatalf("ls -o json: %v", err)
	}
	if len(list.Objects) != len(files) {
		t.Fatalf("listed %d objects, want %d: %+v", len(list.Objects), len(files), list.Objects)
	}
	for _, o := range list.Objects {
		name := strings.TrimPrefix(o.Key, "in/tree/")
		if data, ok := files[name]; !ok || int64(len(data)) != o.Size {
			t.Errorf("listed %q (%d bytes), not what was uploaded", o.Key, o.Size)
		}
	}
	if out := cli(t, 0, "", "obs", "ls", "obs://demo/in/tree/"); !strings.Contains(out, "obs://demo/in/tree/a/") {
		t.Errorf("one-level listing lacks the directory a/: %s", out)
	}

	cli(t, 0, "", "obs", "cp", "obs://demo/in/tree/a/b/c.txt", "obs://demo/copy.txt")
	if out := cli(t, 0, "", "obs", "stat", "obs://demo/copy.txt"); !strings.Contains(out, "5") {
		t.Errorf("stat of the copy: %s", out)
	}

	dst := t.TempDir()
	cli(t, 0, "", "obs", "cp", "-r", "obs://demo/in/tree/", dst+"/")
	for name, data := range files {
		got, err := os.ReadFile(filepath.Join(dst, "tree", name))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s came back different (err %v)", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "tree", "empty")); !os.IsNotExist(err) {
		t.Errorf("the empty directory was created on download (err %v)", err)
	}

	if out := cli(t, 1, "", "obs", "rb", "obs://demo"); !strings.Contains(out, "ATL.OBS.0005") {
		t.Errorf("rb of a non-empty bucket: %s", out)
	}
	cli(t, 0, "", "obs", "rm", "-r", "obs://demo/")
	cli(t, 0, "", "obs", "rb", "obs://demo")

	// API keys: create, log in with the pair, delete, and the token dies.
	var key struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	if err := json.Unmarshal([]byte(cli(t, 0, "", "apikey", "create", "--description", "ci", "-o", "json")), &key); err != nil || key.SecretKey == "" {
		t.Fatalf("apikey create -o json: %+v %v", key, err)
	}
	cli(t, 0, "", "login", "--access-key", key.AccessKey, "--secret-key", key.SecretKey)
	cli(t, 0, "", "obs", "ls")
	cli(t, 0, "", "apikey", "delete", key.AccessKey)
	if out := cli(t, 1, "", "obs", "ls"); !strings.Contains(out, "ATL.AUTH.0002") {
		t.Errorf("a token of a deleted key still works: %s", out)
	}
	cli(t, 1, "", "login", "--access-key", key.AccessKey, "--secret-key", key.SecretKey)

	cli(t, 0, testAdminPassword+"\n", "login", "--email", testAdminEmail, "--password-stdin")
	cli(t, 0, "", "logout")
	if out := cli(t, 1, "", "obs", "ls"); !strings.Contains(out, "ATL.") {
		t.Errorf("after logout: %s", out)
	}
}
