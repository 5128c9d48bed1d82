package localexec_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/executor"
	"github.com/atelier-dev/atelier/executor/executortest"
	"github.com/atelier-dev/atelier/executor/localexec"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// MustNew returns a fast-polling executor closed at cleanup.
func MustNew(t testing.TB, opts localexec.Options) *localexec.Executor {
	t.Helper()
	opts.Slots = max(opts.Slots, 2)
	opts.Grace = max(opts.Grace, 200*time.Millisecond)
	opts.PollInterval = max(opts.PollInterval, 10*time.Millisecond)
	opts.Logger = quiet()
	e, err := localexec.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	executortest.Run(t, func(t *testing.T) *executortest.Harness {
		return &executortest.Harness{
			Capabilities: executortest.Capabilities{MemoryLimit: true, LocalProcesses: true, Recover: true},
			New:          func(t *testing.T) executor.Executor { return MustNew(t, localexec.Options{}) },
		}
	})
}

func TestStateDir(t *testing.T) {
	t.Parallel()
	stateDir := t.TempDir()
	e := MustNew(t, localexec.Options{StateDir: stateDir})
	spec := &executor.Spec{ID: "job/1-v2", Workers: 1, Command: []string{"sh", "-c", "exit 0"}, Dir: t.TempDir()}
	h, err := e.Submit(t.Context(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := e.Wait(t.Context(), h); err != nil || st.ExitCode != 0 {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	ents, err := os.ReadDir(stateDir)
	if err != nil || len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ".json") || strings.Contains(ents[0].Name(), "/") {
		t.Fatalf("state dir holds %v, %v; want one state file", ents, err)
	}
	if _, err := os.Stat(filepath.Join(spec.Dir, ".atelier", "gang.json")); err == nil {
		t.Error("state written into the gang's directory despite StateDir")
	}
	// Another executor over the same state dir recovers the exited gang.
	e2 := MustNew(t, localexec.Options{StateDir: stateDir})
	if err := e2.Recover(t.Context(), h); err != nil {
		t.Fatal(err)
	}
	if st, err := e2.Status(t.Context(), h); err != nil || st.State != executor.Exited || st.ExitCode != 0 {
		t.Errorf("recovered status = %+v, %v", st, err)
	}
}

func TestFilesOnDisk(t *testing.T) {
	t.Parallel()
	e := MustNew(t, localexec.Options{})
	dir := t.TempDir()
	h, err := e.Submit(t.Context(), &executor.Spec{ID: "g", Workers: 2, Command: []string{"sh", "-c", `echo out-$RANK; echo err-$RANK >&2
if [ "$RANK" = 0 ]; then touch ready; exit 0; fi
while [ ! -e ready ]; do sleep 0.01; done
exit 1`}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.Wait(t.Context(), h)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 1 || st.FailedWorker != 1 || !strings.HasPrefix(st.Reason, "worker-1 exited with code 1: ") {
		t.Errorf("status = %+v", st)
	}
	for i := range 2 {
		log, err := os.ReadFile(filepath.Join(dir, ".atelier", fmt.Sprintf("worker-%d.log", i)))
		if err != nil || !strings.Contains(string(log), fmt.Sprintf("out-%d\n", i)) || !strings.Contains(string(log), fmt.Sprintf("err-%d\n", i)) {
			t.Errorf("worker-%d.log = %q, %v", i, log, err)
		}
	}
	if code, err := os.ReadFile(filepath.Join(dir, ".atelier", "worker-1.exit")); err != nil || string(code) != "1\n" {
		t.Errorf("worker-1.exit = %q, %v", code, err)
	}
	var hd struct{ State string }
	if err := json.Unmarshal(h.Data, &hd); err != nil || hd.State != filepath.Join(dir, ".atelier", "gang.json") {
		t.Errorf("handle data %s, %v", h.Data, err)
	}
}

func TestCapacityDefaults(t *testing.T) {
	t.Parallel()
	e, err := localexec.New(localexec.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := e.Capacity()
	if c.Slots < 1 || c.CPU < 1 || c.MemoryMB < 1 || c.GPUs != 0 {
		t.Errorf("capacity = %+v", c)
	}
	if e.EnforcesCPU() {
		t.Error("EnforcesCPU without a cgroup dir")
	}
}

func TestSubmitAfterClose(t *testing.T) {
	t.Parallel()
	e := MustNew(t, localexec.Options{})
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Submit(t.Context(), &executor.Spec{ID: "g", Workers: 1, Command: []string{"true"}, Dir: t.TempDir()}); err == nil {
		t.Error("Submit after Close: no error")
	}
}

// BenchmarkStartLatency measures submit → running for a one-worker gang.
func BenchmarkStartLatency(b *testing.B) {
	e := MustNew(b, localexec.Options{Slots: 2, PollInterval: time.Millisecond})
	ctx := context.Background()
	n := 0
	for b.Loop() {
		n++
		h, err := e.Submit(ctx, &executor.Spec{ID: fmt.Sprint("lat-", n), Workers: 1, Command: []string{"true"}, Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		for {
			st, err := e.Status(ctx, h)
			if err != nil {
				b.Fatal(err)
			}
			if st.State != executor.Queued {
				break
			}
		}
		b.StopTimer()
		if _, err := e.Wait(ctx, h); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkDrain submits 200 one-worker gangs on 2 slots and waits for all.
func BenchmarkDrain(b *testing.B) {
	const gangs = 200
	e := MustNew(b, localexec.Options{Slots: 2, PollInterval: 5 * time.Millisecond})
	ctx := context.Background()
	round := 0
	var total time.Duration
	for b.Loop() {
		round++
		start := time.Now()
		hs := make([]*executor.Handle, gangs)
		for i := range hs {
			h, err := e.Submit(ctx, &executor.Spec{ID: fmt.Sprintf("drain-%d-%d", round, i), Tenant: fmt.Sprint("t", i%3), Workers: 1, Command: []string{"true"}, Dir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			hs[i] = h
		}
		for _, h := range hs {
			if st, err := e.Wait(ctx, h); err != nil || st.ExitCode != 0 {
				b.Fatalf("Wait = %+v, %v", st, err)
			}
		}
		total += time.Since(start)
	}
	b.ReportMetric(float64(gangs*round)/total.Seconds(), "gangs/s")
}
