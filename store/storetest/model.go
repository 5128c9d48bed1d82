package storetest

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// MustModel registers a published model version in the tenant's default
// workspace, created at at, with size bytes.
func MustModel(t testing.TB, s store.Store, tenantID, name, version string, size int64, at time.Time) *atelier.Model {
	t.Helper()
	m := newModel(tenantID, atelier.DefaultWorkspace, name, version, size, at)
	must(t, s.CreateModel(ctxFor(t), m), "CreateModel "+name+" "+version)
	return m
}

func newModel(tenantID, workspaceID, name, version string, size int64, at time.Time) *atelier.Model {
	return &atelier.Model{ID: atelier.NewID(), TenantID: tenantID, WorkspaceID: workspaceID, Name: name,
		Version: version, SourceLocation: "/models/" + name + "/", ModelType: "PyTorch", Status: atelier.ModelPublished,
		Handler: "python", Size: size, CreatedAt: at, UpdatedAt: at}
}

// fullModel sets every field of a Model.
func fullModel(tenantID string) *atelier.Model {
	return &atelier.Model{
		ID: atelier.NewID(), TenantID: tenantID, WorkspaceID: atelier.DefaultWorkspace,
		Name: "digit", Version: "0.0.1", Description: "Handwritten Digits",
		SourceLocation: "/models/digit/", SourceJobID: "job1", SourceJobVersion: "V0001",
		ModelType: "PyTorch", Runtime: "python3.9", ExecutionCode: "/models/digit/customize_service.py",
		InputParams:  json.RawMessage(`[{"url":"/","param_name":"images","param_type":"file"}]`),
		OutputParams: json.RawMessage(`[{"url":"/","param_name":"result","param_type":"string"}]`),
		Dependencies: json.RawMessage(`[{"installer":"pip","packages":[{"package_name":"numpy"}]}]`),
		APIs:         json.RawMessage(`[{"protocol":"http","url":"/","method":"post"}]`),
		Status:       atelier.ModelFailed, Reason: "no handler", Handler: "command", Size: 1 << 40,
		Digest: "sha256:abc", Owner: "user1",
		CreatedAt: epoch.Add(time.Nanosecond), UpdatedAt: epoch.Add(time.Second + time.Nanosecond),
	}
}

func modelIDs(ms []*atelier.Model) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID
	}
	return out
}

