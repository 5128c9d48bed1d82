package storetest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// MustJob creates a job of the tenant, created at at, with a first version
// in state CREATING created at the same time.
func MustJob(t testing.TB, s store.Store, tenantID, name string, at time.Time) (*atelier.TrainingJob, *atelier.JobVersion) {
	t.Helper()
	j := &atelier.TrainingJob{ID: atelier.NewID(), TenantID: tenantID, Name: name, CreatedAt: at, UpdatedAt: at}
	v := &atelier.JobVersion{State: atelier.JobCreating, CreatedAt: at,
		Spec: atelier.JobSpec{UserCommand: "true", Flavor: "modelarts.vm.cpu.2u", InstanceCount: 1}}
	must(t, s.CreateJob(ctxFor(t), j, v), "CreateJob")
	return j, v
}

// MustVersion creates the job's next version in state at time at.
func MustVersion(t testing.TB, s store.Store, jobID, state string, at time.Time) *atelier.JobVersion {
	t.Helper()
	v := &atelier.JobVersion{JobID: jobID, State: state, CreatedAt: at,
		Spec: atelier.JobSpec{UserCommand: "true", Flavor: "modelarts.vm.cpu.2u", InstanceCount: 1}}
	must(t, s.CreateVersion(ctxFor(t), v), "CreateVersion")
	return v
}

// setState moves version n of the job to state at time at.
func setState(t testing.TB, s store.Store, jobID string, n int64, state, reason string, at time.Time) *atelier.JobVersion {
	t.Helper()
	v, err := s.UpdateVersion(ctxFor(t), jobID, n, at, func(v *atelier.JobVersion) error {
		v.State, v.Reason = state, reason
		return nil
	})
	must(t, err, "UpdateVersion to "+state)
	return v
}

// fullSpec sets every field of a JobSpec, with a bare parameter (nil value)
// next to one whose value is the empty string.
func fullSpec() atelier.JobSpec {
	lr, empty := "0.01", ""
	return atelier.JobSpec{
		Framework: "PyTorch", FrameworkVersion: "2.1", CodeDir: "obs://bucket/code/", BootFile: "train.py",
		ScriptInterpreter: "python3",
		Parameters:        []atelier.JobParam{{Name: "lr", Value: &lr}, {Name: "verbose"}, {Name: "tag", Value: &empty}},
		Inputs: []atelier.JobInput{
			{ObsPath: "obs://bucket/data/", LocalPath: "/home/ma-user/data"},
			{ObsPath: "obs://bucket/more.zip", DatasetID: "ds", DatasetVersionID: "dv"},
		},
		Outputs:       []atelier.JobOutput{{ObsPath: "obs://bucket/out/", LocalPath: "/home/ma-user/out"}},
		LogURL:        "obs://bucket/logs/",
		Flavor:        "modelarts.vm.cpu.8u",
		InstanceCount: 2, MaxRunSeconds: 3600,
		Env: map[string]string{"EPOCHS": "3", "EMPTY": ""},
	}
}

func versionKeys(vs []*atelier.JobVersion) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%s/%d", v.JobID, v.VersionID)
	}
	return out
}

