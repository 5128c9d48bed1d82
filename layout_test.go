package atelier_test

import (
	"bufio"
	"bytes"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/atelier-dev/atelier"

// layers says which imports each layer may not have, directly or
// transitively (STYLE.md, "Layout"). Test-only imports do not count.
var layers = []struct {
	pkgs   []string
	forbid []string
}{
	{[]string{"."}, []string{"<non-stdlib>"}},
	{[]string{"./store"}, []string{"database/sql", "net/http", module + "/store/"}},
	{[]string{"./identity"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/httpapi", "gocloud.dev"}},
	{[]string{"./obs"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/httpapi", "gocloud.dev"}},
	// Domain packages reach executors through the portable executor (and its
	// driver types), never a backend.
	{[]string{"./training", "./workload"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/obs", module + "/httpapi", module + "/executor/localexec", module + "/executor/fakeexec", module + "/executor/gpu", module + "/executor/executortest", "gocloud.dev"}},
	{[]string{"./dataset", "./dataset/format"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/obs", module + "/httpapi", module + "/training", "gocloud.dev"}},
	// webhook POSTs callbacks (net/http is its outer edge, like sender/smssender's) but stays clear of SQL and the HTTP API.
	{[]string{"./webhook"}, []string{"database/sql", "os/exec", module + "/store/", module + "/httpapi", module + "/identity", module + "/training", "gocloud.dev"}},
	// queue runs background work on the store; domain packages use it, so it stays clear of net/http (its metrics are in queue/queuemetrics).
	{[]string{"./queue"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/httpapi", module + "/identity", module + "/dataset", module + "/training", module + "/webhook", "gocloud.dev"}},
	{[]string{"./internal/startstop"}, []string{"<non-stdlib>"}},
	{[]string{"./gc"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/httpapi", module + "/identity", module + "/dataset", module + "/training", module + "/webhook", module + "/queue", module + "/leader", "gocloud.dev"}},
	{[]string{"./leader"}, []string{"database/sql", "os/exec", module + "/store/", module + "/httpapi", module + "/identity", module + "/dataset", module + "/training", module + "/webhook", module + "/queue", "gocloud.dev"}},
	{[]string{"./executor", "./executor/driver"}, []string{"net/http", "database/sql", "os/exec", module + "/store", module + "/executor/localexec", module + "/executor/fakeexec", module + "/executor/gpu", module + "/workload", module + "/training"}},
	{[]string{"./httpapi"}, []string{"database/sql", module + "/store", module + "/obs", module + "/identity", "gocloud.dev", "modernc.org", "github.com/jackc"}},
}

func TestImportLayers(t *testing.T) {
	for _, l := range layers {
		for _, p := range l.pkgs {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("package %s is missing", p)
				continue
			}
			out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", p).Output()
			if err != nil {
				t.Fatalf("go list %s: %v", p, err)
			}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				dep := sc.Text()
				self := strings.TrimSuffix(module+"/"+strings.TrimPrefix(p, "./"), "/.")
				if dep == "" || dep == self || dep == module {
					continue
				}
				for _, f := range l.forbid {
					if f == "<non-stdlib>" || strings.HasPrefix(dep, f) {
						t.Errorf("%s imports %s, which its layer forbids (%s)", p, dep, f)
					}
				}
			}
			if l.forbid[0] != "<non-stdlib>" {
				std, err := exec.Command("go", "list", "-deps", "-f", "{{if .Standard}}{{.ImportPath}}{{end}}", p).Output()
				if err != nil {
					t.Fatalf("go list %s: %v", p, err)
				}
				for _, dep := range strings.Fields(string(std)) {
					for _, f := range l.forbid {
						if dep == f {
							t.Errorf("%s imports %s, which its layer forbids", p, dep)
						}
					}
				}
			}
		}
	}
}

// TestPackageDocs checks that every package has a doc comment.
func TestPackageDocs(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "tmp" || name == "atelier-data") {
			return filepath.SkipDir
		}
		pkgs, err := parser.ParseDir(token.NewFileSet(), path, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, parser.ParseComments|parser.PackageClauseOnly)
		if err != nil {
			return err
		}
		for pname, pkg := range pkgs {
			documented := false
			for _, f := range pkg.Files {
				if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
					documented = true
				}
			}
			if !documented {
				t.Errorf("package %s in %s has no doc comment", pname, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
