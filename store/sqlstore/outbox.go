package sqlstore

import (
	"context"
	"database/sql"

	"github.com/atelier-dev/atelier"
)

// signalEvents wakes a waiter on EventSignal without ever blocking. Inside
// InTx it only notes that the signal is due: InTx sends it once the
// outermost transaction committed.
func (db *DB) signalEvents() {
	if db.tx != nil {
		db.tx.signal = true
		return
	}
	select {
	case db.events <- struct{}{}:
	default:
	}
}

// EventSignal returns a channel that receives after a transaction of this
// process that appended events committed; signals coalesce.
func (db *DB) EventSignal() <-chan struct{} { return db.events }

// AppendEvent writes e to the outbox, sets e.ID and replaces e.CreatedAt by
// its stored form. Inside InTx it runs in InTx's transaction (under a
// savepoint, so that a failure leaves the transaction usable) and the
// signal waits for the outermost commit.
func (db *DB) AppendEvent(ctx context.Context, e *atelier.Event) error {
	at := us(e.CreatedAt)
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, db.q(`INSERT INTO outbox (tenant_id, event_type, subject, data, created_at)
			VALUES (?, ?, ?, ?, ?) RETURNING id`),
			e.TenantID, e.Type, e.Subject, string(e.Data), at).Scan(&id)
	})
	if err != nil {
		return db.wrap("append event", err)
	}
	e.ID, e.CreatedAt = id, fromUS(at)
	db.signalEvents()
	return nil
}