func jobIDs(js []*atelier.TrainingJob) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func testJobs(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	j := &atelier.TrainingJob{ID: atelier.NewID(), TenantID: t1.ID, Name: "mnist", Description: "digits",
		CreatedAt: epoch, UpdatedAt: epoch}
	v := &atelier.JobVersion{Desc: "first", Spec: fullSpec(), State: atelier.JobCreating, CreatedAt: epoch}
	must(t, s.CreateJob(ctx, j, v), "CreateJob")
	if v.JobID != j.ID || v.TenantID != t1.ID || v.VersionID != 1 || v.Name != "V0001" {
		t.Errorf("CreateJob set version %s/%s %d %q, want %s/%s 1 V0001", v.TenantID, v.JobID, v.VersionID, v.Name, t1.ID, j.ID)
	}
	if j.LatestVersion != 1 || j.VersionCount != 1 || j.State != atelier.JobCreating || !j.UpdatedAt.Equal(epoch) {
		t.Errorf("CreateJob derived fields = %d %d %s %v, want 1 1 CREATING %v", j.LatestVersion, j.VersionCount,
			j.State, j.UpdatedAt, epoch)
	}
	got, err := s.GetJob(ctx, t1.ID, j.ID)
	must(t, err, "GetJob")
	wantEqual(t, got, j, "GetJob")
	_, err = s.GetJob(ctx, t2.ID, j.ID)
	wantErr(t, err, store.ErrNotFound, "GetJob in another tenant")
	_, err = s.GetJob(ctx, t1.ID, "nope")
	wantErr(t, err, store.ErrNotFound, "GetJob(unknown)")
	for _, n := range []int64{1, 0} {
		gotV, err := s.GetVersion(ctx, j.ID, n)
		must(t, err, "GetVersion")
		wantEqual(t, gotV, v, fmt.Sprintf("GetVersion(%d)", n))
	}

	// A taken name conflicts and leaves nothing behind; the same name in
	// another tenant is another job.
	dup := &atelier.TrainingJob{ID: atelier.NewID(), TenantID: t1.ID, Name: "mnist", CreatedAt: epoch}
	err = s.CreateJob(ctx, dup, &atelier.JobVersion{State: atelier.JobCreating, CreatedAt: epoch})
	wantErr(t, err, store.ErrConflict, "CreateJob with a taken name")
	_, err = s.GetVersion(ctx, dup.ID, 0)
	wantErr(t, err, store.ErrNotFound, "GetVersion of a refused job")
	MustJob(t, s, t2.ID, "mnist", epoch)

	later := epoch.Add(time.Minute)
	v2 := &atelier.JobVersion{JobID: j.ID, Desc: "second", State: atelier.JobQueued, CreatedAt: later,
		Spec: atelier.JobSpec{UserCommand: "python3 train.py", Flavor: "modelarts.vm.cpu.2u", InstanceCount: 1}}
	must(t, s.CreateVersion(ctx, v2), "CreateVersion")
	if v2.VersionID != 2 || v2.Name != "V0002" || v2.TenantID != t1.ID {
		t.Errorf("CreateVersion set %d %q tenant %s, want 2 V0002 %s", v2.VersionID, v2.Name, v2.TenantID, t1.ID)
	}
	got, err = s.GetJob(ctx, t1.ID, j.ID)
	must(t, err, "GetJob after CreateVersion")
	want := *j
	want.LatestVersion, want.VersionCount, want.State, want.UpdatedAt = 2, 2, atelier.JobQueued, later
	wantEqual(t, got, &want, "GetJob after CreateVersion")
	for n, wantV := range map[int64]*atelier.JobVersion{0: v2, 1: v, 2: v2} {
		gotV, err := s.GetVersion(ctx, j.ID, n)
		must(t, err, "GetVersion")
		wantEqual(t, gotV, wantV, fmt.Sprintf("GetVersion(%d)", n))
	}
	_, err = s.GetVersion(ctx, j.ID, 3)
	wantErr(t, err, store.ErrNotFound, "GetVersion(3) of a job with 2")
	_, err = s.GetVersion(ctx, "nope", 0)
	wantErr(t, err, store.ErrNotFound, "GetVersion of an unknown job")
	list, err := s.ListVersions(ctx, j.ID)
	must(t, err, "ListVersions")
	wantEqual(t, list, []*atelier.JobVersion{v2, v}, "ListVersions (newest first)")
	list, err = s.ListVersions(ctx, "nope")
	must(t, err, "ListVersions(unknown)")
	if len(list) != 0 {
		t.Errorf("ListVersions(unknown) = %d versions, want 0", len(list))
	}
	err = s.CreateVersion(ctx, &atelier.JobVersion{JobID: "nope", State: atelier.JobQueued, CreatedAt: later})
	wantErr(t, err, store.ErrNotFound, "CreateVersion of an unknown job")
}

