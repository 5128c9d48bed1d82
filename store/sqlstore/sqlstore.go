// Package sqlstore implements store.Store over database/sql once, for every
// SQL backend. A backend (store/sqlitestore, store/pgstore) opens its
// connection pools and passes them to New with a Flavor that says how its
// placeholders look, how its errors are classified and which migrations it
// runs.
//
// Times are stored as BIGINT unix microseconds, so they round-trip in UTC at
// microsecond precision on every backend. Times that may be unset (a user's
// locked_until, the updated_at of tenants and apps, a challenge's sent_at)
// store the zero time as 0 and read it back as time.Time{}. String lists
// (password history, redirect URIs) are JSON arrays; nil and empty lists
// both read back as an empty, non-nil slice. Object keys compare byte-wise:
// the backend's schema must give the key column a binary collation.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Flavor describes what differs between SQL backends. A Flavor is a plain
// value; it is read-only after New and so safe for concurrent use.
type Flavor struct {
	// Name names the backend in error messages, e.g. "sqlite".
	Name string
	// Dialect is the goose dialect of the migrations.
	Dialect goose.Dialect
	// Migrations holds the versioned goose migrations at its root.
	Migrations fs.FS
	// DollarPlaceholders rebinds the `?` placeholders of every query to
	// `$1`, `$2`, … (PostgreSQL).
	DollarPlaceholders bool
	// ForUpdate is appended to the SELECT of a read-modify-write, e.g.
	// " FOR UPDATE"; empty where the transaction already excludes other
	// writers (SQLite's single writer).
	ForUpdate string
	// ForShare is appended to the SELECT that checks, inside a
	// transaction, that a referenced row exists (a user's organization, an
	// organization's parent), so that a concurrent delete waits for the
	// transaction. Empty means " FOR SHARE" when ForUpdate is set, else
	// nothing.
	ForShare string
	// SkipLocked says that a SELECT … FOR UPDATE may add SKIP LOCKED, so
	// that concurrent queue consumers (FanOut, ClaimDeliveries) take
	// disjoint rows without waiting (PostgreSQL). False where a single
	// writer already serializes them (SQLite).
	SkipLocked bool
	// AdvisoryLock makes migrations take PostgreSQL's session advisory lock,
	// so that servers starting together migrate one at a time.
	AdvisoryLock bool
	// UTF8Keys says that the database accepts only valid UTF-8 text, so the
	// upper bound of a prefix scan must be valid UTF-8 too.
	UTF8Keys bool
	// IsUniqueViolation reports whether err is a unique or primary key
	// constraint violation.
	IsUniqueViolation func(err error) bool
	// IsForeignKeyViolation reports whether err is a foreign key violation.
	IsForeignKeyViolation func(err error) bool
	// IsRetryable reports whether a transaction failed only because of a
	// concurrent one (serialization failure, deadlock, busy) and may be run
	// again. Nil means never.
	IsRetryable func(err error) bool
	// IsFull reports whether err says that the database has no space left
	// (SQLite's SQLITE_FULL, PostgreSQL's disk_full). Nil means never.
	IsFull func(err error) bool
	// IsUnavailable reports whether err says that the database cannot be
	// reached or cannot write: a refused or broken connection, a server
	// shutting down, an I/O error, a read-only file. Nil means never.
	IsUnavailable func(err error) bool
}

// DB is a store.Store over two database/sql pools: a writer pool for
// writes and transactions, a reader pool for plain reads. They may be the
// same pool. A DB from New is safe for concurrent use; the DB that InTx
// hands to its function runs every method in that transaction and belongs
// to the function's goroutine.
type DB struct {
	*core
	// w and r run the queries: the writer and reader pools, or both the
	// transaction of InTx.
	w, r querier
	// tx is the transaction of InTx this DB runs in; nil for the pools.
	tx *txState
}

