package sqlstore

import (
	"context"
	"database/sql"

	"github.com/atelier-dev/atelier"
)

// appendEvent writes e to the outbox inside tx and sets e.ID. The caller
// calls db.signalEvents once tx committed.
func (db *DB) appendEvent(ctx context.Context, tx *sql.Tx, e *atelier.Event) error {
	return tx.QueryRowContext(ctx, db.q(`INSERT INTO outbox (tenant_id, event_type, subject, data, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`),
		e.TenantID, e.Type, e.Subject, string(e.Data), us(e.CreatedAt)).Scan(&e.ID)
}

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

// AppendEvent writes e to the outbox on its own and sets e.ID.
func (db *DB) AppendEvent(ctx context.Context, e *atelier.Event) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error { return db.appendEvent(ctx, tx, e) })
	if err != nil {
		return db.wrap("append event", err)
	}
	db.signalEvents()
	return nil
}