func testJobVersionFields(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	j := &atelier.TrainingJob{ID: atelier.NewID(), TenantID: tn.ID, Name: "j", CreatedAt: epoch}
	v := &atelier.JobVersion{Desc: "d", Spec: fullSpec(), State: atelier.JobRunning, Reason: "running",
		Handle: `{"v":1,"pid":42}`, CreatedAt: epoch.Add(123 * time.Microsecond), StartedAt: epoch.Add(time.Second)}
	must(t, s.CreateJob(ctx, j, v), "CreateJob")
	got, err := s.GetVersion(ctx, j.ID, 1)
	must(t, err, "GetVersion")
	wantEqual(t, got, v, "GetVersion")
	if got.ExitCode != nil || !got.FinishedAt.IsZero() {
		t.Errorf("unset ExitCode, FinishedAt read back as %v, %v", got.ExitCode, got.FinishedAt)
	}
	if p := got.Spec.Parameters; len(p) != 3 || p[0].Value == nil || *p[0].Value != "0.01" || p[1].Value != nil ||
		p[2].Value == nil || *p[2].Value != "" {
		t.Errorf("Parameters read back as %+v, want lr=0.01, bare verbose, tag=\"\"", p)
	}
	jg, err := s.GetJob(ctx, tn.ID, j.ID)
	must(t, err, "GetJob")
	if !jg.UpdatedAt.Equal(v.CreatedAt) {
		t.Errorf("GetJob of a job without UpdatedAt: UpdatedAt = %v, want the version's creation %v", jg.UpdatedAt, v.CreatedAt)
	}

	// UpdateVersion writes every mutable field; exit code 0 is not "none".
	later := epoch.Add(time.Hour)
	upd, err := s.UpdateVersion(ctx, j.ID, 1, later, func(x *atelier.JobVersion) error {
		wantEqual(t, x, v, "the version fn got")
		zero := 0
		x.ExitCode, x.FinishedAt, x.State, x.Reason = &zero, later, atelier.JobCompleted, "exit 0"
		x.Handle, x.Desc = "", "d2"
		x.Spec.Parameters, x.Spec.Env, x.Spec.Flavor = nil, nil, "modelarts.vm.cpu.2u"
		// Ignored: the ids, name and creation time.
		x.JobID, x.TenantID, x.VersionID, x.Name, x.CreatedAt = "other", "other", 9, "V0009", later
		return nil
	})
	must(t, err, "UpdateVersion")
	want := *v
	zero := 0
	want.ExitCode, want.FinishedAt, want.State, want.Reason, want.Handle, want.Desc = &zero, later, atelier.JobCompleted, "exit 0", "", "d2"
	want.Spec = fullSpec()
	want.Spec.Parameters, want.Spec.Env, want.Spec.Flavor = nil, nil, "modelarts.vm.cpu.2u"
	wantEqual(t, upd, &want, "UpdateVersion")
	got, err = s.GetVersion(ctx, j.ID, 1)
	must(t, err, "GetVersion after update")
	wantEqual(t, got, &want, "GetVersion after update")
	if got.ExitCode == nil || *got.ExitCode != 0 {
		t.Errorf("ExitCode 0 read back as %v", got.ExitCode)
	}

	// A non-zero code, then none again and unset times.
	upd, err = s.UpdateVersion(ctx, j.ID, 1, later, func(x *atelier.JobVersion) error {
		c := 137
		x.ExitCode = &c
		return nil
	})
	must(t, err, "UpdateVersion to exit code 137")
	if upd.ExitCode == nil || *upd.ExitCode != 137 {
		t.Errorf("ExitCode = %v, want 137", upd.ExitCode)
	}
	_, err = s.UpdateVersion(ctx, j.ID, 1, later, func(x *atelier.JobVersion) error {
		x.ExitCode, x.StartedAt, x.FinishedAt = nil, time.Time{}, time.Time{}
		return nil
	})
	must(t, err, "UpdateVersion clearing")
	got, err = s.GetVersion(ctx, j.ID, 1)
	must(t, err, "GetVersion after clearing")
	if got.ExitCode != nil || !got.StartedAt.IsZero() || !got.FinishedAt.IsZero() {
		t.Errorf("cleared ExitCode, StartedAt, FinishedAt read back as %v, %v, %v", got.ExitCode, got.StartedAt, got.FinishedAt)
	}
}