func testWorkspaces(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	def := &atelier.Workspace{ID: atelier.DefaultWorkspace, TenantID: t1.ID, Name: "default", CreatedAt: t1.CreatedAt}
	got, err := s.GetWorkspace(ctx, t1.ID, atelier.DefaultWorkspace)
	must(t, err, "GetWorkspace(0)")
	wantEqual(t, got, def, "the default workspace")
	_, err = s.GetWorkspace(ctx, "nope", atelier.DefaultWorkspace)
	wantErr(t, err, store.ErrNotFound, "GetWorkspace(0) of an unknown tenant")
	list, err := s.ListWorkspaces(ctx, t1.ID)
	must(t, err, "ListWorkspaces")
	wantEqual(t, list, []*atelier.Workspace{def}, "ListWorkspaces of a new tenant")

	w := &atelier.Workspace{ID: atelier.NewID(), TenantID: t1.ID, Name: "vision", Description: "cv",
		CreatedAt: epoch.Add(time.Nanosecond)}
	must(t, s.CreateWorkspace(ctx, w), "CreateWorkspace")
	if !w.CreatedAt.Equal(epoch) {
		t.Errorf("CreateWorkspace left CreatedAt %v, want it rounded to %v", w.CreatedAt, epoch)
	}
	got, err = s.GetWorkspace(ctx, t1.ID, w.ID)
	must(t, err, "GetWorkspace")
	wantEqual(t, got, w, "GetWorkspace")
	_, err = s.GetWorkspace(ctx, t2.ID, w.ID)
	wantErr(t, err, store.ErrNotFound, "GetWorkspace of another tenant's")
	_, err = s.GetWorkspace(ctx, t1.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetWorkspace(unknown)")

	for _, dup := range []*atelier.Workspace{
		{ID: atelier.NewID(), TenantID: t1.ID, Name: "vision", CreatedAt: epoch},
		{ID: atelier.NewID(), TenantID: t1.ID, Name: "default", CreatedAt: epoch},
		{ID: atelier.DefaultWorkspace, TenantID: t1.ID, Name: "zero", CreatedAt: epoch},
		{ID: w.ID, TenantID: t1.ID, Name: "other", CreatedAt: epoch},
	} {
		wantErr(t, s.CreateWorkspace(ctx, dup), store.ErrConflict, fmt.Sprintf("CreateWorkspace(%s, %q)", dup.ID, dup.Name))
	}
	a := &atelier.Workspace{ID: atelier.NewID(), TenantID: t1.ID, Name: "audio", CreatedAt: epoch}
	must(t, s.CreateWorkspace(ctx, a), "CreateWorkspace audio")
	must(t, s.CreateWorkspace(ctx, &atelier.Workspace{ID: atelier.NewID(), TenantID: t2.ID, Name: "vision",
		CreatedAt: epoch}), "CreateWorkspace of the same name in another tenant")
	list, err = s.ListWorkspaces(ctx, t1.ID)
	must(t, err, "ListWorkspaces")
	wantEqual(t, list, []*atelier.Workspace{def, a, w}, "ListWorkspaces (default first, then by name)")
}

func testModels(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	m := fullModel(t1.ID)
	must(t, s.CreateModel(ctx, m), "CreateModel")
	if !m.CreatedAt.Equal(epoch) || !m.UpdatedAt.Equal(epoch.Add(time.Second)) {
		t.Errorf("CreateModel left times %v %v, want them rounded", m.CreatedAt, m.UpdatedAt)
	}
	got, err := s.GetModel(ctx, t1.ID, m.ID)
	must(t, err, "GetModel")
	wantEqual(t, got, m, "GetModel")
	_, err = s.GetModel(ctx, t2.ID, m.ID)
	wantErr(t, err, store.ErrNotFound, "GetModel of another tenant's")
	_, err = s.GetModel(ctx, t1.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetModel(unknown)")

	// A bare model: no JSON, no times set but the creation.
	bare := &atelier.Model{ID: atelier.NewID(), TenantID: t1.ID, WorkspaceID: atelier.DefaultWorkspace, Name: "bare",
		Version: "1", Status: atelier.ModelPublishing, InputParams: json.RawMessage{}, CreatedAt: epoch}
	must(t, s.CreateModel(ctx, bare), "CreateModel bare")
	if bare.InputParams != nil {
		t.Errorf("CreateModel left empty InputParams %q, want nil as it reads back", bare.InputParams)
	}
	got, err = s.GetModel(ctx, t1.ID, bare.ID)
	must(t, err, "GetModel bare")
	wantEqual(t, got, bare, "GetModel bare")

	// Name and version are unique in a workspace only.
	dup := newModel(t1.ID, atelier.DefaultWorkspace, "digit", "0.0.1", 1, epoch)
	wantErr(t, s.CreateModel(ctx, dup), store.ErrConflict, "CreateModel of a taken name and version")
	_, err = s.GetModel(ctx, t1.ID, dup.ID)
	wantErr(t, err, store.ErrNotFound, "GetModel of a refused model")
	must(t, s.CreateModel(ctx, newModel(t1.ID, "ws2", "digit", "0.0.1", 1, epoch)), "the same in another workspace")
	must(t, s.CreateModel(ctx, newModel(t2.ID, atelier.DefaultWorkspace, "digit", "0.0.1", 1, epoch)),
		"the same in another tenant")
	must(t, s.CreateModel(ctx, newModel(t1.ID, atelier.DefaultWorkspace, "digit", "0.0.2", 1, epoch)),
		"another version")
	taken := newModel(t1.ID, "ws3", "x", "1", 1, epoch)
	taken.ID = m.ID
	wantErr(t, s.CreateModel(ctx, taken), store.ErrConflict, "CreateModel with a taken id")

	wantModelCount(t, s, t1.ID, atelier.DefaultWorkspace, 3)
	wantModelCount(t, s, t1.ID, "ws2", 1)
	wantModelCount(t, s, t1.ID, "ws3", 0)
	wantModelCount(t, s, t2.ID, atelier.DefaultWorkspace, 1)

	// UpdateModel writes back what may change and keeps the identity.
	later := epoch.Add(time.Hour)
	up, err := s.UpdateModel(ctx, t1.ID, m.ID, func(x *atelier.Model) error {
		wantEqual(t, x, m, "the model UpdateModel hands to fn")
		x.ID, x.TenantID, x.WorkspaceID, x.Name, x.Version, x.CreatedAt = "x", "x", "x", "x", "x", later
		x.Description, x.Status, x.Reason, x.Handler, x.Size, x.Digest = "New Words", atelier.ModelPublished, "", "python", 42, "sha256:def"
		x.InputParams, x.APIs = nil, json.RawMessage(`[]`)
		x.UpdatedAt = later.Add(time.Nanosecond)
		return nil
	})
	must(t, err, "UpdateModel")
	want := *m
	want.Description, want.Status, want.Reason, want.Handler, want.Size, want.Digest = "New Words", atelier.ModelPublished, "", "python", 42, "sha256:def"
	want.InputParams, want.APIs, want.UpdatedAt = nil, json.RawMessage(`[]`), later
	wantEqual(t, up, &want, "UpdateModel's result")
	got, err = s.GetModel(ctx, t1.ID, m.ID)
	must(t, err, "GetModel after UpdateModel")
	wantEqual(t, got, &want, "GetModel after UpdateModel")
	page, err := s.ListModels(ctx, t1.ID, atelier.ModelFilter{Description: "new w", Limit: 10})
	must(t, err, "ListModels by the new description")
	wantEqual(t, modelIDs(page.Models), []string{m.ID}, "ListModels by the new description")

	_, err = s.UpdateModel(ctx, t1.ID, m.ID, func(*atelier.Model) error { return errStop })
	wantErr(t, err, errStop, "UpdateModel with a failing fn")
	called := false
	_, err = s.UpdateModel(ctx, t2.ID, m.ID, func(*atelier.Model) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateModel of another tenant's")
	if called {
		t.Error("UpdateModel of another tenant's model called fn")
	}

	_, err = s.DeleteModel(ctx, t2.ID, m.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteModel of another tenant's")
	usedBy, err := s.DeleteModel(ctx, t1.ID, m.ID)
	must(t, err, "DeleteModel")
	if usedBy != "" {
		t.Errorf("DeleteModel of an unused model named %q", usedBy)
	}
	_, err = s.GetModel(ctx, t1.ID, m.ID)
	wantErr(t, err, store.ErrNotFound, "GetModel after DeleteModel")
	_, err = s.DeleteModel(ctx, t1.ID, m.ID)
	wantErr(t, err, store.ErrNotFound, "DeleteModel twice")
	wantModelCount(t, s, t1.ID, atelier.DefaultWorkspace, 2)
	wantModelCount(t, s, t2.ID, atelier.DefaultWorkspace, 1)
}

// wantModelCount checks the total count of an unfiltered ListModels of the
// workspace, and that a filter matching every model counts the same.
func wantModelCount(t *testing.T, s store.Store, tenantID, workspaceID string, n int) {
	t.Helper()
	all, err := s.ListModels(ctxFor(t), tenantID, atelier.ModelFilter{WorkspaceID: workspaceID, Limit: 1})
	must(t, err, "ListModels")
	var matched int
	for _, status := range []string{atelier.ModelPublishing, atelier.ModelPublished, atelier.ModelFailed} {
		page, err := s.ListModels(ctxFor(t), tenantID, atelier.ModelFilter{WorkspaceID: workspaceID, Status: status, Limit: 1})
		must(t, err, "ListModels by status")
		matched += page.TotalCount
	}
	if all.TotalCount != n || matched != n {
		t.Errorf("workspace %s of %s: ListModels counts %d, by status %d; want %d", workspaceID, tenantID, all.TotalCount, matched, n)
	}
}

// versionCompare is the order ListModels sorts versions in: runs of
// decimal digits compare as numbers, everything else byte by byte, a
// prefix first.
func versionCompare(a, b string) int {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	run := func(s string, i int) (string, int) {
		j := i
		for j < len(s) && digit(s[j]) {
			j++
		}
		return strings.TrimLeft(s[i:j], "0"), j
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		if digit(a[i]) && digit(b[j]) {
			ra, ni := run(a, i)
			rb, nj := run(b, j)
			if c := cmp.Or(cmp.Compare(len(ra), len(rb)), strings.Compare(ra, rb)); c != 0 {
				return c
			}
			i, j = ni, nj
			continue
		}
		if c := cmp.Compare(a[i], b[j]); c != 0 {
			return c
		}
		i, j = i+1, j+1
	}
	return cmp.Compare(len(a)-i, len(b)-j)
}

// modelListFixture registers 40 models in the default workspace of tenant
// (names with LIKE's wildcards, upper case and non-ASCII letters, versions
// that sort differently as numbers and as strings, ties of every sort
// key), 3 in another workspace, and returns the 43.
func modelListFixture(t *testing.T, s store.Store, tenantID string) []*atelier.Model {
	names := []string{"digit", "Digit-Big", "mnist", "a%b", "a_b", `a\b`, "ab", "Ünïcode"}
	versions := []string{"0.0.9", "0.0.10", "0.0.100", "0.1", "1.0.0", "1.0.0-rc1", "1.0.0-rc10", "1.0.0-rc2", "10.0",
		"2.0", "01.0", "1.0"}
	statuses := []string{atelier.ModelPublished, atelier.ModelFailed, atelier.ModelPublishing}
	var all []*atelier.Model
	i := 0
	for n, name := range names {
		for j := range 5 {
			m := newModel(tenantID, atelier.DefaultWorkspace, name, versions[(n+j)%len(versions)], int64(i%4)*100,
				epoch.Add(time.Duration(i%5)*time.Minute))
			m.Status = statuses[i%3]
			if i%2 == 0 {
				m.Description = "Recognises " + strings.ToUpper(name) + " Digits"
			}
			must(t, s.CreateModel(ctxFor(t), m), "CreateModel "+name)
			all = append(all, m)
			i++
		}
	}
	for j := range 3 {
		m := newModel(tenantID, "w2", "digit", strconv.Itoa(j), 7, epoch)
		must(t, s.CreateModel(ctxFor(t), m), "CreateModel in w2")
		all = append(all, m)
	}
	return all
}

// wantModels is what ListModels should return of all for f: the matches
// sorted, and all of them, unpaged.
func wantModels(all []*atelier.Model, f atelier.ModelFilter) []*atelier.Model {
	var out []*atelier.Model
	for _, m := range all {
		if m.WorkspaceID == cmp.Or(f.WorkspaceID, atelier.DefaultWorkspace) &&
			strings.Contains(strings.ToLower(m.Name), strings.ToLower(f.Name)) &&
			strings.Contains(strings.ToLower(m.Description), strings.ToLower(f.Description)) &&
			(f.Version == "" || m.Version == f.Version) && (f.Status == "" || m.Status == f.Status) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *atelier.Model) int {
		var c int
		switch f.SortBy {
		case "", atelier.ModelSortCreateAt:
			c = a.CreatedAt.Compare(b.CreatedAt)
		case atelier.ModelSortVersion:
			c = versionCompare(a.Version, b.Version)
		case atelier.ModelSortSize:
			c = cmp.Compare(a.Size, b.Size)
		}
		c = cmp.Or(c, strings.Compare(a.ID, b.ID))
		if f.Order != "asc" {
			c = -c
		}
		return c
	})
	return out
}

func testListModels(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	all := modelListFixture(t, s, t1.ID)
	modelListFixture(t, s, t2.ID) // the same names, never listed for t1

	filters := []atelier.ModelFilter{
		{},
		{Name: "digit"},
		{Name: "DIGIT"},
		{Name: "%"},
		{Name: "_"},
		{Name: `\`},
		{Name: "Ü"},
		{Description: "digits"},
		{Description: "a_b d"},
		{Version: "1.0.0"},
		{Status: atelier.ModelPublished},
		{Name: "a", Status: atelier.ModelFailed},
		{Name: "it", Version: "0.0.10", Description: "RECOG"},
		{WorkspaceID: "w2"},
		{WorkspaceID: "w3"},
		{Name: "nothing"},
	}
	for _, f := range filters {
		for _, sortBy := range []string{"", atelier.ModelSortCreateAt, atelier.ModelSortVersion, atelier.ModelSortSize} {
			for _, order := range []string{"", "asc", "desc"} {
				f := f
				f.SortBy, f.Order = sortBy, order
				want := wantModels(all, f)
				what := fmt.Sprintf("ListModels(%+v)", f)
				// Every page of 7, then past the end: each page of either
				// half is read from its nearer end.
				const limit = 7
				for offset := 0; offset <= len(want)+limit; offset += limit {
					f.Offset, f.Limit = offset, limit
					page, err := s.ListModels(ctx, t1.ID, f)
					must(t, err, what)
					wantPage := want[min(offset, len(want)):min(offset+limit, len(want))]
					if page.TotalCount != len(want) || page.Count != len(wantPage) || page.Models == nil ||
						!slices.Equal(modelIDs(page.Models), modelIDs(wantPage)) {
						t.Fatalf("%s at offset %d: total %d, count %d, models %v; want %d, %d, %v", what, offset,
							page.TotalCount, page.Count, modelIDs(page.Models), len(want), len(wantPage), modelIDs(wantPage))
					}
				}
			}
		}
	}

	// Spot checks that do not lean on wantModels.
	count := func(f atelier.ModelFilter) int {
		t.Helper()
		page, err := s.ListModels(ctx, t1.ID, f)
		must(t, err, "ListModels")
		return page.TotalCount
	}
	for name, n := range map[string]int{"%": 5, "_": 5, `\`: 5, "a": 20, "DIGIT": 10, "ünï": 5, "a%": 5, "%b": 5} {
		if got := count(atelier.ModelFilter{Name: name}); got != n {
			t.Errorf("ListModels(name %q) counts %d, want %d: %%, _ and \\ match literally, case-insensitively", name, got, n)
		}
	}
	page, err := s.ListModels(ctx, t1.ID, atelier.ModelFilter{Name: "digit", SortBy: atelier.ModelSortVersion, Order: "asc"})
	must(t, err, "ListModels by version")
	var versions []string
	for _, m := range page.Models {
		versions = append(versions, m.Version)
	}
	if i, j := slices.Index(versions, "0.0.9"), slices.Index(versions, "0.0.10"); i < 0 || j < 0 || i > j {
		t.Errorf("versions ascending = %q: 0.0.9 does not come before 0.0.10", versions)
	}
	page, err = s.ListModels(ctx, t1.ID, atelier.ModelFilter{})
	must(t, err, "ListModels with the defaults")
	if page.TotalCount != 40 || page.Count != 40 {
		t.Errorf("ListModels with the defaults: total %d, count %d; want 40, 40", page.TotalCount, page.Count)
	}
	page, err = s.ListModels(ctx, "nope", atelier.ModelFilter{})
	must(t, err, "ListModels of an unknown tenant")
	if page.TotalCount != 0 || page.Count != 0 || page.Models == nil {
		t.Errorf("ListModels of an unknown tenant = %+v, want an empty page", page)
	}
}

// PlainListModels is a backend's yardstick for BenchListModels: the one
// plain SQL statement that reads the page and the count that ListModels
// returns for f, run on the same database; it returns the rows it read.
type PlainListModels func(ctx context.Context, tenantID string, f atelier.ModelFilter) (int, error)

// modelBenchSize is the number of models of BenchListModels:
// ATELIER_BENCH_MODELS when set, else 100,000 (10,000 under -short).
func modelBenchSize() int {
	if n, err := strconv.Atoi(os.Getenv("ATELIER_BENCH_MODELS")); err == nil && n >= 1000 {
		return n
	}
	if testing.Short() {
		return 10_000
	}
	return 100_000
}

// modelBenchWords are the first words of the benchmark's model names: an
// eighth of the models are named digit-….
var modelBenchWords = []string{"digit", "mnist", "resnet", "bert", "yolo", "whisper", "llama", "unet"}

// BenchListModels registers modelBenchSize models in one tenant's default
// workspace of s (1000 names of 100 versions each, "0.0.0" to "0.0.99",
// in transactions of 1000), then times ListModels' first and last page of
// 150 (offset total-150: 99,850 at the full size) of every sort, of the
// names containing "digit" (an eighth of the models), and of the published
// ones of those by version (the seed's example), each against
// plain, the one SQL statement reading the same, called alternately on the
// same database. Each sub-benchmark (create_at/first, …, name/last)
// reports ms/op and the p50 and p99 of the store's calls, the same of the
// plain statement's (plain-…), and x-plain, the ratio of the p50s: the
// goal is at most 2, and a last page that costs what the first does.
func BenchListModels(b *testing.B, s store.Store, plain PlainListModels) {
	ctx := b.Context()
	size := modelBenchSize()
	tn := MustTenant(b, s, "bench")
	t0 := time.Now()
	for start := 0; start < size; start += 1000 {
		err := s.InTx(ctx, func(tx store.Store) error {
			for i := start; i < min(start+1000, size); i++ {
				name := fmt.Sprintf("%s-%03d", modelBenchWords[i%len(modelBenchWords)], i%1000)
				m := newModel(tn.ID, atelier.DefaultWorkspace, name, fmt.Sprintf("0.0.%d", i/1000),
					int64(i*7919%1_000_003), epoch.Add(time.Duration(i)*time.Second))
				m.Description = "Recognises " + name
				if i%5 == 4 {
					m.Status, m.Reason = atelier.ModelFailed, "no handler"
				}
				if err := tx.CreateModel(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("registered %d models in %v", size, time.Since(t0).Round(time.Millisecond))

	cases := []struct {
		name string
		f    atelier.ModelFilter
	}{
		{"create_at", atelier.ModelFilter{SortBy: atelier.ModelSortCreateAt}},
		{"model_version", atelier.ModelFilter{SortBy: atelier.ModelSortVersion}},
		{"model_size", atelier.ModelFilter{SortBy: atelier.ModelSortSize}},
		{"name", atelier.ModelFilter{Name: "digit"}},
		{"name_status", atelier.ModelFilter{Name: "DIGIT", Status: atelier.ModelPublished, SortBy: atelier.ModelSortVersion}},
	}
	for _, c := range cases {
		f := c.f
		f.WorkspaceID, f.Order, f.Limit = atelier.DefaultWorkspace, "desc", atelier.MaxModelPage
		first, err := s.ListModels(ctx, tn.ID, f)
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range []struct {
			name   string
			offset int
		}{{"first", 0}, {"last", max(0, first.TotalCount-atelier.MaxModelPage)}} {
			b.Run(c.name+"/"+p.name, func(b *testing.B) {
				f := f
				f.Offset = p.offset
				var st, pl []time.Duration
				for b.Loop() {
					t0 := time.Now()
					page, err := s.ListModels(ctx, tn.ID, f)
					st = append(st, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					t0 = time.Now()
					n, err := plain(ctx, tn.ID, f)
					pl = append(pl, time.Since(t0))
					if err != nil {
						b.Fatal(err)
					}
					if want := min(atelier.MaxModelPage, first.TotalCount); page.Count != want || n != want {
						b.Fatalf("listed %d models (plainly %d), want %d", page.Count, n, want)
					}
				}
				stMean, stP50, stP99 := durationStats(st)
				plMean, plP50, plP99 := durationStats(pl)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(stMean, "ms/op")
				b.ReportMetric(stP50, "p50-ms")
				b.ReportMetric(stP99, "p99-ms")
				b.ReportMetric(plMean, "plain-ms/op")
				b.ReportMetric(plP50, "plain-p50-ms")
				b.ReportMetric(plP99, "plain-p99-ms")
				b.ReportMetric(stP50/plP50, "x-plain")
				b.ReportMetric(float64(size), "models")
			})
		}
	}
}

// durationStats returns the mean, median and 99th percentile of ds in
// milliseconds.
func durationStats(ds []time.Duration) (mean, p50, p99 float64) {
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return ms(sum) / float64(len(s)), ms(s[len(s)/2]), ms(s[min(len(s)-1, len(s)*99/100)])
}
