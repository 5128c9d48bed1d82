// Package startstop gives background services (the queue's client, the
// leader elector, the garbage collector) one lifecycle, after river's
// rivershared/startstop: Start(ctx) starts the service's loop in the
// background and returns, Stop() ends it and waits for it, and both
// tolerate being called in any order and more than once. ProcessID is
// the name they hold their leases under.
package startstop

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
)

// ProcessID is host-pid-random, the same for every call in one process:
// unique per server process and readable in leases and listings, so the
// leader lease and the queue's leases name a server alike.
var ProcessID = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return fmt.Sprintf("%s-%d-%s", cmp.Or(host, "atelier"), os.Getpid(), hex.EncodeToString(b))
})

// Base runs one background loop at a time. Embed it, or keep one, in a
// service and call Run from the service's Start. The zero Base is ready to
// use; it is safe for concurrent use.
type Base struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Run starts loop in a goroutine with a context that ends when ctx ends or
// Stop is called, and reports true. It does nothing and reports false when
// a loop already runs (until Stop returned). After Stop, Run starts afresh.
func (b *Base) Run(ctx context.Context, loop func(ctx context.Context)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done != nil {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	b.cancel, b.done = cancel, done
	go func() {
		defer close(done)
		defer cancel()
		loop(ctx)
	}()
	return true
}

// Stop cancels the loop's context and waits until the loop returned. It is
// safe to call without Run, and more than once.
func (b *Base) Stop() {
	b.mu.Lock()
	cancel, done := b.cancel, b.done
	b.mu.Unlock()
	if done == nil {
		return
	}
	cancel()
	<-done
	b.mu.Lock()
	if b.done == done {
		b.cancel, b.done = nil, nil
	}
	b.mu.Unlock()
}

// Running reports whether a loop was started and Stop has not yet returned
// for it; the loop may have returned on its own.
func (b *Base) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done != nil
}

// Done returns a channel closed once the running loop returned, or nil
// when none was started.
func (b *Base) Done() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// Service is a background service with the Start/Stop lifecycle.
type Service interface {
	Start(ctx context.Context)
	Stop()
}

// Serve starts s, waits until ctx ends and stops s, then returns nil: the
// body of an errgroup member, so that the group's Wait waits for s to have
// stopped.
func Serve(ctx context.Context, s Service) error {
	s.Start(ctx)
	<-ctx.Done()
	s.Stop()
	return nil
}