func testListJobs(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	// Two jobs share a creation time, so the id breaks the tie.
	times := []time.Duration{0, time.Minute, time.Minute, 2 * time.Minute, 3 * time.Minute}
	var jobs []*atelier.TrainingJob
	for i, d := range times {
		j, _ := MustJob(t, s, t1.ID, fmt.Sprintf("job%d", i), epoch.Add(d))
		jobs = append(jobs, j)
	}
	MustJob(t, s, t2.ID, "job0", epoch.Add(time.Hour))
	// job0 completed; job1's first version completed and its second runs,
	// so job1's state is RUNNING.
	setState(t, s, jobs[0].ID, 1, atelier.JobCompleted, "", epoch.Add(time.Hour))
	setState(t, s, jobs[1].ID, 1, atelier.JobCompleted, "", epoch.Add(time.Hour))
	MustVersion(t, s, jobs[1].ID, atelier.JobRunning, epoch.Add(2*time.Hour))

	byID := map[string]*atelier.TrainingJob{}
	for _, j := range jobs {
		got, err := s.GetJob(ctx, t1.ID, j.ID)
		must(t, err, "GetJob")
		byID[j.ID] = got
	}
	if j1 := byID[jobs[1].ID]; j1.LatestVersion != 2 || j1.VersionCount != 2 || j1.State != atelier.JobRunning ||
		!j1.UpdatedAt.Equal(epoch.Add(2*time.Hour)) {
		t.Errorf("job with two versions = %+v, want latest 2, count 2, RUNNING, updated at +2h", j1)
	}
	order := slices.Clone(jobs)
	slices.SortFunc(order, func(a, b *atelier.TrainingJob) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	var want []*atelier.TrainingJob
	for _, j := range order {
		want = append(want, byID[j.ID])
	}

	inState := func(state string) []*atelier.TrainingJob {
		var out []*atelier.TrainingJob
		for _, j := range want {
			if j.State == state {
				out = append(out, j)
			}
		}
		return out
	}
	if n := len(inState(atelier.JobCreating)); n != 3 {
		t.Fatalf("%d CREATING jobs, want 3", n)
	}

	all, err := s.ListJobs(ctx, t1.ID, store.JobListFilter{})
	must(t, err, "ListJobs")
	wantEqual(t, all, want, "ListJobs (newest first, with derived fields)")

	var paged []string
	f := store.JobListFilter{Limit: 2}
	for range len(jobs) + 1 {
		page, err := s.ListJobs(ctx, t1.ID, f)
		must(t, err, "ListJobs page")
		if len(page) > 2 {
			t.Fatalf("ListJobs with Limit 2 returned %d jobs", len(page))
		}
		paged = append(paged, jobIDs(page)...)
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		f.BeforeTime, f.BeforeID = last.CreatedAt, last.ID
	}
	wantEqual(t, paged, jobIDs(want), "ListJobs paged by 2")

	for _, c := range []struct {
		f    store.JobListFilter
		want []*atelier.TrainingJob
	}{
		{store.JobListFilter{Name: "job3"}, []*atelier.TrainingJob{byID[jobs[3].ID]}},
		{store.JobListFilter{Name: "nope"}, nil},
		{store.JobListFilter{State: atelier.JobRunning}, []*atelier.TrainingJob{byID[jobs[1].ID]}},
		{store.JobListFilter{State: atelier.JobCompleted}, []*atelier.TrainingJob{byID[jobs[0].ID]}},
		{store.JobListFilter{State: atelier.JobCreating}, inState(atelier.JobCreating)},
		{store.JobListFilter{State: atelier.JobCreating, Name: "job4"}, []*atelier.TrainingJob{byID[jobs[4].ID]}},
		{store.JobListFilter{State: atelier.JobFailed}, nil},
		{store.JobListFilter{Limit: 1}, want[:1]},
	} {
		got, err := s.ListJobs(ctx, t1.ID, c.f)
		must(t, err, "ListJobs")
		wantEqual(t, jobIDs(got), jobIDs(c.want), fmt.Sprintf("ListJobs(%+v)", c.f))
	}
	other, err := s.ListJobs(ctx, t2.ID, store.JobListFilter{})
	must(t, err, "ListJobs(t2)")
	if len(other) != 1 || other[0].TenantID != t2.ID {
		t.Errorf("ListJobs(t2) = %v, want t2's one job", jobIDs(other))
	}
}

func testJobEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	j, _ := MustJob(t, s, tn.ID, "j", epoch)
	at := func(s int) time.Time { return epoch.Add(time.Duration(s) * time.Second) }
	ev := func(n, seq int64, state, reason string, tm time.Time) *atelier.JobEvent {
		return &atelier.JobEvent{JobID: j.ID, VersionID: n, Seq: seq, State: state, Reason: reason, Time: tm}
	}
	evs, err := s.ListEvents(ctx, j.ID, 1)
	must(t, err, "ListEvents")
	wantEqual(t, evs, []*atelier.JobEvent{ev(1, 1, atelier.JobCreating, "", epoch)}, "ListEvents of a new version")

	setState(t, s, j.ID, 1, atelier.JobQueued, "submitted", at(1))
	// No state change, no event.
	_, err = s.UpdateVersion(ctx, j.ID, 1, at(2), func(v *atelier.JobVersion) error { v.Handle = "h"; return nil })
	must(t, err, "UpdateVersion of the handle")
	setState(t, s, j.ID, 0, atelier.JobRunning, "", at(3)) // 0: the latest
	_, err = s.UpdateVersion(ctx, j.ID, 1, at(4), func(v *atelier.JobVersion) error {
		c := 1
		v.State, v.Reason, v.ExitCode = atelier.JobFailed, "worker-0 exited with code 1", &c
		return nil
	})
	must(t, err, "UpdateVersion to FAILED")
	wantV1 := []*atelier.JobEvent{
		ev(1, 1, atelier.JobCreating, "", epoch),
		ev(1, 2, atelier.JobQueued, "submitted", at(1)),
		ev(1, 3, atelier.JobRunning, "", at(3)),
		ev(1, 4, atelier.JobFailed, "worker-0 exited with code 1", at(4)),
	}
	for _, n := range []int64{1, 0} {
		evs, err = s.ListEvents(ctx, j.ID, n)
		must(t, err, "ListEvents")
		wantEqual(t, evs, wantV1, fmt.Sprintf("ListEvents(%d)", n))
	}
	got, err := s.GetJob(ctx, tn.ID, j.ID)
	must(t, err, "GetJob")
	if got.State != atelier.JobFailed || !got.UpdatedAt.Equal(at(4)) {
		t.Errorf("GetJob state %s updated %v, want FAILED at %v", got.State, got.UpdatedAt, at(4))
	}

	// A new version has a sequence of its own.
	MustVersion(t, s, j.ID, atelier.JobCreating, at(5))
	evs, err = s.ListEvents(ctx, j.ID, 0)
	must(t, err, "ListEvents(latest)")
	wantEqual(t, evs, []*atelier.JobEvent{ev(2, 1, atelier.JobCreating, "", at(5))}, "ListEvents of version 2")
	evs, err = s.ListEvents(ctx, j.ID, 1)
	must(t, err, "ListEvents(1)")
	wantEqual(t, evs, wantV1, "ListEvents(1) after version 2")
	for _, c := range []struct {
		job string
		n   int64
	}{{j.ID, 3}, {"nope", 0}, {"nope", 1}} {
		evs, err = s.ListEvents(ctx, c.job, c.n)
		must(t, err, "ListEvents of an unknown version")
		if len(evs) != 0 {
			t.Errorf("ListEvents(%s, %d) = %d events, want 0", c.job, c.n, len(evs))
		}
	}
}

