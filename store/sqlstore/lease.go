package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/atelier-dev/atelier/store"
)

func scanLease(s scanner) (*store.Lease, error) {
	var l store.Lease
	var acquired, expires int64
	if err := s.Scan(&l.Name, &l.Holder, &acquired, &expires); err != nil {
		return nil, err
	}
	l.AcquiredAt, l.ExpiresAt = fromUS(acquired), fromUS(expires)
	return &l, nil
}

// AcquireLease takes or renews the lease in one upsert whose update applies
// only to the holder's own lease or an ended one; the row lock of the
// upsert (PostgreSQL) or the single writer (SQLite) makes it atomic.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (*store.Lease, error) {
	const op = "acquire lease"
	for range maxAttempts {
		l, err := db.tryAcquireLease(ctx, name, holder, now, expires)
		if errors.Is(err, store.ErrNotFound) {
			continue // released between the upsert and the read: try again
		}
		return l, err
	}
	return nil, db.notFound(op)
}

func (db *DB) tryAcquireLease(ctx context.Context, name, holder string, now, expires time.Time) (*store.Lease, error) {
	const op = "acquire lease"
	var l *store.Lease
	err := db.stmt(ctx, func() (err error) {
		l, err = scanLease(db.w.QueryRowContext(ctx, db.q(`INSERT INTO leases (name, holder, acquired_at, expires_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
				holder = excluded.holder,
				expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
			RETURNING name, holder, acquired_at, expires_at`),
			name, holder, us(now), us(expires), us(now)))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		// Another holder has it: report who.
		return db.GetLease(ctx, name)
	}
	if err != nil {
		return nil, db.wrap(op, err)
	}
	return l, nil
}

// ReleaseLease frees the lease if holder has it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := db.exec(ctx, "release lease", `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
	return err
}

// GetLease returns the lease as stored.
func (db *DB) GetLease(ctx context.Context, name string) (*store.Lease, error) {
	return queryOne(ctx, db, "get lease", scanLease,
		`SELECT name, holder, acquired_at, expires_at FROM leases WHERE name = ?`, name)
}
