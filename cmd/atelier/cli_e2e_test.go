package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
	sdk "github.com/atelier-dev/atelier/sdk/go/atelier"
)

// e2eCLI runs the CLI against a real server and checks exit statuses.
type e2eCLI struct{ t *testing.T }

// run runs `atelier args…` with stdin and fails the test unless it exits
// with want; it returns stdout and stderr.
func (c e2eCLI) run(want int, stdin string, args ...string) (stdout, stderr string) {
	c.t.Helper()
	code, out, errOut := runCLI(c.t, stdin, args...)
	if code != want {
		c.t.Fatalf("atelier %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// json runs a command that must succeed and decodes its stdout into v.
func (c e2eCLI) json(v any, args ...string) {
	c.t.Helper()
	out, _ := c.run(exitOK, "", args...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("atelier %s: stdout is not JSON (%v): %q", strings.Join(args, " "), err, out)
	}
}

// refused runs a command that the API must refuse (exit 1) and returns
// its stderr, which must name code.
func (c e2eCLI) refused(code string, args ...string) string {
	c.t.Helper()
	_, errOut := c.run(exitRefused, "", args...)
	if !strings.Contains(errOut, code) {
		c.t.Errorf("atelier %s: stderr %q does not name %s", strings.Join(args, " "), errOut, code)
	}
	return errOut
}

// e2eList is the JSON of `obs ls -o json` under a prefix.
type e2eList struct {
	Bucket         string   `json:"bucket"`
	Prefix         string   `json:"prefix"`
	Delimiter      string   `json:"delimiter"`
	CommonPrefixes []string `json:"common_prefixes"`
	Objects        []struct {
		Key    string `json:"key"`
		Size   int64  `json:"size"`
		ETag   string `json:"etag"`
		SHA256 string `json:"sha256"`
	} `json:"objects"`
}

// sizes maps each listed key to its size, failing on a key listed twice.
func (l e2eList) sizes(t *testing.T) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	for _, o := range l.Objects {
		if _, dup := m[o.Key]; dup {
			t.Errorf("key %q listed twice", o.Key)
		}
		m[o.Key] = o.Size
	}
	return m
}

// writeTree creates files (slash-separated names) and empty directories
// under root.
func writeTree(t *testing.T, root string, files map[string][]byte, emptyDirs ...string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range emptyDirs {
		if err := os.MkdirAll(filepath.Join(root, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// readTree returns every regular file under root by slash-separated name,
// and every directory that holds nothing.
func readTree(t *testing.T, root string) (files map[string][]byte, emptyDirs []string) {
	t.Helper()
	files = map[string][]byte{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			ents, err := os.ReadDir(path)
			if err != nil {
				return err
			}
			if len(ents) == 0 {
				emptyDirs = append(emptyDirs, rel)
			}
		case d.Type().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files[rel] = data
		default:
			t.Errorf("%s is neither a file nor a directory (%v)", rel, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, emptyDirs
}

// TestCLIE2E drives the CLI against a real server in the same process, as
// the README's tour does: log in, make a bucket, copy a tree in, list,
// stat, copy on the server, copy the tree back out, remove; then API keys,
// another tenant, logout and the exit statuses.
func TestCLIE2E(t *testing.T) {
	home := mustIsolate(t)
	ts := MustStartServer(t, t.TempDir())
	cli := e2eCLI{t: t}

	// Log in; later commands take the endpoint from the credentials file.
	out, _ := cli.run(exitOK, testAdminPassword+"\n", "login", "--endpoint", ts.URL, "--email", testAdminEmail, "--password-stdin")
	if !strings.Contains(out, testAdminEmail) {
		t.Errorf("login printed %q", out)
	}
	credPath := filepath.Join(home, "config", "atelier", "credentials")
	if p, err := sdk.CredentialsPath(); err != nil || p != credPath {
		t.Fatalf("CredentialsPath = %q, %v; want %q", p, err, credPath)
	}
	if fi, err := os.Stat(credPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file after login: %v, %v; want mode 0600", fi, err)
	}
	if strings.Contains(readFile(t, credPath), testAdminPassword) {
		t.Error("the credentials file holds the password")
	}

	var version map[string]any
	cli.json(&version, "version", "-o", "json")
	for _, k := range []string{"version", "commit", "sdk", "go", "os", "arch"} {
		if version[k] == "" || version[k] == nil {
			t.Errorf("version -o json lacks %q: %v", k, version)
		}
	}

	cli.run(exitOK, "", "obs", "mb", "obs://demo")
	cli.refused("ATL.OBS.0004", "obs", "mb", "obs://demo")

	// A tree with nesting, empty directories, non-ASCII names, an empty
	// file and a few MiB of an odd size.
	src := filepath.Join(t.TempDir(), "tree")
	big := make([]byte, 3<<20+12345)
	for i := range big {
		big[i] = byte(i*7 + i>>13)
	}
	files := map[string][]byte{
		"a/b/c.txt":          []byte("hello"),
		"a/b/d/e.md":         []byte("# e\n"),
		"a/ünï cødé.txt":     []byte("名前\n"),
		"日本語/ファイル.txt":       []byte("内容"),
		"zero.bin":           {},
		"big/x.bin":          big,
		"big/nested/y.bin":   bytes.Repeat([]byte{0}, 4096),
		"top level file.txt": []byte("spaces survive"),
	}
	writeTree(t, src, files, "empty", "a/b/also-empty")

	// The destination of a directory must be a directory: a usage error,
	// refused before anything is sent.
	cli.run(exitUsage, "", "obs", "cp", "-r", src, "obs://demo/no-slash")
	cli.run(exitUsage, "", "obs", "cp", src, "obs://demo/in/") // a directory needs -r
	var sum transferSummary
	cli.json(&sum, "obs", "cp", "-r", src, "obs://demo/in/", "-o", "json")
	var total int64
	for _, data := range files {
		total += int64(len(data))
	}
	if sum.Files != len(files) || sum.Bytes != total {
		t.Errorf("upload summary %+v, want %d files, %d bytes", sum, len(files), total)
	}

	// Recursive listing: every key with its size, nothing more, in byte
	// order.
	var list e2eList
	cli.json(&list, "obs", "ls", "obs://demo/in/", "-r", "-o", "json")
	want := map[string]int64{}
	for name, data := range files {
		want["in/tree/"+name] = int64(len(data))
	}
	if got := list.sizes(t); !maps.Equal(got, want) {
		t.Errorf("ls -r -o json listed\n%v\nwant\n%v", got, want)
	}
	keys := make([]string, 0, len(list.Objects))
	for _, o := range list.Objects {
		keys = append(keys, o.Key)
	}
	if !slices.IsSorted(keys) {
		t.Errorf("keys not in byte order: %q", keys)
	}
	if list.Bucket != "demo" || list.Prefix != "in/" || list.Delimiter != "" {
		t.Errorf("listing header: bucket %q prefix %q delimiter %q", list.Bucket, list.Prefix, list.Delimiter)
	}

	// One level: the subdirectories come back as common prefixes, the
	// files of the level as objects; nothing deeper.
	var level e2eList
	cli.json(&level, "obs", "ls", "obs://demo/in/tree/", "-o", "json")
	wantPrefixes := []string{"in/tree/a/", "in/tree/big/", "in/tree/日本語/"}
	if !slices.Equal(level.CommonPrefixes, wantPrefixes) || level.Delimiter != "/" {
		t.Errorf("one-level common prefixes %q (delimiter %q), want %q", level.CommonPrefixes, level.Delimiter, wantPrefixes)
	}
	if got := level.sizes(t); !maps.Equal(got, map[string]int64{"in/tree/top level file.txt": int64(len(files["top level file.txt"])), "in/tree/zero.bin": 0}) {
		t.Errorf("one-level objects %v", got)
	}
	out, _ = cli.run(exitOK, "", "obs", "ls", "obs://demo/in/tree/")
	for _, line := range []string{"DIR\tobs://demo/in/tree/a/", "DIR\tobs://demo/in/tree/日本語/", "0\tobs://demo/in/tree/zero.bin"} {
		if !strings.Contains(strings.Join(strings.Fields(out), "\t"), strings.Join(strings.Fields(line), "\t")) {
			t.Errorf("one-level listing lacks %q:\n%s", line, out)
		}
	}
	if strings.Contains(out, "c.txt") {
		t.Errorf("one-level listing went deeper:\n%s", out)
	}

	// stat: size and both digests of the big file.
	var st struct {
		Bucket, Key  string
		Size         int64
		ETag         string `json:"etag"`
		SHA256       string `json:"sha256"`
		ContentType  string `json:"content_type"`
		LastModified string `json:"last_modified"`
	}
	cli.json(&st, "obs", "stat", "obs://demo/in/tree/big/x.bin", "-o", "json")
	md5sum, shasum := md5.Sum(big), sha256.Sum256(big)
	if st.Bucket != "demo" || st.Key != "in/tree/big/x.bin" || st.Size != int64(len(big)) ||
		st.ETag != hex.EncodeToString(md5sum[:]) || st.SHA256 != hex.EncodeToString(shasum[:]) || st.LastModified == "" {
		t.Errorf("stat -o json: %+v", st)
	}
	out, _ = cli.run(exitOK, "", "obs", "stat", "obs://demo/in/tree/big/x.bin")
	if !strings.Contains(out, strconv.Itoa(len(big))) || !strings.Contains(out, st.SHA256) {
		t.Errorf("stat:\n%s", out)
	}
	cli.refused("ATL.OBS.0006", "obs", "stat", "obs://demo/in/tree/missing")

	// Server-side copies: one object into a directory, then a directory.
	cli.run(exitOK, "", "obs", "cp", "obs://demo/in/tree/a/ünï cødé.txt", "obs://demo/copy/")
	cli.run(exitOK, "", "obs", "cp", "-r", "obs://demo/in/tree/big/", "obs://demo/copy/")
	var copied e2eList
	cli.json(&copied, "obs", "ls", "obs://demo/copy/", "-r", "-o", "json")
	wantCopied := map[string]int64{"copy/ünï cødé.txt": int64(len(files["a/ünï cødé.txt"])), "copy/big/x.bin": int64(len(big)), "copy/big/nested/y.bin": 4096}
	if got := copied.sizes(t); !maps.Equal(got, wantCopied) {
		t.Errorf("server-side copies listed %v, want %v", got, wantCopied)
	}
	one := filepath.Join(t.TempDir(), "one.txt")
	cli.run(exitOK, "", "obs", "cp", "obs://demo/copy/ünï cødé.txt", one)
	if got := readFile(t, one); got != string(files["a/ünï cødé.txt"]) {
		t.Errorf("the copied object reads %q", got)
	}

	// Download the tree and compare it byte for byte; empty directories
	// are not created.
	dst := t.TempDir()
	cli.run(exitOK, "", "obs", "cp", "-r", "obs://demo/in/tree/", dst+"/")
	gotFiles, emptyDirs := readTree(t, filepath.Join(dst, "tree"))
	if !maps.EqualFunc(gotFiles, files, bytes.Equal) {
		t.Errorf("the downloaded tree differs: got %d files %q", len(gotFiles), slices.Sorted(maps.Keys(gotFiles)))
	}
	if len(emptyDirs) != 0 {
		t.Errorf("the download created empty directories %q", emptyDirs)
	}

	// An API refusal exits 1 with the API's code; rm -r then rb works.
	cli.refused("ATL.OBS.0005", "obs", "rb", "obs://demo")
	cli.refused("ATL.OBS.0003", "obs", "ls", "obs://nobucket/")
	var rm map[string]int
	cli.json(&rm, "obs", "rm", "-r", "obs://demo/", "-o", "json")
	if rm["deleted"] != len(files)+len(wantCopied) {
		t.Errorf("rm -r deleted %v, want %d", rm, len(files)+len(wantCopied))
	}
	var left e2eList
	cli.json(&left, "obs", "ls", "obs://demo/", "-r", "-o", "json")
	if len(left.Objects) != 0 {
		t.Errorf("objects left after rm -r: %v", left.sizes(t))
	}
	cli.run(exitOK, "", "obs", "rb", "obs://demo")
	var buckets struct {
		Buckets []struct{ Name string } `json:"buckets"`
	}
	cli.json(&buckets, "obs", "ls", "-o", "json")
	if len(buckets.Buckets) != 0 {
		t.Errorf("buckets after rb: %+v", buckets.Buckets)
	}

	// Another tenant's bucket is not visible, and its name is free here.
	res, err := ts.identity.Login(context.Background(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: testAdminEmail, Password: testAdminPassword})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := ts.identity.Authenticate(context.Background(), res.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	adminCtx := atelier.NewContextWithPrincipal(context.Background(), admin)
	other, err := ts.identity.CreateTenant(adminCtx, "other", nil)
	if err != nil {
		t.Fatal(err)
	}
	bobEmail, bobPassword := "bob@other.example", "another long passphrase 42"
	if _, err := ts.identity.CreateUser(adminCtx, other.ID, atelier.UserSpec{Email: &bobEmail, Password: &bobPassword}); err != nil {
		t.Fatal(err)
	}
	cli.run(exitOK, bobPassword+"\n", "login", "--email", bobEmail, "--password-stdin")
	cli.run(exitOK, "", "obs", "mb", "obs://secret")
	cli.run(exitOK, "", "obs", "cp", filepath.Join(src, "a", "b", "c.txt"), "obs://secret/c.txt")
	cli.run(exitOK, testAdminPassword+"\n", "login", "--email", testAdminEmail, "--password-stdin")
	cli.json(&buckets, "obs", "ls", "-o", "json")
	if len(buckets.Buckets) != 0 {
		t.Errorf("the admin sees another tenant's buckets: %+v", buckets.Buckets)
	}
	cli.refused("ATL.OBS.0003", "obs", "ls", "obs://secret/")
	cli.refused("ATL.OBS.0006", "obs", "stat", "obs://secret/c.txt") // HEAD: no body to name the bucket
	cli.refused("ATL.OBS.0003", "obs", "cp", "obs://secret/c.txt", filepath.Join(t.TempDir(), "stolen"))
	cli.run(exitOK, "", "obs", "mb", "obs://secret")
	cli.run(exitOK, "", "obs", "rb", "obs://secret")

	// API keys: create, log in with the pair, delete, and its token dies.
	var key struct {
		AccessKey string `json:"access_key"`
		SecretKey string `json:"secret_key"`
	}
	cli.json(&key, "apikey", "create", "--description", "ci", "-o", "json")
	if key.AccessKey == "" || key.SecretKey == "" {
		t.Fatalf("apikey create -o json: %+v", key)
	}
	cli.run(exitOK, "", "login", "--access-key", key.AccessKey, "--secret-key", key.SecretKey)
	cli.run(exitOK, "", "obs", "ls")
	var keyList struct {
		APIKeys []struct {
			AccessKey string `json:"access_key"`
			SecretKey string `json:"secret_key"`
		} `json:"api_keys"`
	}
	cli.json(&keyList, "apikey", "list", "-o", "json")
	if len(keyList.APIKeys) != 1 || keyList.APIKeys[0].AccessKey != key.AccessKey || keyList.APIKeys[0].SecretKey != "" {
		t.Errorf("apikey list: %+v", keyList)
	}
	cli.run(exitOK, "", "apikey", "delete", key.AccessKey)
	cli.refused("ATL.AUTH.0002", "obs", "ls")
	cli.refused("ATL.AUTH.0003", "login", "--access-key", key.AccessKey, "--secret-key", key.SecretKey)

	// logout revokes the token and removes it from the file; then a
	// command says to log in again, and sends nothing.
	cli.run(exitOK, testAdminPassword+"\n", "login", "--email", testAdminEmail, "--password-stdin")
	creds, err := sdk.LoadCredentials()
	if err != nil || creds.Token == "" {
		t.Fatalf("LoadCredentials: %+v, %v", creds, err)
	}
	cli.run(exitOK, "", "logout")
	if strings.Contains(readFile(t, credPath), creds.Token) {
		t.Errorf("the token survived logout in the credentials file")
	}
	_, msg := cli.run(exitRefused, "", "obs", "ls")
	if want := "not logged in to " + ts.URL + "; run atelier login\n"; !strings.HasSuffix(msg, want) {
		t.Errorf("after logout: %q, want %q", msg, want)
	}
	t.Setenv(sdk.EnvToken, creds.Token)
	cli.refused("ATL.AUTH.0002", "obs", "ls", "--endpoint", ts.URL)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