func testActiveVersions(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tA, tB := MustTenant(t, s, "a"), MustTenant(t, s, "b")
	at := func(m int) time.Time { return epoch.Add(time.Duration(m) * time.Minute) }
	later := at(60)
	a, _ := MustJob(t, s, tA.ID, "a", at(2))
	b, _ := MustJob(t, s, tB.ID, "b", at(0))
	c, _ := MustJob(t, s, tA.ID, "c", at(1))
	setState(t, s, c.ID, 1, atelier.JobRunning, "", later)
	for i, final := range []string{atelier.JobCompleted, atelier.JobFailed, atelier.JobStopped} {
		d, _ := MustJob(t, s, tA.ID, "done"+final, at(i))
		setState(t, s, d.ID, 1, final, "", later)
	}
	MustVersion(t, s, b.ID, atelier.JobQueued, at(3))
	wantKeys := []string{b.ID + "/1", c.ID + "/1", a.ID + "/1", b.ID + "/2"}

	got, err := s.ActiveVersions(ctx)
	must(t, err, "ActiveVersions")
	wantEqual(t, versionKeys(got), wantKeys, "ActiveVersions (oldest first)")
	for _, v := range got {
		full, err := s.GetVersion(ctx, v.JobID, v.VersionID)
		must(t, err, "GetVersion")
		wantEqual(t, v, full, "ActiveVersions entry")
	}

	setState(t, s, c.ID, 1, atelier.JobCompleted, "", later)
	got, err = s.ActiveVersions(ctx)
	must(t, err, "ActiveVersions after a completion")
	wantEqual(t, versionKeys(got), []string{b.ID + "/1", a.ID + "/1", b.ID + "/2"}, "ActiveVersions after c completed")
}

