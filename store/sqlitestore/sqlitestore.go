// Package sqlitestore is the default metadata store: store.Store over an
// embedded SQLite database (modernc.org/sqlite, pure Go, no cgo).
//
// The database runs in WAL mode with foreign keys on. Writes and transactions
// go through a pool of one connection, so there is a single writer and its
// transactions begin IMMEDIATE; reads go through a separate pool of
// read-only connections that WAL lets run beside the writer.
package sqlitestore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// pragmas apply to every pooled connection. busy_timeout comes first so that
// the others wait for a lock instead of failing.
const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(ON)&_pragma=synchronous(NORMAL)"

// Open opens or creates the SQLite database at path, creating its parent
// directory if missing, and applies pending migrations. path ":memory:"
// gives a private in-memory database held by a single connection. The
// returned store is safe for concurrent use.
func Open(ctx context.Context, path string) (store.Store, error) {
	w, r, err := openPools(path)
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		_ = w.Close()
		_ = r.Close()
		return nil, fmt.Errorf("sqlite: migrations: %w", err)
	}
	db, err := sqlstore.New(ctx, w, r, sqlstore.Flavor{
		Name:              "sqlite",
		Dialect:           goose.DialectSQLite3,
		Migrations:        sub,
		IsUniqueViolation: hasCode(sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY),
		// ON DELETE RESTRICT fails with SQLITE_CONSTRAINT_TRIGGER.
		IsForeignKeyViolation: hasCode(sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_TRIGGER),
		IsRetryable:           hasCode(sqlite3.SQLITE_BUSY, sqlite3.SQLITE_BUSY_SNAPSHOT),
		IsFull:                hasPrimaryCode(sqlite3.SQLITE_FULL),
		IsUnavailable:         hasPrimaryCode(sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN),
	})
	if err != nil {
		return nil, err
	}
	return db, nil
}

// openPools opens the writer and reader pools of the database at path; for
// ":memory:" they are one pool of one connection.
func openPools(path string) (w, r *sql.DB, err error) {
	if path == ":memory:" {
		db, err := sql.Open("sqlite", ":memory:?"+pragmas)
		if err != nil {
			return nil, nil, fmt.Errorf("sqlite: open: %w", err)
		}
		// One connection that never closes: every connection to
		// ":memory:" is a database of its own.
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
		return db, db, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: database path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o750); err != nil {
		return nil, nil, fmt.Errorf("sqlite: create database directory: %w", err)
	}
	if err := makePrivate(abs); err != nil {
		return nil, nil, err
	}
	// A file: URI, so that any character in the path is escaped.
	uri := "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + pragmas
	if w, err = sql.Open("sqlite", uri+"&_txlock=immediate"); err != nil {
		return nil, nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if r, err = sql.Open("sqlite", uri+"&_pragma=query_only(1)"); err != nil {
		_ = w.Close()
		return nil, nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return w, r, nil
}

// makePrivate creates the database file at path with mode 0600 if it is
// missing, and sets that mode on it and on its WAL and shared-memory files
// if they exist (an older server made them 0644). SQLite creates the WAL
// and shared-memory files with the database file's mode, so they follow.
// The database holds password hashes, tokens' hashes and sealed secrets.
func makePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("sqlite: make the database private: %w", err)
		}
	}
	return nil
}

// hasCode returns a classifier for SQLite's extended result codes.
func hasCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code() == c {
				return true
			}
		}
		return false
	}
}

// hasPrimaryCode returns a classifier for SQLite's primary result codes,
// whatever their extended code (SQLITE_IOERR_WRITE is an SQLITE_IOERR).
func hasPrimaryCode(codes ...int) func(error) bool {
	return func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code()&0xff == c {
				return true
			}
		}
		return false
	}
}
