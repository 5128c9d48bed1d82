package training

import (
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/internal/pgtest"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/storetest"
	"github.com/atelier-dev/atelier/store/storetest/backends"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var eventsT0 = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// newEventService is a Service over st with a fake clock, for the store
// writes only: it runs nothing.
func newEventService(t *testing.T, st store.Store) (*Service, *clock.Fake) {
	clk := clock.NewFake(eventsT0)
	return New(st, nil, nil, Options{Clock: clk, WorkRoot: t.TempDir()}), clk
}

// jobEvents returns the TRAINING_JOB_STATE_CHANGED events in st's outbox,
// in id order, with their data.
func jobEvents(t *testing.T, st store.Store) ([]*atelier.Event, []atelier.JobStateEventData) {
	t.Helper()
	evs := storetest.NewOutbox(t, st).Read()
	data := make([]atelier.JobStateEventData, len(evs))
	for i, e := range evs {
		if e.Type != atelier.EventTrainingJobState {
			t.Fatalf("event %d is a %s", e.ID, e.Type)
		}
		if err := json.Unmarshal(e.Data, &data[i]); err != nil {
			t.Fatalf("event %d data %s: %v", e.ID, e.Data, err)
		}
	}
	return evs, data
}

// wantJobEvent checks the envelope and data of a state event of version v
// of job j from previous at at.
func wantJobEvent(t *testing.T, e *atelier.Event, d atelier.JobStateEventData, j *atelier.TrainingJob, v *atelier.JobVersion, previous string, at time.Time) {
	t.Helper()
	if e.TenantID != j.TenantID || e.Subject != j.ID || !e.CreatedAt.Equal(at) {
		t.Errorf("event %d: about %s in %s at %v, want %s in %s at %v", e.ID, e.Subject, e.TenantID, e.CreatedAt, j.ID, j.TenantID, at)
	}
	want := atelier.JobStateEventData{JobID: j.ID, JobName: j.Name, VersionID: v.VersionID, TenantID: j.TenantID,
		State: v.State, Previous: previous, Reason: v.Reason, ExitCode: v.ExitCode, Time: at}
	code := func(c *int) string {
		if c == nil {
			return "none"
		}
		return strconv.Itoa(*c)
	}
	gotCode, wantCode := code(d.ExitCode), code(want.ExitCode)
	d.ExitCode, want.ExitCode = nil, nil
	if d != want || gotCode != wantCode {
		t.Errorf("event %d data =\n%+v (exit code %s)\nwant\n%+v (exit code %s)", e.ID, d, gotCode, want, wantCode)
	}
}

func newJob(tenant, name string, at time.Time) (*atelier.TrainingJob, *atelier.JobVersion) {
	j := &atelier.TrainingJob{ID: atelier.NewID(), TenantID: tenant, Name: name, CreatedAt: at, UpdatedAt: at}
	v := &atelier.JobVersion{JobID: j.ID, TenantID: tenant, State: atelier.JobCreating, CreatedAt: at,
		Spec: atelier.JobSpec{UserCommand: "true", Flavor: "f", InstanceCount: 1}}
	return j, v
}

// TestVersionEvents checks that creating a job or a version and every
// transition append TRAINING_JOB_STATE_CHANGED from the previous state, in
// order, at the service clock's time, and that nothing else does.
func TestVersionEvents(t *testing.T) {
	t.Parallel()
	backends.Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		s, clk := newEventService(t, st)
		seen := 0
		next := func(what string, n int) ([]*atelier.Event, []atelier.JobStateEventData) {
			t.Helper()
			evs, data := jobEvents(t, st)
			if len(evs) != seen+n {
				t.Fatalf("%s appended %d events, want %d", what, len(evs)-seen, n)
			}
			evs, data = evs[seen:], data[seen:]
			seen += n
			return evs, data
		}

		j, v := newJob("tenant-a", "train", s.now())
		if err := s.createJob(ctx, j, v); err != nil {
			t.Fatal(err)
		}
		evs, data := next("createJob", 1)
		wantJobEvent(t, evs[0], data[0], j, v, "", eventsT0)

		dup, dv := newJob("tenant-a", "train", s.now())
		if err := s.createJob(ctx, dup, dv); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("createJob of a taken name = %v", err)
		}
		next("a failed createJob", 0)

		steps := []struct {
			state, reason string
			code          *int
		}{
			{atelier.JobQueued, "", nil},
			{atelier.JobRunning, "", nil},
			{atelier.JobFailed, "exit code 3", ptrTo(3)},
		}
		previous := atelier.JobCreating
		for _, step := range steps {
			clk.Advance(time.Minute + time.Nanosecond) // records keep microseconds
			got, err := s.transition(ctx, j.ID, 1, func(x *atelier.JobVersion) error {
				x.State, x.Reason, x.ExitCode = step.state, step.reason, step.code
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			evs, data := next("transition to "+step.state, 1)
			wantJobEvent(t, evs[0], data[0], j, got, previous, s.now())
			previous = step.state
		}
		history, err := st.ListEvents(ctx, j.ID, 1)
		if err != nil || len(history) != 4 || history[3].State != atelier.JobFailed || !history[3].Time.Equal(s.now()) {
			t.Errorf("the version's history = %+v, %v; want 4 states ending FAILED at %v", history, err, s.now())
		}

		// An update that keeps the state, or whose fn fails, appends
		// nothing.
		if _, err := s.transition(ctx, j.ID, 1, func(x *atelier.JobVersion) error {
			x.Handle = "h"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		errStop := errors.New("stop")
		if _, err := s.transition(ctx, j.ID, 1, func(x *atelier.JobVersion) error {
			x.State = atelier.JobCompleted
			return errStop
		}); err != errStop {
			t.Fatalf("transition with a failing fn = %v, want its error as is", err)
		}
		if _, err := s.transition(ctx, j.ID, 9, func(x *atelier.JobVersion) error {
			x.State = atelier.JobRunning
			return nil
		}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("transition of a missing version = %v", err)
		}
		next("updates without a transition", 0)

		clk.Advance(time.Minute)
		v2 := &atelier.JobVersion{JobID: j.ID, State: atelier.JobCreating, CreatedAt: s.now(), Spec: v.Spec}
		if err := s.createVersion(ctx, v2); err != nil {
			t.Fatal(err)
		}
		evs, data = next("createVersion", 1)
		wantJobEvent(t, evs[0], data[0], j, v2, "", s.now())
		if v2.VersionID != 2 {
			t.Errorf("createVersion numbered the version %d", v2.VersionID)
		}
		if err := s.createVersion(ctx, &atelier.JobVersion{JobID: "nope", State: atelier.JobCreating, CreatedAt: s.now()}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("createVersion of a missing job = %v", err)
		}
		next("a failed createVersion", 0)
	})
}

func ptrTo[T any](v T) *T { return &v }

// TestVersionEventsInOrder moves one version through many transitions from
// concurrent goroutines: each event's previous state is the state of the
// event before it, and the events follow the version's own history.
func TestVersionEventsInOrder(t *testing.T) {
	t.Parallel()
	backends.Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		s, _ := newEventService(t, st)
		j, v := newJob("tenant-a", "busy", s.now())
		if err := s.createJob(ctx, j, v); err != nil {
			t.Fatal(err)
		}
		const workers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for range workers {
			wg.Go(func() {
				for range each {
					_, err := s.transition(ctx, j.ID, 1, func(x *atelier.JobVersion) error {
						if x.State == atelier.JobRunning {
							x.State = atelier.JobQueued
						} else {
							x.State = atelier.JobRunning
						}
						return nil
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		_, data := jobEvents(t, st)
		history, err := st.ListEvents(ctx, j.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) != 1+workers*each || len(history) != len(data) {
			t.Fatalf("%d events and %d history rows, want %d", len(data), len(history), 1+workers*each)
		}
		for i, d := range data {
			if d.State != history[i].State {
				t.Fatalf("event %d is %s, the history's %d is %s", i, d.State, i, history[i].State)
			}
			if i > 0 && d.Previous != data[i-1].State {
				t.Fatalf("event %d: from %s, but the event before went to %s", i, d.Previous, data[i-1].State)
			}
		}
	})
}

// TestNoTransitionWithoutEvent checks that a transition whose event cannot
// be appended does not happen, nor enters the version's history.
func TestNoTransitionWithoutEvent(t *testing.T) {
	t.Parallel()
	backends.Each(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		fail := new(atomic.Bool)
		s, _ := newEventService(t, storetest.FailingOutbox{Store: st, Fail: fail})
		j, v := newJob("tenant-a", "train", s.now())
		if err := s.createJob(ctx, j, v); err != nil {
			t.Fatal(err)
		}
		fail.Store(true)
		if _, err := s.transition(ctx, j.ID, 1, func(x *atelier.JobVersion) error {
			x.State = atelier.JobQueued
			return nil
		}); !errors.Is(err, storetest.ErrOutbox) {
			t.Fatalf("transition with a failing outbox = %v", err)
		}
		got, err := st.GetVersion(ctx, j.ID, 1)
		if err != nil || got.State != atelier.JobCreating {
			t.Errorf("version after a transition without its event: %+v, %v", got, err)
		}
		if history, err := st.ListEvents(ctx, j.ID, 1); err != nil || len(history) != 1 {
			t.Errorf("history after a transition without its event: %+v, %v", history, err)
		}
		k, kv := newJob("tenant-a", "other", s.now())
		if err := s.createJob(ctx, k, kv); !errors.Is(err, storetest.ErrOutbox) {
			t.Fatalf("createJob with a failing outbox = %v", err)
		}
		if _, err := st.GetJob(ctx, "tenant-a", k.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a job created without its event: %v", err)
		}
		if err := s.createVersion(ctx, &atelier.JobVersion{JobID: j.ID, State: atelier.JobCreating, CreatedAt: s.now()}); !errors.Is(err, storetest.ErrOutbox) {
			t.Fatalf("createVersion with a failing outbox = %v", err)
		}
		if vs, err := st.ListVersions(ctx, j.ID); err != nil || len(vs) != 1 {
			t.Errorf("versions after a createVersion without its event: %d, %v", len(vs), err)
		}
		// An update that keeps the state needs no event.
		if _, err := s.transition(ctx, j.ID, 1, func(x *atelier.JobVersion) error {
			x.Handle = "h"
			return nil
		}); err != nil {
			t.Errorf("an update without a transition, with a failing outbox: %v", err)
		}
	})
}