func testUpdateVersionFnError(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	j, v := MustJob(t, s, tn.ID, "j", epoch)
	later := epoch.Add(time.Hour)
	_, err := s.UpdateVersion(ctx, j.ID, 1, later, func(x *atelier.JobVersion) error {
		x.State, x.Reason, x.Handle = atelier.JobRunning, "started", "h"
		return errStop
	})
	if err != errStop {
		t.Errorf("UpdateVersion with a failing fn = %v, want fn's error as is", err)
	}
	got, err := s.GetVersion(ctx, j.ID, 1)
	must(t, err, "GetVersion")
	wantEqual(t, got, v, "GetVersion after a failed update")
	evs, err := s.ListEvents(ctx, j.ID, 1)
	must(t, err, "ListEvents")
	if len(evs) != 1 {
		t.Errorf("a failed update left %d events, want the first one only", len(evs))
	}
	jg, err := s.GetJob(ctx, tn.ID, j.ID)
	must(t, err, "GetJob")
	if jg.State != atelier.JobCreating || !jg.UpdatedAt.Equal(epoch) {
		t.Errorf("GetJob after a failed update: %s at %v, want CREATING at %v", jg.State, jg.UpdatedAt, epoch)
	}
	for _, c := range []struct {
		job string
		n   int64
	}{{j.ID, 2}, {"nope", 0}, {"nope", 1}} {
		called := false
		_, err = s.UpdateVersion(ctx, c.job, c.n, later, func(*atelier.JobVersion) error { called = true; return nil })
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("UpdateVersion(%s, %d)", c.job, c.n))
		if called {
			t.Errorf("UpdateVersion(%s, %d) of a missing version called fn", c.job, c.n)
		}
	}
}