// core is what a DB and the DBs of its transactions share.
type core struct {
	wdb, rdb *sql.DB
	flavor   Flavor

	queries sync.Map // query with ? → rebound query
	events  chan struct{}
	queue   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// querier runs queries: a *sql.DB or a *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var _ store.Store = (*DB)(nil)

// maxAttempts bounds how often a transaction is retried after a retryable
// failure.
const maxAttempts = 5

// New returns a DB over the writer pool w and reader pool r (which may be the
// same) and applies the flavor's pending migrations through w. The DB owns
// both pools: Close closes them, and New closes them when it fails.
func New(ctx context.Context, w, r *sql.DB, f Flavor) (*DB, error) {
	if f.ForShare == "" && f.ForUpdate != "" {
		f.ForShare = " FOR SHARE"
	}
	db := &DB{core: &core{wdb: w, rdb: r, flavor: f, events: make(chan struct{}, 1), queue: make(chan struct{}, 1)}, w: w, r: r}
	if err := db.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func (db *DB) migrate(ctx context.Context) error {
	var opts []goose.ProviderOption
	if db.flavor.AdvisoryLock {
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return fmt.Errorf("%s: migration lock: %w", db.flavor.Name, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(db.flavor.Dialect, db.wdb, db.flavor.Migrations, opts...)
	if err != nil {
		return fmt.Errorf("%s: migrations: %w", db.flavor.Name, err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("%s: migrate: %w", db.flavor.Name, err)
	}
	return nil
}

// Ping reports whether both pools answer; inside InTx, whether the
// transaction still does.
func (db *DB) Ping(ctx context.Context) error {
	if db.tx != nil {
		var one int
		if err := db.w.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			return db.wrap("ping", err)
		}
		return nil
	}
	if err := db.wdb.PingContext(ctx); err != nil {
		return db.wrap("ping", err)
	}
	if db.rdb != db.wdb {
		if err := db.rdb.PingContext(ctx); err != nil {
			return db.wrap("ping", err)
		}
	}
	return nil
}

// Close closes both pools. It is safe to call twice. Inside InTx it does
// nothing: the transaction ends with InTx.
func (db *DB) Close() error {
	if db.tx != nil {
		return nil
	}
	db.closeOnce.Do(func() {
		errR := error(nil)
		if db.rdb != db.wdb {
			errR = db.rdb.Close()
		}
		db.closeErr = errors.Join(db.wdb.Close(), errR)
	})
	return db.closeErr
}

// q returns query with its placeholders in the flavor's style, rebinding each
// distinct query string once.
func (db *DB) q(query string) string {
	if !db.flavor.DollarPlaceholders {
		return query
	}
	if v, ok := db.queries.Load(query); ok {
		return v.(string)
	}
	v := rebind(query)
	db.queries.Store(query, v)
	return v
}

// rebind turns `?` placeholders into `$1`, `$2`, …. Our queries never hold a
// `?` inside a literal.
func rebind(query string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// wrap adds op to err and maps no-rows and unique violations to the store's
// sentinels. Other errors keep their cause.
func (db *DB) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, store.ErrNotFound)
	case db.flavor.IsUniqueViolation(err):
		return fmt.Errorf("%s: %s: %w: %w", db.flavor.Name, op, store.ErrConflict, err)
	}
	return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, db.classify(err))
}

// classify turns the error of a full or unreachable database into the
// storage code that callers answer with (store's error contract); any other
// error, and one that already carries a code, is returned as it is.
func (db *DB) classify(err error) error {
	var coded *atelier.Error
	switch {
	case errors.As(err, &coded), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case db.flavor.IsFull != nil && db.flavor.IsFull(err):
		return atelier.CodeStoreFull.Wrap(err, "The database has no space left on its disk; nothing was changed.")
	case db.flavor.IsUnavailable != nil && db.flavor.IsUnavailable(err):
		return atelier.CodeStoreUnavailable.Wrap(err, "The database does not answer; retry in %d seconds.", atelier.StoreRetryAfter)
	}
	return err
}

// notFound is the error for a missing record.
func (db *DB) notFound(op string) error {
	return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, store.ErrNotFound)
}

