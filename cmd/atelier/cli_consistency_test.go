package main

import (
	"encoding/json"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// walk calls fn on every command under root, root included.
func walk(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

// TestVerbAliases: apikey and job used list/delete while the other nouns
// used ls/rm. Every noun now names them ls and rm, and takes list and delete
// as well.
func TestVerbAliases(t *testing.T) {
	root := newRootCommand()
	pairs := map[string]string{"ls": "list", "list": "ls", "rm": "delete", "delete": "rm"}
	seen := 0
	walk(root, func(c *cobra.Command) {
		alt, ok := pairs[c.Name()]
		if !ok || c.Parent() == nil {
			return
		}
		seen++
		if c.Name() == "list" || c.Name() == "delete" {
			t.Errorf("%s: the verb is named %q; name it %q (with %q as an alias) like the other nouns", c.CommandPath(), c.Name(), alt, c.Name())
		}
		path := strings.Fields(c.Parent().CommandPath())[1:]
		found, _, err := root.Find(append(path, alt))
		if err != nil || found != c {
			t.Errorf("%s: %q does not reach it (%v)", c.CommandPath(), strings.Join(append(path, alt), " "), err)
		}
	})
	if seen < 10 {
		t.Errorf("only %d ls/rm commands found", seen)
	}
	for _, args := range [][]string{{"apikey", "list"}, {"apikey", "ls"}, {"job", "list"}, {"job", "ls"}, {"job", "delete"},
		{"job", "rm"}, {"apikey", "rm"}, {"obs", "list"}, {"obs", "delete"}, {"app", "callback", "rm"}, {"profile", "list"}} {
		if c, _, err := root.Find(args); err != nil || c.Parent() == root {
			t.Errorf("atelier %s: not a command (%v)", strings.Join(args, " "), err)
		}
	}
}

// TestFlagPlaceholders: pflag takes a back-quoted word of a flag's usage as
// its placeholder, so --mfa-code showed "--mfa-code atelier login". Every
// placeholder is now one upper-case word.
func TestFlagPlaceholders(t *testing.T) {
	root := newRootCommand()
	placeholder := regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	walk(root, func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			name, _ := pflag.UnquoteUsage(f)
			if strings.Contains(f.Usage, "`") && !placeholder.MatchString(name) {
				t.Errorf("%s --%s: placeholder %q", c.CommandPath(), f.Name, name)
			}
		}
		c.LocalFlags().VisitAll(check)
	})
	code, stdout, _ := runCLI(t, "", "login", "--help")
	if code != exitOK || !strings.Contains(stdout, "--mfa-code CODE") || strings.Contains(stdout, "--mfa-code atelier") {
		t.Errorf("login --help: exit %d, the --mfa-code line is wrong:\n%s", code, stdout)
	}
}

// TestVersion: `atelier --version` and `atelier version` print the version,
// the commit and the Go version; -o json has them as fields.
func TestVersion(t *testing.T) {
	mustIsolate(t)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, stdout, stderr := runCLI(t, "", args...)
		if code != exitOK || !strings.HasPrefix(stdout, "atelier "+version) || !strings.Contains(stdout, "commit ") ||
			!strings.Contains(stdout, runtime.Version()) {
			t.Errorf("atelier %s: exit %d, %q %q", args[0], code, stdout, stderr)
		}
	}
	code, stdout, _ := runCLI(t, "", "version", "-o", "json")
	var v map[string]any
	if code != exitOK || json.Unmarshal([]byte(stdout), &v) != nil {
		t.Fatalf("version -o json: exit %d, %q", code, stdout)
	}
	for _, k := range []string{"version", "commit", "go", "sdk", "os", "arch"} {
		if _, ok := v[k]; !ok {
			t.Errorf("version -o json lacks %q: %s", k, stdout)
		}
	}
	if v["go"] != runtime.Version() {
		t.Errorf("go = %v", v["go"])
	}

	// -ldflags "-X main.commit=…" names the commit where the build has no
	// VCS stamp (go build -buildvcs=false, a tarball).
	old := commit
	commit = "0123456789abcdef0123"
	t.Cleanup(func() { commit = old })
	if code, stdout, _ := runCLI(t, "", "version"); code != exitOK || !strings.Contains(stdout, "(commit 0123456789ab,") {
		t.Errorf("version with main.commit set: exit %d, %q", code, stdout)
	}
}