func testDeleteJob(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	t1, t2 := MustTenant(t, s, "t1"), MustTenant(t, s, "t2")
	j, _ := MustJob(t, s, t1.ID, "gone", epoch)
	MustVersion(t, s, j.ID, atelier.JobQueued, epoch.Add(time.Second))
	setState(t, s, j.ID, 2, atelier.JobRunning, "", epoch.Add(2*time.Second))
	keep, keepV := MustJob(t, s, t1.ID, "keep", epoch)

	wantErr(t, s.DeleteJob(ctx, t2.ID, j.ID), store.ErrNotFound, "DeleteJob from another tenant")
	_, err := s.GetJob(ctx, t1.ID, j.ID)
	must(t, err, "GetJob after a refused delete")

	must(t, s.DeleteJob(ctx, t1.ID, j.ID), "DeleteJob")
	_, err = s.GetJob(ctx, t1.ID, j.ID)
	wantErr(t, err, store.ErrNotFound, "GetJob after delete")
	for _, n := range []int64{0, 1, 2} {
		_, err = s.GetVersion(ctx, j.ID, n)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetVersion(%d) after delete", n))
		evs, err := s.ListEvents(ctx, j.ID, n)
		must(t, err, "ListEvents after delete")
		if len(evs) != 0 {
			t.Errorf("ListEvents(%d) after delete = %d events, want 0", n, len(evs))
		}
	}
	vs, err := s.ListVersions(ctx, j.ID)
	must(t, err, "ListVersions after delete")
	if len(vs) != 0 {
		t.Errorf("ListVersions after delete = %d versions, want 0", len(vs))
	}
	active, err := s.ActiveVersions(ctx)
	must(t, err, "ActiveVersions after delete")
	wantEqual(t, versionKeys(active), []string{keep.ID + "/1"}, "ActiveVersions after delete")
	wantErr(t, s.DeleteJob(ctx, t1.ID, j.ID), store.ErrNotFound, "DeleteJob twice")
	_, err = s.UpdateVersion(ctx, j.ID, 2, epoch, func(*atelier.JobVersion) error { return nil })
	wantErr(t, err, store.ErrNotFound, "UpdateVersion of a deleted job")

	// The other job is untouched and the name is free again.
	got, err := s.GetVersion(ctx, keep.ID, 1)
	must(t, err, "GetVersion of the kept job")
	wantEqual(t, got, keepV, "the kept job's version")
	evs, err := s.ListEvents(ctx, keep.ID, 1)
	must(t, err, "ListEvents of the kept job")
	if len(evs) != 1 {
		t.Errorf("the kept job has %d events, want 1", len(evs))
	}
	again, v := MustJob(t, s, t1.ID, "gone", epoch)
	if v.VersionID != 1 {
		t.Errorf("a re-created job starts at version %d, want 1", v.VersionID)
	}
	evs, err = s.ListEvents(ctx, again.ID, 1)
	must(t, err, "ListEvents of the re-created job")
	if len(evs) != 1 {
		t.Errorf("the re-created job has %d events, want 1", len(evs))
	}
}

func testCreateVersionConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	j, _ := MustJob(t, s, tn.ID, "j", epoch)
	const n = 8
	vs := make([]*atelier.JobVersion, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		vs[i] = &atelier.JobVersion{JobID: j.ID, State: atelier.JobQueued, CreatedAt: epoch.Add(time.Duration(i+1) * time.Second)}
		errs[i] = s.CreateVersion(ctx, vs[i])
	})
	var nums []int64
	for i, err := range errs {
		must(t, err, "concurrent CreateVersion")
		if want := fmt.Sprintf("V%04d", vs[i].VersionID); vs[i].Name != want {
			t.Errorf("version %d is named %q, want %q", vs[i].VersionID, vs[i].Name, want)
		}
		nums = append(nums, vs[i].VersionID)
	}
	slices.Sort(nums)
	wantEqual(t, nums, []int64{2, 3, 4, 5, 6, 7, 8, 9}, "numbers of 8 concurrent versions")
	list, err := s.ListVersions(ctx, j.ID)
	must(t, err, "ListVersions")
	if len(list) != n+1 || list[0].VersionID != n+1 {
		t.Errorf("ListVersions = %v, want versions 9 … 1", versionKeys(list))
	}
	for k := int64(1); k <= n+1; k++ {
		evs, err := s.ListEvents(ctx, j.ID, k)
		must(t, err, "ListEvents")
		if len(evs) != 1 || evs[0].Seq != 1 {
			t.Errorf("version %d has events %+v, want one with seq 1", k, evs)
		}
	}
	got, err := s.GetJob(ctx, tn.ID, j.ID)
	must(t, err, "GetJob")
	if got.LatestVersion != n+1 || got.VersionCount != n+1 {
		t.Errorf("GetJob: latest %d, count %d, want %d, %d", got.LatestVersion, got.VersionCount, n+1, n+1)
	}
}

func testUpdateVersionConcurrent(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	tn := MustTenant(t, s, "t")
	j, _ := MustJob(t, s, tn.ID, "j", epoch)
	const n = 16
	errs := make([]error, n)
	// Every update sets a state of its own, so each changes the state it
	// reads, whatever ran before it.
	parallel(n, func(i int) {
		_, errs[i] = s.UpdateVersion(ctx, j.ID, 1, epoch.Add(time.Duration(i+1)*time.Second), func(v *atelier.JobVersion) error {
			v.State, v.Reason = fmt.Sprintf("S%02d", i), fmt.Sprintf("r%02d", i)
			return nil
		})
	})
	for _, err := range errs {
		must(t, err, "concurrent UpdateVersion")
	}
	evs, err := s.ListEvents(ctx, j.ID, 1)
	must(t, err, "ListEvents")
	if len(evs) != n+1 {
		t.Fatalf("%d concurrent state changes left %d events, want %d", n, len(evs), n+1)
	}
	var reasons []string
	for k, e := range evs {
		if e.Seq != int64(k+1) {
			t.Errorf("event %d has seq %d", k, e.Seq)
		}
		if k > 0 {
			if want := "S" + strings.TrimPrefix(e.Reason, "r"); e.State != want {
				t.Errorf("event %d: state %s with reason %s, not the pair one update wrote", k, e.State, e.Reason)
			}
			reasons = append(reasons, e.Reason)
		}
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	if !sameSet(reasons, want) {
		t.Errorf("event reasons = %v, want each update's once", reasons)
	}
	v, err := s.GetVersion(ctx, j.ID, 1)
	must(t, err, "GetVersion")
	if last := evs[len(evs)-1]; v.State != last.State {
		t.Errorf("version state %s, last event's %s", v.State, last.State)
	}
}

// benchActiveVersions measures ActiveVersions, the scheduler's and the
// restarted server's query, over 200 queued versions among 200 finished
// ones, reporting versions/s.
func benchActiveVersions(b *testing.B, open func(b *testing.B) store.Store) {
	s := open(b)
	b.Cleanup(func() { _ = s.Close() })
	ctx := b.Context()
	tn := MustTenant(b, s, "t")
	const queued, finished = 200, 200
	for i := range queued + finished {
		j, _ := MustJob(b, s, tn.ID, fmt.Sprintf("job%04d", i), epoch.Add(time.Duration(i)*time.Second))
		state := atelier.JobQueued
		if i%2 == 1 {
			state = atelier.JobCompleted
		}
		setState(b, s, j.ID, 1, state, "", epoch.Add(time.Hour))
	}
	listed := 0
	for b.Loop() {
		vs, err := s.ActiveVersions(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(vs) != queued {
			b.Fatalf("ActiveVersions = %d versions, want %d", len(vs), queued)
		}
		listed += len(vs)
	}
	b.ReportMetric(float64(listed)/b.Elapsed().Seconds(), "versions/s")
}
