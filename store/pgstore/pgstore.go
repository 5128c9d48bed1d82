// Package pgstore is store.Store over PostgreSQL, through pgx's database/sql
// driver. Reads and writes share one pool; read-modify-write locks its row
// with SELECT … FOR UPDATE, and migrations take an advisory lock so that
// servers starting together migrate one at a time.
package pgstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/atelier-dev/atelier/store"
	"github.com/atelier-dev/atelier/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// PostgreSQL error codes (SQLSTATE) that the store classifies.
const (
	uniqueViolation      = "23505"
	foreignKeyViolation  = "23503"
	serializationFailure = "40001"
	deadlockDetected     = "40P01"
	diskFull             = "53100"
)

// unavailableCodes are the SQLSTATEs of a server that cannot serve now:
// too many connections, shutting down, starting up, crashed.
var unavailableCodes = hasCode("53300", "57P01", "57P02", "57P03")

// unavailable reports whether err says that the server cannot be reached
// or cannot serve: a failed connect, a connection exception (class 08), a
// connection that broke mid-statement, or one of unavailableCodes.
func unavailable(err error) bool {
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne):
		return true
	case errors.As(err, &pe):
		return strings.HasPrefix(pe.Code, "08") || unavailableCodes(err)
	}
	return errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

// Open connects to the PostgreSQL database at url (postgres://…) and applies
// pending migrations. The returned store is safe for concurrent use.
func Open(ctx context.Context, url string) (store.Store, error) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: migrations: %w", err)
	}
	s, err := sqlstore.New(ctx, db, db, sqlstore.Flavor{
		Name:                  "postgres",
		Dialect:               goose.DialectPostgres,
		Migrations:            sub,
		DollarPlaceholders:    true,
		ForUpdate:             " FOR UPDATE",
		SkipLocked:            true,
		AdvisoryLock:          true,
		UTF8Keys:              true,
		IsUniqueViolation:     hasCode(uniqueViolation),
		IsForeignKeyViolation: hasCode(foreignKeyViolation),
		IsRetryable:           hasCode(serializationFailure, deadlockDetected),
		IsFull:                hasCode(diskFull),
		IsUnavailable:         unavailable,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// hasCode returns a classifier for PostgreSQL SQLSTATE codes.
func hasCode(codes ...string) func(error) bool {
	return func(err error) bool {
		var e *pgconn.PgError
		if !errors.As(err, &e) {
			return false
		}
		for _, c := range codes {
			if e.Code == c {
				return true
			}
		}
		return false
	}
}
