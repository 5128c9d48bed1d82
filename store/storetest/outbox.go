package storetest

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// ErrOutbox is what FailingOutbox's AppendEvent returns.
var ErrOutbox = errors.New("storetest: outbox unavailable")

// FailingOutbox is a store whose AppendEvent fails with ErrOutbox while
// Fail is set, in and out of its transactions: the domain packages' tests
// use it to check that a change whose event cannot be appended does not
// happen.
type FailingOutbox struct {
	store.Store
	Fail *atomic.Bool
}

// InTx runs fn on the transaction, still failing AppendEvent.
func (f FailingOutbox) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	return f.Store.InTx(ctx, func(tx store.Store) error { return fn(FailingOutbox{tx, f.Fail}) })
}

// AppendEvent fails while Fail is set.
func (f FailingOutbox) AppendEvent(ctx context.Context, e *atelier.Event) error {
	if f.Fail.Load() {
		return ErrOutbox
	}
	return f.Store.AppendEvent(ctx, e)
}
