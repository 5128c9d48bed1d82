package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// MustService deploys a service of the tenant named name, created at at,
// whose configs run the models, with equal weights.
func MustService(t testing.TB, s store.Store, tenantID, name string, at time.Time, models ...*atelier.Model) *atelier.InferenceService {
	t.Helper()
	svc := newService(tenantID, name, at, models...)
	must(t, s.CreateService(ctxFor(t), svc), "CreateService "+name)
	return svc
}

func newService(tenantID, name string, at time.Time, models ...*atelier.Model) *atelier.InferenceService {
	svc := &atelier.InferenceService{ID: atelier.NewID(), TenantID: tenantID, WorkspaceID: atelier.DefaultWorkspace,
		Name: name, InferType: "real-time", Status: atelier.ServiceDeploying, Generation: 1, CreatedAt: at, UpdatedAt: at}
	for _, m := range models {
		svc.Configs = append(svc.Configs, atelier.ServiceConfig{ModelID: m.ID, Weight: 100 / len(models),
			InstanceCount: 1, Specification: "modelarts.vm.cpu.2u"})
	}
	return svc
}

func serviceIDs(ss []*atelier.InferenceService) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func testServices(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	m1 := MustModel(t, s, t1.ID, "digit", "0.0.1", 10, epoch)
	m2 := MustModel(t, s, t1.ID, "digit", "0.0.2", 20, epoch)
	other := MustModel(t, s, t2.ID, "digit", "0.0.1", 10, epoch)

	svc := &atelier.InferenceService{ID: atelier.NewID(), TenantID: t1.ID, WorkspaceID: atelier.DefaultWorkspace,
		Name: "digits", Description: "canary", InferType: "real-time", Status: atelier.ServiceDeploying, Generation: 1,
		Owner: "u1", CreatedAt: epoch.Add(time.Nanosecond), UpdatedAt: epoch.Add(time.Second),
		AccessAddress: "/v1/services/x/predict", Instances: []*atelier.ServiceInstance{{ID: "i"}},
		Configs: []atelier.ServiceConfig{
			{ModelID: m1.ID, Weight: 90, InstanceCount: 2, Specification: "modelarts.vm.cpu.2u",
				Envs: map[string]string{"A": "1", "EMPTY": ""}},
			{ModelID: m2.ID, Weight: 10, InstanceCount: 1, Specification: "modelarts.vm.cpu.2u", Envs: map[string]string{},
				ModelName: "stale", ModelVersion: "stale"},
		}}
	must(t, s.CreateService(ctx, svc), "CreateService")
	if !svc.CreatedAt.Equal(epoch) {
		t.Errorf("CreateService left CreatedAt %v, want it rounded to %v", svc.CreatedAt, epoch)
	}
	wantConfigs := []atelier.ServiceConfig{
		{ModelID: m1.ID, Weight: 90, InstanceCount: 2, Specification: "modelarts.vm.cpu.2u",
			Envs: map[string]string{"A": "1", "EMPTY": ""}, ModelName: "digit", ModelVersion: "0.0.1"},
		{ModelID: m2.ID, Weight: 10, InstanceCount: 1, Specification: "modelarts.vm.cpu.2u",
			ModelName: "digit", ModelVersion: "0.0.2"},
	}
	wantEqual(t, svc.Configs, wantConfigs, "CreateService's configs (model names filled in)")
	want := *svc
	want.AccessAddress, want.Instances = "", nil // not stored
	got, err := s.GetService(ctx, t1.ID, svc.ID)
	must(t, err, "GetService")
	wantEqual(t, got, &want, "GetService")
	got, err = s.GetServiceByName(ctx, t1.ID, "digits")
	must(t, err, "GetServiceByName")
	wantEqual(t, got, &want, "GetServiceByName")
	_, err = s.GetService(ctx, t2.ID, svc.ID)
	wantErr(t, err, store.ErrNotFound, "GetService of another tenant's")
	_, err = s.GetServiceByName(ctx, t2.ID, "digits")
	wantErr(t, err, store.ErrNotFound, "GetServiceByName in another tenant")
	_, err = s.GetService(ctx, t1.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetService(unknown)")

	// A taken name conflicts; missing and foreign models are not found;
	// nothing of a refused service remains.
	wantErr(t, s.CreateService(ctx, newService(t1.ID, "digits", epoch, m1)), store.ErrConflict,
		"CreateService with a taken name")
	for what, m := range map[string]*atelier.Model{"a missing model": {ID: "nope"}, "another tenant's model": other} {
		bad := newService(t1.ID, "bad", epoch, m1, m)
		wantErr(t, s.CreateService(ctx, bad), store.ErrNotFound, "CreateService with "+what)
		_, err = s.GetService(ctx, t1.ID, bad.ID)
		wantErr(t, err, store.ErrNotFound, "GetService of a service refused for "+what)
	}
	MustService(t, s, t2.ID, "digits", epoch, other) // the same name in another tenant
	empty := MustService(t, s, t1.ID, "empty", epoch)
	if empty.Configs == nil || len(empty.Configs) != 0 {
		t.Errorf("CreateService without configs left %#v, want an empty list", empty.Configs)
	}

	// UpdateService keeps the identity and writes the rest back with the
	// configs' model references.
	later := epoch.Add(time.Hour)
	up, err := s.UpdateService(ctx, t1.ID, svc.ID, func(x *atelier.InferenceService) error {
		wantEqual(t, x, &want, "the service UpdateService hands to fn")
		x.ID, x.TenantID, x.WorkspaceID, x.Name, x.CreatedAt = "x", "x", "x", "x", later
		x.Description, x.Status, x.Reason, x.Generation, x.UpdatedAt = "all new", atelier.ServiceRunning, "r", 2, later
		x.Configs = []atelier.ServiceConfig{{ModelID: m2.ID, Weight: 100, InstanceCount: 3, Specification: "s"}}
		x.Instances = []*atelier.ServiceInstance{{ID: "i"}}
		return nil
	})
	must(t, err, "UpdateService")
	want.Description, want.Status, want.Reason, want.Generation, want.UpdatedAt = "all new", atelier.ServiceRunning, "r", 2, later
	want.Configs = []atelier.ServiceConfig{{ModelID: m2.ID, Weight: 100, InstanceCount: 3, Specification: "s",
		ModelName: "digit", ModelVersion: "0.0.2"}}
	wantEqual(t, up, &want, "UpdateService's result")
	got, err = s.GetService(ctx, t1.ID, svc.ID)
	must(t, err, "GetService after UpdateService")
	wantEqual(t, got, &want, "GetService after UpdateService")

	for what, m := range map[string]*atelier.Model{"a missing model": {ID: "nope"}, "another tenant's model": other} {
		_, err = s.UpdateService(ctx, t1.ID, svc.ID, func(x *atelier.InferenceService) error {
			x.Configs = append(x.Configs, atelier.ServiceConfig{ModelID: m.ID, Weight: 1})
			x.Description = "refused"
			return nil
		})
		wantErr(t, err, store.ErrNotFound, "UpdateService with "+what)
	}
	_, err = s.UpdateService(ctx, t1.ID, svc.ID, func(*atelier.InferenceService) error { return errStop })
	wantErr(t, err, errStop, "UpdateService with a failing fn")
	called := false
	_, err = s.UpdateService(ctx, t2.ID, svc.ID, func(*atelier.InferenceService) error { called = true; return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateService of another tenant's")
	if called {
		t.Error("UpdateService of another tenant's service called fn")
	}
	got, err = s.GetService(ctx, t1.ID, svc.ID)
	must(t, err, "GetService after refused updates")
	wantEqual(t, got, &want, "GetService after refused updates")

	wantErr(t, s.DeleteService(ctx, t2.ID, svc.ID), store.ErrNotFound, "DeleteService of another tenant's")
	must(t, s.DeleteService(ctx, t1.ID, svc.ID), "DeleteService")
	_, err = s.GetService(ctx, t1.ID, svc.ID)
	wantErr(t, err, store.ErrNotFound, "GetService after DeleteService")
	wantErr(t, s.DeleteService(ctx, t1.ID, svc.ID), store.ErrNotFound, "DeleteService twice")
}

// testModelInUse checks that a model that a service's configs name cannot
// be deleted, that the refusal names the service, and that the reference
// follows the service's updates and deletion.
func testModelInUse(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	m1 := MustModel(t, s, tn.ID, "digit", "1", 1, epoch)
	m2 := MustModel(t, s, tn.ID, "digit", "2", 1, epoch)
	b := MustService(t, s, tn.ID, "b-service", epoch, m1)
	MustService(t, s, tn.ID, "a-service", epoch, m1, m2)

	usedBy, err := s.DeleteModel(ctx, tn.ID, m1.ID)
	wantErr(t, err, store.ErrConflict, "DeleteModel of a model in use")
	if usedBy != "a-service" {
		t.Errorf("DeleteModel of a model in use named %q, want a-service (the first by name)", usedBy)
	}
	_, err = s.GetModel(ctx, tn.ID, m1.ID)
	must(t, err, "GetModel after a refused delete")
	wantModelCount(t, s, tn.ID, atelier.DefaultWorkspace, 2)

	// Inside a caller's transaction the refusal leaves the transaction
	// usable.
	err = s.InTx(ctx, func(tx store.Store) error {
		if _, err := tx.DeleteModel(ctx, tn.ID, m2.ID); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("DeleteModel in a transaction: %v, want a conflict", err)
		}
		_, err := tx.GetModel(ctx, tn.ID, m2.ID)
		return err
	})
	must(t, err, "a refused DeleteModel inside InTx")

	// a-service moves off both models; b-service still holds m1.
	_, err = s.UpdateService(ctx, tn.ID, serviceByName(t, s, tn.ID, "a-service").ID, func(x *atelier.InferenceService) error {
		x.Configs = nil
		return nil
	})
	must(t, err, "UpdateService to no configs")
	usedBy, err = s.DeleteModel(ctx, tn.ID, m1.ID)
	wantErr(t, err, store.ErrConflict, "DeleteModel of a model still in use")
	if usedBy != "b-service" {
		t.Errorf("DeleteModel named %q, want b-service", usedBy)
	}
	usedBy, err = s.DeleteModel(ctx, tn.ID, m2.ID)
	must(t, err, "DeleteModel of a model no longer in use")
	if usedBy != "" {
		t.Errorf("DeleteModel of an unused model named %q", usedBy)
	}
	must(t, s.DeleteService(ctx, tn.ID, b.ID), "DeleteService")
	_, err = s.DeleteModel(ctx, tn.ID, m1.ID)
	must(t, err, "DeleteModel after its service was deleted")
	wantModelCount(t, s, tn.ID, atelier.DefaultWorkspace, 0)
}

func serviceByName(t *testing.T, s store.Store, tenantID, name string) *atelier.InferenceService {
	t.Helper()
	svc, err := s.GetServiceByName(ctxFor(t), tenantID, name)
	must(t, err, "GetServiceByName "+name)
	return svc
}

func testListServices(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	m := MustModel(t, s, t1.ID, "digit", "1", 1, epoch)
	var all []*atelier.InferenceService
	for i := range 12 {
		svc := newService(t1.ID, fmt.Sprintf("Svc_%02d", i), epoch.Add(time.Duration(i%4)*time.Minute), m)
		if i%3 == 0 {
			svc.Status = atelier.ServiceStopped
		}
		if i%4 == 0 {
			svc.WorkspaceID = "w2"
		}
		must(t, s.CreateService(ctx, svc), "CreateService")
		all = append(all, svc)
	}
	foreign := MustService(t, s, t2.ID, "Svc_00", epoch, MustModel(t, s, t2.ID, "digit", "1", 1, epoch))
	slices.SortFunc(all, func(a, b *atelier.InferenceService) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	match := func(f atelier.ServiceFilter) []*atelier.InferenceService {
		var out []*atelier.InferenceService
		for _, svc := range all {
			if (f.Name == "" || strings.Contains(strings.ToLower(svc.Name), strings.ToLower(f.Name))) && (f.Status == "" || svc.Status == f.Status) &&
				(f.WorkspaceID == "" || svc.WorkspaceID == f.WorkspaceID) {
				out = append(out, svc)
			}
		}
		return out
	}
	for _, f := range []atelier.ServiceFilter{
		{}, {Name: "svc_1"}, {Name: "_"}, {Name: "c%"}, {Status: atelier.ServiceStopped}, {WorkspaceID: "w2"},
		{WorkspaceID: atelier.DefaultWorkspace, Status: atelier.ServiceDeploying},
	} {
		want := match(f)
		for offset := 0; offset <= len(want)+5; offset += 5 {
			f.Offset, f.Limit = offset, 5
			page, err := s.ListServices(ctx, t1.ID, f)
			must(t, err, "ListServices")
			wantPage := want[min(offset, len(want)):min(offset+5, len(want))]
			if page.TotalCount != len(want) || page.Count != len(wantPage) || page.Services == nil ||
				!slices.Equal(serviceIDs(page.Services), serviceIDs(wantPage)) {
				t.Fatalf("ListServices(%+v): total %d, count %d, %v; want %d, %d, %v", f, page.TotalCount, page.Count,
					serviceIDs(page.Services), len(want), len(wantPage), serviceIDs(wantPage))
			}
		}
	}
	page, err := s.ListServices(ctx, t1.ID, atelier.ServiceFilter{})
	must(t, err, "ListServices with the defaults")
	if page.Count != 12 {
		t.Errorf("ListServices with the defaults listed %d, want 12", page.Count)
	}
	for _, svc := range page.Services {
		if svc.Instances != nil {
			t.Errorf("ListServices filled in the instances of %s", svc.Name)
		}
	}

	// ActiveServices: every tenant's services that are not stopped, oldest
	// first.
	active := []*atelier.InferenceService{foreign}
	for _, svc := range all {
		if svc.Status != atelier.ServiceStopped {
			active = append(active, svc)
		}
	}
	slices.SortFunc(active, func(a, b *atelier.InferenceService) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	got, err := s.ActiveServices(ctx)
	must(t, err, "ActiveServices")
	wantEqual(t, serviceIDs(got), serviceIDs(active), "ActiveServices (not stopped, every tenant, oldest first)")
}

func testInstances(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	m := MustModel(t, s, tn.ID, "digit", "1", 1, epoch)
	svc := MustService(t, s, tn.ID, "svc", epoch, m)
	mk := func(id string, config int, at time.Time) *atelier.ServiceInstance {
		return &atelier.ServiceInstance{ID: id, Config: config, ModelID: m.ID, Generation: 1,
			Status: atelier.InstanceStarting, CreatedAt: at}
	}
	c := mk("c", 1, epoch)
	a := mk("a", 0, epoch.Add(time.Minute))
	b := mk("b", 0, epoch)
	full := mk("d", 2, epoch.Add(time.Nanosecond))
	full.Status, full.Restarts, full.Reason, full.StartedAt = atelier.InstanceReady, 3, "exit 1", epoch.Add(time.Second+time.Nanosecond)
	full.Handle, full.Addr = `{"pid":42}`, "127.0.0.1:8080"
	for _, in := range []*atelier.ServiceInstance{c, a, b, full} {
		must(t, s.PutInstance(ctx, svc.ID, in), "PutInstance "+in.ID)
	}
	if !full.StartedAt.Equal(epoch.Add(time.Second+time.Nanosecond)) || full.Addr == "" {
		t.Error("PutInstance changed its instance")
	}
	got, err := s.ListInstances(ctx, svc.ID)
	must(t, err, "ListInstances")
	wantFull := *full
	wantFull.CreatedAt, wantFull.StartedAt, wantFull.Addr = epoch, epoch.Add(time.Second), ""
	wantEqual(t, got, []*atelier.ServiceInstance{b, a, c, &wantFull}, "ListInstances (by config, then creation)")

	// Put replaces.
	a2 := *a
	a2.Status, a2.Restarts, a2.Generation, a2.Config = atelier.InstanceFailed, 1, 2, 3
	must(t, s.PutInstance(ctx, svc.ID, &a2), "PutInstance again")
	got, err = s.ListInstances(ctx, svc.ID)
	must(t, err, "ListInstances after a replace")
	wantEqual(t, got, []*atelier.ServiceInstance{b, c, &wantFull, &a2}, "ListInstances after a replace")

	must(t, s.DeleteInstance(ctx, svc.ID, "c"), "DeleteInstance")
	must(t, s.DeleteInstance(ctx, svc.ID, "c"), "DeleteInstance twice")
	must(t, s.DeleteInstance(ctx, "nope", "c"), "DeleteInstance of an unknown service")
	got, err = s.ListInstances(ctx, svc.ID)
	must(t, err, "ListInstances after a delete")
	wantEqual(t, got, []*atelier.ServiceInstance{b, &wantFull, &a2}, "ListInstances after a delete")

	wantErr(t, s.PutInstance(ctx, "nope", mk("x", 0, epoch)), store.ErrNotFound, "PutInstance of an unknown service")
	// GetService does not fill in the instances.
	gotSvc, err := s.GetService(ctx, tn.ID, svc.ID)
	must(t, err, "GetService")
	if gotSvc.Instances != nil {
		t.Errorf("GetService filled in instances %v", gotSvc.Instances)
	}
	must(t, s.DeleteService(ctx, tn.ID, svc.ID), "DeleteService")
	got, err = s.ListInstances(ctx, svc.ID)
	must(t, err, "ListInstances of a deleted service")
	if len(got) != 0 {
		t.Errorf("ListInstances of a deleted service = %d records, want none", len(got))
	}
	wantErr(t, s.PutInstance(ctx, svc.ID, mk("y", 0, epoch)), store.ErrNotFound, "PutInstance of a deleted service")
	// Re-creating the service (same id) finds no instance of the old one.
	again := newService(tn.ID, "svc", epoch, m)
	again.ID = svc.ID
	must(t, s.CreateService(ctx, again), "CreateService with the id of a deleted one")
	got, err = s.ListInstances(ctx, svc.ID)
	must(t, err, "ListInstances of the re-created service")
	if len(got) != 0 {
		t.Errorf("the deleted service's instances survived: %d", len(got))
	}
}

// testDeleteModelRacesDeploy races DeleteModel against CreateService and
// UpdateService naming the model: either the delete wins and the deploy
// finds no model, or the deploy wins and the delete is refused naming it.
func testDeleteModelRacesDeploy(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	base := MustModel(t, s, tn.ID, "base", "1", 1, epoch)
	updated := MustService(t, s, tn.ID, "updated", epoch, base)
	const rounds = 20
	for r := range rounds {
		m := MustModel(t, s, tn.ID, "digit", strconv.Itoa(r), 1, epoch)
		name := fmt.Sprintf("svc%02d", r)
		svc := newService(tn.ID, name, epoch, m)
		var usedBy string
		var delErr, createErr, updateErr error
		parallel(3, func(i int) {
			switch i {
			case 0:
				usedBy, delErr = s.DeleteModel(ctx, tn.ID, m.ID)
			case 1:
				createErr = s.CreateService(ctx, svc)
			case 2:
				_, updateErr = s.UpdateService(ctx, tn.ID, updated.ID, func(x *atelier.InferenceService) error {
					x.Configs = []atelier.ServiceConfig{{ModelID: base.ID, Weight: 50}, {ModelID: m.ID, Weight: 50}}
					return nil
				})
			}
		})
		_, getErr := s.GetModel(ctx, tn.ID, m.ID)
		switch {
		case delErr == nil:
			wantErr(t, createErr, store.ErrNotFound, "CreateService of a deleted model")
			wantErr(t, updateErr, store.ErrNotFound, "UpdateService to a deleted model")
			wantErr(t, getErr, store.ErrNotFound, "GetModel after DeleteModel")
		case createErr == nil || updateErr == nil:
			wantErr(t, delErr, store.ErrConflict, "DeleteModel racing a deploy")
			if usedBy != name && usedBy != "updated" {
				t.Errorf("round %d: DeleteModel refused naming %q, want %s or updated", r, usedBy, name)
			}
			must(t, getErr, "GetModel after a refused delete")
		default:
			t.Fatalf("round %d: none won: DeleteModel: %v; CreateService: %v; UpdateService: %v", r, delErr, createErr, updateErr)
		}
		if createErr == nil {
			must(t, s.DeleteService(ctx, tn.ID, svc.ID), "DeleteService")
		}
		_, err := s.UpdateService(ctx, tn.ID, updated.ID, func(x *atelier.InferenceService) error {
			x.Configs = []atelier.ServiceConfig{{ModelID: base.ID, Weight: 100}}
			return nil
		})
		must(t, err, "UpdateService back to the base model")
	}
	page, err := s.ListModels(ctx, tn.ID, atelier.ModelFilter{Status: atelier.ModelPublished})
	must(t, err, "ListModels")
	wantModelCount(t, s, tn.ID, atelier.DefaultWorkspace, page.TotalCount)
}

// testUpdateModelServiceConcurrent checks that concurrent UpdateModel and
// UpdateService calls lose no update.
func testUpdateModelServiceConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	m := MustModel(t, s, tn.ID, "digit", "1", 0, epoch)
	svc := MustService(t, s, tn.ID, "svc", epoch, m)
	const n = 16
	errs := make([]error, 2*n)
	parallel(2*n, func(i int) {
		if i%2 == 0 {
			_, errs[i] = s.UpdateModel(ctx, tn.ID, m.ID, func(m *atelier.Model) error { m.Size++; return nil })
		} else {
			_, errs[i] = s.UpdateService(ctx, tn.ID, svc.ID, func(s *atelier.InferenceService) error {
				s.Generation++
				return nil
			})
		}
	})
	for _, err := range errs {
		must(t, err, "concurrent update")
	}
	gotM, err := s.GetModel(ctx, tn.ID, m.ID)
	must(t, err, "GetModel")
	gotS, err := s.GetService(ctx, tn.ID, svc.ID)
	must(t, err, "GetService")
	if gotM.Size != n || gotS.Generation != n+1 {
		t.Errorf("after %d concurrent updates of each: size %d, generation %d; want %d, %d: updates were lost",
			n, gotM.Size, gotS.Generation, n, n+1)
	}
}

// testModelCountConcurrent creates and deletes models of one workspace
// concurrently: the workspace's count stays exact.
func testModelCountConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	const n = 16
	old := make([]*atelier.Model, n/2)
	for i := range old {
		old[i] = MustModel(t, s, tn.ID, "old", strconv.Itoa(i), 1, epoch)
	}
	errs := make([]error, n+len(old))
	parallel(n+len(old), func(i int) {
		if i < n {
			errs[i] = s.CreateModel(ctx, newModel(tn.ID, atelier.DefaultWorkspace, "new", strconv.Itoa(i), 1, epoch))
		} else {
			_, errs[i] = s.DeleteModel(ctx, tn.ID, old[i-n].ID)
		}
	})
	for _, err := range errs {
		must(t, err, "concurrent CreateModel or DeleteModel")
	}
	wantModelCount(t, s, tn.ID, atelier.DefaultWorkspace, n)
}
