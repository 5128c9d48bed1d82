package queuemetrics_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atelier-dev/atelier/internal/clock"
	"github.com/atelier-dev/atelier/queue"
	"github.com/atelier-dev/atelier/queue/queuemetrics"
	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlitestore"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// value gathers reg and returns the counter or gauge name with the label
// pairs; -1 when there is none.
func value(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

func TestMetrics(t *testing.T) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "atelier.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	m, err := queuemetrics.New(reg, st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := queuemetrics.New(reg, st); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	c, err := queue.New(queue.Options{Store: st, Clock: clock.NewFake(epoch), Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{{}, epoch.Add(time.Hour)} {
		if _, _, err := c.Insert(t.Context(), st, "a", nil, queue.InsertOpts{ScheduleAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	for state, want := range map[string]float64{store.QueueAvailable: 1, store.QueueScheduled: 1, store.QueueRunning: 0} {
		if got := value(t, reg, "atelier_queue_items", "kind", "a", "state", state); got != want {
			t.Errorf("atelier_queue_items{kind=a,state=%s} = %v, want %v", state, got, want)
		}
	}
	m.Finished("a", "completed", time.Second)
	if got := value(t, reg, "atelier_queue_items_finished_total", "kind", "a", "outcome", "completed"); got != 1 {
		t.Errorf("finished counter = %v, want 1", got)
	}
}
