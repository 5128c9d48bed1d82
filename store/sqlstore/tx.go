package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/atelier-dev/atelier/store"
)

// txState is the transaction of one InTx attempt, shared by the DB that
// runs in it and the methods called on that DB.
type txState struct {
	tx *sql.Tx
	// savepoints numbers the savepoints taken in the transaction, so that
	// nested ones get distinct names.
	savepoints int
	// signal says that a change in the transaction appended events: the
	// event signal fires once it committed; queue, that it inserted queue
	// items: the queue signal fires.
	signal, queue bool
}

// InTx runs fn in one transaction, giving it a store whose every method
// runs in that transaction, and commits when fn returns nil. fn's error is
// returned as is and rolls everything back. The whole transaction, fn
// included, runs again after a retryable failure (serialization failure,
// deadlock, busy database), up to a bound. Inside InTx, InTx runs fn under
// a savepoint of the same transaction. The event signal fires only after
// the outermost commit.
func (db *DB) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	if db.tx != nil {
		return db.tx.savepoint(ctx, func() error { return fn(db) })
	}
	var err error
	for range maxAttempts {
		var st *txState
		st, err = db.tryInTx(ctx, fn)
		if err == nil {
			if st.signal {
				db.signalEvents()
			}
			if st.queue {
				db.signalQueue()
			}
			return nil
		}
		if !db.retryable(ctx, err) {
			return err
		}
	}
	return err
}

// tryInTx is one attempt of InTx. It returns the committed transaction's
// state, which says which signals are due.
func (db *DB) tryInTx(ctx context.Context, fn func(tx store.Store) error) (*txState, error) {
	sqlTx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, db.wrap("begin transaction", err)
	}
	st := &txState{tx: sqlTx}
	txDB := &DB{core: db.core, w: sqlTx, r: sqlTx, tx: st}
	if err := fn(txDB); err != nil {
		_ = sqlTx.Rollback()
		return nil, err
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, db.wrap("commit", err)
	}
	return st, nil
}

// savepoint runs fn under a new savepoint of the transaction: fn's changes
// are rolled back to it when fn fails, and the transaction stays usable.
// fn's error is returned as is.
func (s *txState) savepoint(ctx context.Context, fn func() error) error {
	s.savepoints++
	name := "sp" + strconv.Itoa(s.savepoints)
	if _, err := s.tx.ExecContext(ctx, "SAVEPOINT "+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	if err := fn(); err != nil {
		// The rollback fails only when the transaction is already lost
		// (its context ended, the connection broke); fn's error says more.
		if _, rerr := s.tx.ExecContext(context.WithoutCancel(ctx), "ROLLBACK TO SAVEPOINT "+name); rerr == nil {
			_, _ = s.tx.ExecContext(context.WithoutCancel(ctx), "RELEASE SAVEPOINT "+name)
		}
		return err
	}
	if _, err := s.tx.ExecContext(ctx, "RELEASE SAVEPOINT "+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}
