package sqlstore

import (
	"context"
	"database/sql"

	"github.com/atelier-dev/atelier"
)

const userCols = `id, tenant_id, email, name, display_name, mobile, role, status, password_hash, password_changed_at, created_at, updated_at`

func scanUser(s scanner) (*atelier.User, error) {
	var u atelier.User
	var changed, created, updated int64
	if err := s.Scan(&u.ID, &u.TenantID, &u.Email, &u.Name, &u.DisplayName, &u.Mobile, &u.Role, &u.Status,
		&u.PasswordHash, &changed, &created, &updated); err != nil {
		return nil, err
	}
	u.PasswordChangedAt = fromUS(changed)
	u.CreatedAt = fromUS(created)
	u.UpdatedAt = fromUS(updated)
	return &u, nil
}

// CreateUser inserts u; ErrConflict on a duplicate id, or email or name in
// the tenant.
func (db *DB) CreateUser(ctx context.Context, u *atelier.User) error {
	_, err := db.exec(ctx, "create user",
		`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.TenantID, u.Email, u.Name, u.DisplayName, u.Mobile, u.Role, u.Status, u.PasswordHash,
		us(u.PasswordChangedAt), us(u.CreatedAt), us(u.UpdatedAt))
	return err
}

// GetUser returns the user with the id, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, id string) (*atelier.User, error) {
	return queryOne(ctx, db, "get user", scanUser, `SELECT `+userCols+` FROM users WHERE id = ?`, id)
}

// GetUserByEmail returns the user with the email in the tenant, or
// ErrNotFound.
func (db *DB) GetUserByEmail(ctx context.Context, tenantID, email string) (*atelier.User, error) {
	return queryOne(ctx, db, "get user by email", scanUser,
		`SELECT `+userCols+` FROM users WHERE tenant_id = ? AND email = ?`, tenantID, email)
}

// GetUserByName returns the user with the name in the tenant, or
// ErrNotFound.
func (db *DB) GetUserByName(ctx context.Context, tenantID, name string) (*atelier.User, error) {
	return queryOne(ctx, db, "get user by name", scanUser,
		`SELECT `+userCols+` FROM users WHERE tenant_id = ? AND name = ?`, tenantID, name)
}

// FindUsersByEmail returns the users with this email in every tenant,
// ordered by tenant id.
func (db *DB) FindUsersByEmail(ctx context.Context, email string) ([]*atelier.User, error) {
	return queryAll(ctx, db, "find users by email", scanUser,
		`SELECT `+userCols+` FROM users WHERE email = ? ORDER BY tenant_id`, email)
}

// ListUsers returns a tenant's users ordered by name.
func (db *DB) ListUsers(ctx context.Context, tenantID string) ([]*atelier.User, error) {
	return queryAll(ctx, db, "list users", scanUser,
		`SELECT `+userCols+` FROM users WHERE tenant_id = ? ORDER BY name`, tenantID)
}

// CountUsers returns how many users exist in all tenants.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, db.wrap("count users", err)
	}
	return n, nil
}

// fnError marks an error returned by an updater so that it reaches the
// caller unwrapped.
type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

// UpdateUser reads the user, calls fn on it and writes it back, all in one
// transaction that locks the row. The id and tenant cannot change. An error
// from fn aborts the update and is returned as is.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(u *atelier.User) error) (*atelier.User, error) {
	const op = "update user"
	var out *atelier.User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx,
			db.q(`SELECT `+userCols+` FROM users WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		tenantID := u.TenantID
		if err := fn(u); err != nil {
			return fnError{err}
		}
		u.ID, u.TenantID = id, tenantID
		u.PasswordChangedAt = fromUS(us(u.PasswordChangedAt))
		u.CreatedAt = fromUS(us(u.CreatedAt))
		u.UpdatedAt = fromUS(us(u.UpdatedAt))
		_, err = tx.ExecContext(ctx, db.q(`UPDATE users SET email = ?, name = ?, display_name = ?, mobile = ?,
			role = ?, status = ?, password_hash = ?, password_changed_at = ?, created_at = ?, updated_at = ?
			WHERE id = ?`),
			u.Email, u.Name, u.DisplayName, u.Mobile, u.Role, u.Status, u.PasswordHash,
			us(u.PasswordChangedAt), us(u.CreatedAt), us(u.UpdatedAt), id)
		if err != nil {
			return err
		}
		out = u
		return nil
	})
	if fe, ok := err.(fnError); ok {
		return nil, fe.err
	}
	if err != nil {
		return nil, db.wrap(op, err)
	}
	return out, nil
}
