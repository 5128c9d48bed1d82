package atelier_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	{[]string{"./serving", "./serving/pyruntime"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/obs", module + "/httpapi", module + "/executor/localexec", module + "/executor/fakeexec", module + "/executor/gpu", module + "/executor/executortest", module + "/training", "gocloud.dev"}},
	{[]string{"./dataset", "./dataset/format"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/obs", module + "/httpapi", module + "/training", "gocloud.dev"}},
	// webhook POSTs callbacks (net/http is its outer edge, like sender/smssender's) but stays clear of SQL and the HTTP API.
	{[]string{"./webhook"}, []string{"database/sql", "os/exec", module + "/store/", module + "/httpapi", module + "/identity", module + "/training", "gocloud.dev"}},
	// queue runs background work on the store; domain packages use it, so it stays clear of net/http (its metrics are in queue/queuemetrics).
	{[]string{"./queue"}, []string{"net/http", "database/sql", "os/exec", module + "/store/", module + "/httpapi", module + "/identity", module + "/dataset", module + "/training", module + "/webhook", "gocloud.dev"}},
	// The functions' scaling logic and cost simulator are pure: time comes in as arguments.
	{[]string{"./function/autoscale", "./function/keepalive"}, []string{"<non-stdlib>"}},
	{[]string{"./function/sim"}, []string{"net/http", "database/sql", "os/exec", module + "/store", module + "/httpapi", module + "/executor", module + "/workload", module + "/serving", "gocloud.dev"}},
	{[]string{"./internal/startstop"}, []string{"<non-stdlib>"}},
	{[]string{"./internal/jsonschema"}, []string{"<non-stdlib>"}},
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

// typedPackage is a package of the module, parsed and type-checked from its
// non-test files.
type typedPackage struct {
	path  string
	fset  *token.FileSet
	files map[string]*ast.File // by path relative to the module root
	info  *types.Info
}

// loadTyped type-checks the module's packages for which keep(import path,
// transitive dependencies) is true. Their imports come from the export data
// that `go list -export` builds (from the build cache once built).
func loadTyped(t *testing.T, keep func(path string, deps []string) bool) []*typedPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-export", "-f", "{{.ImportPath}}\t{{.Export}}", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("go list -export: %v", err)
	}
	exports := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if path, file, ok := strings.Cut(strings.TrimSpace(line), "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	out, err = exec.Command("go", "list", "-f",
		"{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}\t{{join .CgoFiles \" \"}}\t{{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	var pkgs []*typedPackage
	for line := range strings.Lines(string(out)) {
		f := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(f) != 5 || !keep(f[0], strings.Fields(f[4])) {
			continue
		}
		if f[3] != "" {
			t.Fatalf("%s has cgo files, which this check cannot type-check", f[0])
		}
		p := &typedPackage{path: f[0], fset: token.NewFileSet(), files: map[string]*ast.File{}, info: &types.Info{
			Uses: map[*ast.Ident]types.Object{}, Selections: map[*ast.SelectorExpr]*types.Selection{},
		}}
		var files []*ast.File
		for _, name := range strings.Fields(f[2]) {
			file, err := parser.ParseFile(p.fset, filepath.Join(f[1], name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			rel, err := filepath.Rel(root, filepath.Join(f[1], name))
			if err != nil {
				t.Fatal(err)
			}
			p.files[filepath.ToSlash(rel)] = file
			files = append(files, file)
		}
		conf := types.Config{Importer: importer.ForCompiler(p.fset, "gc", func(path string) (io.ReadCloser, error) {
			file, ok := exports[path]
			if !ok {
				return nil, fmt.Errorf("no export data for %s", path)
			}
			return os.Open(file)
		})}
		if _, err := conf.Check(p.path, p.fset, files, p.info); err != nil {
			t.Fatalf("type-check %s: %v", p.path, err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// eventWriters are the store methods that change a user, an organization
// or a job version (its state), each with the one file allowed to call
// them: its domain's helper, which appends the change's outbox event in the
// change's transaction (docs/events.md, "Delivery: outbox, dispatcher,
// guarantees").
var eventWriters = map[string]string{
	"CreateUser":    "identity/event.go",
	"UpdateUser":    "identity/event.go",
	"DeleteUser":    "identity/event.go",
	"CreateOrg":     "identity/event.go",
	"UpdateOrg":     "identity/event.go",
	"DeleteOrg":     "identity/event.go",
	"CreateJob":     "training/event.go",
	"CreateVersion": "training/event.go",
	"UpdateVersion": "training/event.go",
	"CreateModel":   "serving/model.go",
	"UpdateModel":   "serving/model.go",
	"CreateService": "serving/service.go",
	"UpdateService": "serving/service.go",
}

// TestStoreWritesOfEvents fails when code other than the domain's helper
// calls (or takes as a value) one of the eventWriters, on any store type,
// so that no code path can change a user, an organization or a job
// version without its event. The store's own packages and tests are exempt.
func TestStoreWritesOfEvents(t *testing.T) {
	pkgs := loadTyped(t, func(path string, deps []string) bool {
		return !strings.HasPrefix(path+"/", module+"/store/") && slices.Contains(deps, module+"/store")
	})
	if len(pkgs) == 0 {
		t.Fatal("no package uses the store")
	}
	for _, p := range pkgs {
		for name, f := range p.files {
			ast.Inspect(f, func(n ast.Node) bool {
				x, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				sel := p.info.Selections[x]
				if sel == nil || sel.Obj().Pkg() == nil || !strings.HasPrefix(sel.Obj().Pkg().Path()+"/", module+"/store/") {
					return true
				}
				if allowed, ok := eventWriters[sel.Obj().Name()]; ok && name != allowed {
					t.Errorf("%s: calls the store's %s, which only %s may call (with the change's event)",
						p.fset.Position(x.Pos()), sel.Obj().Name(), allowed)
				}
				return true
			})
		}
	}
}

// TestStoreReadsNoClock fails when a store backend's non-test code reads
// the clock (time.Now, Since, Until): every time it stores comes from its
// caller's injected clock.
func TestStoreReadsNoClock(t *testing.T) {
	backends := []string{module + "/store/sqlstore", module + "/store/sqlitestore", module + "/store/pgstore"}
	pkgs := loadTyped(t, func(path string, _ []string) bool { return slices.Contains(backends, path) })
	if len(pkgs) != len(backends) {
		t.Fatalf("found %d of the %d store backends", len(pkgs), len(backends))
	}
	for _, p := range pkgs {
		for id, obj := range p.info.Uses {
			if fn, ok := obj.(*types.Func); ok && fn.Pkg() != nil && fn.Pkg().Path() == "time" &&
				(fn.Name() == "Now" || fn.Name() == "Since" || fn.Name() == "Until") {
				t.Errorf("%s: %s reads the clock (time.%s); take the time from the caller", p.fset.Position(id.Pos()), p.path, fn.Name())
			}
		}
	}
}