// inTx runs fn in a transaction on the writer pool, committing when fn
// returns nil and retrying the whole transaction after a retryable failure.
// fn's error is returned unwrapped so that callers can classify it. Inside
// InTx, fn runs in InTx's transaction instead, under a savepoint: its
// changes are undone when it fails, and commit with InTx's transaction.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if db.tx != nil {
		return db.tx.savepoint(ctx, func() error { return fn(db.tx.tx) })
	}
	var err error
	for range maxAttempts {
		err = db.tryTx(ctx, fn)
		if err == nil || !db.retryable(ctx, err) {
			return err
		}
	}
	return err
}

// retryable reports whether a transaction that failed with err may run
// again.
func (db *DB) retryable(ctx context.Context, err error) bool {
	return db.flavor.IsRetryable != nil && db.flavor.IsRetryable(err) && ctx.Err() == nil
}

func (db *DB) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// stmt runs a single write statement. Inside InTx it runs under a
// savepoint, so that a failed statement (a unique violation the caller
// expects) leaves the transaction usable: PostgreSQL aborts a whole
// transaction on any failed statement otherwise.
func (db *DB) stmt(ctx context.Context, fn func() error) error {
	if db.tx == nil {
		return fn()
	}
	return db.tx.savepoint(ctx, fn)
}

// execOne runs a write that must affect a row; none affected is ErrNotFound.
func (db *DB) execOne(ctx context.Context, op, query string, args ...any) error {
	n, err := db.exec(ctx, op, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return db.notFound(op)
	}
	return nil
}

// exec runs a write and returns the number of rows it affected.
func (db *DB) exec(ctx context.Context, op, query string, args ...any) (int64, error) {
	var n int64
	err := db.stmt(ctx, func() error {
		res, err := db.w.ExecContext(ctx, db.q(query), args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, db.wrap(op, err)
	}
	return n, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// queryAll runs a read on the reader pool and scans every row with scan.
func queryAll[T any](ctx context.Context, db *DB, op string, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := db.r.QueryContext(ctx, db.q(query), args...)
	if err != nil {
		return nil, db.wrap(op, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, db.wrap(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}

// queryOne runs a single-row read on the reader pool.
func queryOne[T any](ctx context.Context, db *DB, op string, scan func(scanner) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(db.r.QueryRowContext(ctx, db.q(query), args...))
	if err != nil {
		return nil, db.wrap(op, err)
	}
	return v, nil
}

// us converts t to the stored form: unix microseconds.
func us(t time.Time) int64 { return t.UnixMicro() }

// fromUS converts a stored time back, in UTC.
func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

// usz is us for times that may be unset: the zero time is stored as 0.
func usz(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromUSZ is the inverse of usz: 0 reads back as the zero time.
func fromUSZ(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromUS(v)
}

// jsonStrings encodes a string list as a JSON array; nil is "[]".
func jsonStrings(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// parseStrings decodes a JSON array of strings. Nil and empty lists both
// read back as an empty, non-nil slice, so that every backend returns the
// same value.
func parseStrings(s string) ([]string, error) {
	out := []string{}
	if s == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode string list: %w", err)
	}
	if out == nil { // "null"
		out = []string{}
	}
	return out, nil
}

// update runs a read-modify-write transaction and classifies its error: an
// updater's error (fnError) is returned as is, anything else is wrapped
// with op.
func (db *DB) update(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	err := db.inTx(ctx, fn)
	if fe, ok := err.(fnError); ok {
		return fe.err
	}
	return db.wrap(op, err)
}

// txExecOne runs a write inside tx that must affect a row; none affected
// is sql.ErrNoRows, which wrap turns into ErrNotFound.
func (db *DB) txExecOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	n, err := db.txExec(ctx, tx, query, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// txExec runs a write inside tx and returns the number of rows it affected.
func (db *DB) txExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (int64, error) {
	res, err := tx.ExecContext(ctx, db.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqlLimit turns a caller's limit into a SQL LIMIT: zero or less means no
// limit.
func sqlLimit(limit int) int64 {
	if limit <= 0 {
		return math.MaxInt32
	}
	return int64(limit)
}
