package identity_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/identity"
)

// fromAddr is a context of a request from ip, as the HTTP layer makes it.
func fromAddr(ctx context.Context, ip string) context.Context {
	return atelier.NewContextWithClient(ctx, &atelier.Client{IP: ip})
}

// TestLoginHashesAreBounded floods the service with logins for unknown
// accounts, each from its own address: at most the gate's slots hash at
// once, its queue waits, the rest are refused at once with 429 and a
// Retry-After, and a real login from another address succeeds once the
// flood is answered. The dummy hash of an unknown account goes through the
// same bound as a real one.
func TestLoginHashesAreBounded(t *testing.T) {
	const queue, flood = 3, 40
	slots := min(2, max(1, runtime.GOMAXPROCS(0)-1)) // one per core but one at most
	e := MustEnv(t, func(o *identity.Options) {
		o.HashMemory = int64(slots) * int64(cheap.Memory) << 10
		o.HashQueue = queue
		o.LoginRatePerIP, o.LoginRatePerUser = 0, 0 // the defaults: every address is new
	})
	started := make(chan struct{}, flood)
	release := make(chan struct{})
	var hold atomic.Bool
	hold.Store(true)
	e.svc.SetHashHooks(func() {
		if hold.Load() {
			started <- struct{}{}
			<-release
		}
	}, func() {})

	errs := make(chan error, flood)
	for i := range flood {
		go func() {
			ctx := fromAddr(t.Context(), fmt.Sprintf("203.0.113.%d", i+1))
			_, err := e.svc.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: fmt.Sprintf("nobody%d@example.com", i), Password: "guess"})
			errs <- err
		}()
	}
	for range slots {
		<-started
	}
	// Everyone beyond the slots and the queue is refused without waiting.
	for range flood - slots - queue {
		err := <-errs
		wantCode(t, err, atelier.CodeRateLimited)
		if ae := err.(*atelier.Error); ae.Args[0] != 1 {
			t.Errorf("retry after %v s, want 1", ae.Args[0])
		}
	}
	if n := e.svc.HashWaiting(); n != queue {
		t.Errorf("%d hashes waiting, want %d", n, queue)
	}
	hold.Store(false)
	close(release)
	for range slots + queue {
		wantCode(t, <-errs, atelier.CodeBadCredentials)
	}
	if p := e.svc.HashPeak(); p != slots {
		t.Errorf("peak of %d hashes at once, want %d", p, slots)
	}
	if _, err := e.svc.Login(fromAddr(t.Context(), "198.51.100.7"), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: adminEmail, Password: adminPass}); err != nil {
		t.Fatalf("legitimate login after the flood: %v", err)
	}
}

// TestHashWaitIsBounded checks that a hash waits for a slot at most
// HashWait, and that a known account is refused the same way.
func TestHashWaitIsBounded(t *testing.T) {
	e := MustEnv(t, func(o *identity.Options) {
		o.HashMemory = int64(cheap.Memory) << 10 // one slot
		o.HashQueue = 1
		o.HashWait = time.Second
	})
	started, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	e.svc.SetHashHooks(func() {
		if first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
	}, func() {})
	holder := make(chan error, 1)
	go func() {
		_, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: "nobody@example.com", Password: "x"})
		holder <- err
	}()
	<-started
	waiter := make(chan error, 1)
	go func() {
		_, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: adminEmail, Password: adminPass})
		waiter <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for e.svc.HashWaiting() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second login never waited for a slot")
		}
		runtime.Gosched()
	}
	e.clock.Advance(time.Second)
	wantCode(t, <-waiter, atelier.CodeRateLimited)
	close(release)
	wantCode(t, <-holder, atelier.CodeBadCredentials)
	e.MustLogin(t, adminEmail, adminPass)
}

// TestHashGateReturnsMemory checks that once a budget's worth of hashes has
// run and the gate is idle, the freed heap goes back to the system.
func TestHashGateReturnsMemory(t *testing.T) {
	e := MustEnv(t, func(o *identity.Options) {
		o.HashMemory = 2 * int64(cheap.Memory) << 10
	})
	freed := make(chan struct{}, 10)
	e.svc.SetHashHooks(nil, func() { freed <- struct{}{} })
	for range 2 {
		_, err := e.svc.Login(t.Context(), atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: "nobody@example.com", Password: "x"})
		wantCode(t, err, atelier.CodeBadCredentials)
	}
	select {
	case <-freed:
	case <-time.After(10 * time.Second):
		t.Fatal("memory was not returned after a budget's worth of hashes")
	}
}
