package startstop_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atelier-dev/atelier/internal/startstop"
)

func TestLifecycle(t *testing.T) {
	var b startstop.Base
	b.Stop() // before Run: nothing to do
	started := make(chan struct{})
	ended := make(chan struct{})
	if !b.Run(t.Context(), func(ctx context.Context) {
		close(started)
		<-ctx.Done()
		close(ended)
	}) {
		t.Fatal("first Run did not start")
	}
	<-started
	if b.Run(t.Context(), func(ctx context.Context) { t.Error("second loop ran") }) {
		t.Fatal("Run while running started another loop")
	}
	if !b.Running() {
		t.Fatal("not Running after Run")
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(b.Stop) // concurrent and repeated stops
	}
	wg.Wait()
	select {
	case <-ended:
	default:
		t.Fatal("Stop returned before the loop ended")
	}
	if b.Running() {
		t.Fatal("Running after Stop")
	}
	b.Stop()

	// A stopped Base runs again.
	again := make(chan struct{})
	if !b.Run(t.Context(), func(ctx context.Context) { close(again); <-ctx.Done() }) {
		t.Fatal("Run after Stop did not start")
	}
	<-again
	b.Stop()
}

func TestParentContextEnds(t *testing.T) {
	var b startstop.Base
	ctx, cancel := context.WithCancel(t.Context())
	b.Run(ctx, func(ctx context.Context) { <-ctx.Done() })
	cancel()
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("loop did not end with its parent context")
	}
	b.Stop()
}

type fakeService struct{ started, stopped chan struct{} }

func (f *fakeService) Start(context.Context) { close(f.started) }
func (f *fakeService) Stop()                 { close(f.stopped) }

func TestServe(t *testing.T) {
	f := &fakeService{started: make(chan struct{}), stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- startstop.Serve(ctx, f) }()
	<-f.started
	select {
	case <-f.stopped:
		t.Fatal("stopped before its context ended")
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-f.stopped
}

// TestProcessID: one name per process, with its pid in it.
func TestProcessID(t *testing.T) {
	id := startstop.ProcessID()
	if id != startstop.ProcessID() {
		t.Errorf("ProcessID changed between calls: %q, %q", id, startstop.ProcessID())
	}
	if !strings.Contains(id, "-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("ProcessID = %q, want the process id in it", id)
	}
}
