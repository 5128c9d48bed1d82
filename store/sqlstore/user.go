package sqlstore

import (
	"context"
	"database/sql"

	"github.com/atelier-dev/atelier"
)

const userCols = `id, tenant_id, email, name, display_name, mobile, role, status, org_id, password_hash,
	password_changed_at, password_history, must_change_password, mfa, totp_secret, totp_enabled, failed_logins,
	locked_until, created_at, updated_at`

func scanUser(s scanner) (*atelier.User, error) {
	var u atelier.User
	var history string
	var failed, changed, locked, created, updated int64
	if err := s.Scan(&u.ID, &u.TenantID, &u.Email, &u.Name, &u.DisplayName, &u.Mobile, &u.Role, &u.Status, &u.OrgID,
		&u.PasswordHash, &changed, &history, &u.MustChangePassword, &u.MFA, &u.TOTPSecret, &u.TOTPEnabled,
		&failed, &locked, &created, &updated); err != nil {
		return nil, err
	}
	h, err := parseStrings(history)
	if err != nil {
		return nil, err
	}
	u.PasswordHistory = h
	u.FailedLogins = int(failed)
	u.PasswordChangedAt = fromUS(changed)
	u.LockedUntil = fromUSZ(locked)
	u.CreatedAt = fromUS(created)
	u.UpdatedAt = fromUS(updated)
	return &u, nil
}

// checkOrg makes sure, inside tx, that orgID names an organization of the
// tenant and keeps it from being deleted until tx ends; sql.ErrNoRows when
// it does not.
func (db *DB) checkOrg(ctx context.Context, tx *sql.Tx, tenantID, orgID string) error {
	var one int
	return tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM orgs WHERE id = ? AND tenant_id = ?`+db.flavor.ForShare),
		orgID, tenantID).Scan(&one)
}

// CreateUser inserts u and replaces its times by their stored forms;
// ErrConflict on a duplicate id, or email or name in the tenant. A user with
// an OrgID is inserted in the transaction that checks that the organization
// exists in the tenant: ErrNotFound when it does not, so that a concurrent
// DeleteOrg cannot leave the user pointing at a deleted organization.
func (db *DB) CreateUser(ctx context.Context, u *atelier.User) error {
	roundUserTimes(u)
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if u.OrgID != "" {
			if err := db.checkOrg(ctx, tx, u.TenantID, u.OrgID); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, db.q(`INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
			u.ID, u.TenantID, u.Email, u.Name, u.DisplayName, u.Mobile, u.Role, u.Status, u.OrgID, u.PasswordHash,
			us(u.PasswordChangedAt), jsonStrings(u.PasswordHistory), u.MustChangePassword, u.MFA, u.TOTPSecret,
			u.TOTPEnabled, int64(u.FailedLogins), usz(u.LockedUntil), us(u.CreatedAt), us(u.UpdatedAt))
		return err
	})
	return db.wrap("create user", err)
}

// roundUserTimes replaces u's times by what the store keeps of them, so
// that what a write returns equals what a later read gives.
func roundUserTimes(u *atelier.User) {
	u.PasswordChangedAt = fromUS(us(u.PasswordChangedAt))
	u.LockedUntil = fromUSZ(usz(u.LockedUntil))
	u.CreatedAt = fromUS(us(u.CreatedAt))
	u.UpdatedAt = fromUS(us(u.UpdatedAt))
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
// transaction that locks the row, and returns it as stored. The id and
// tenant cannot change. An error from fn aborts the update and is returned
// as is. Moving the user to an organization that does not exist in the
// tenant gives ErrNotFound.
func (db *DB) UpdateUser(ctx context.Context, id string, fn func(u *atelier.User) error) (*atelier.User, error) {
	var out *atelier.User
	err := db.update(ctx, "update user", func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx,
			db.q(`SELECT `+userCols+` FROM users WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		tenantID, orgID := u.TenantID, u.OrgID
		if err := fn(u); err != nil {
			return fnError{err}
		}
		u.ID, u.TenantID = id, tenantID
		if u.OrgID != orgID && u.OrgID != "" {
			if err := db.checkOrg(ctx, tx, tenantID, u.OrgID); err != nil {
				return err
			}
		}
		roundUserTimes(u)
		if u.PasswordHistory == nil {
			u.PasswordHistory = []string{}
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE users SET email = ?, name = ?, display_name = ?, mobile = ?,
			role = ?, status = ?, org_id = ?, password_hash = ?, password_changed_at = ?, password_history = ?,
			must_change_password = ?, mfa = ?, totp_secret = ?, totp_enabled = ?, failed_logins = ?,
			locked_until = ?, created_at = ?, updated_at = ?
			WHERE id = ?`),
			u.Email, u.Name, u.DisplayName, u.Mobile, u.Role, u.Status, u.OrgID, u.PasswordHash,
			us(u.PasswordChangedAt), jsonStrings(u.PasswordHistory), u.MustChangePassword, u.MFA, u.TOTPSecret,
			u.TOTPEnabled, int64(u.FailedLogins), usz(u.LockedUntil), us(u.CreatedAt), us(u.UpdatedAt), id)
		if err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteUser deletes the user with its tokens, API keys and app grants in
// one transaction and returns the user as it was, read under the row's
// lock; ErrNotFound when missing.
func (db *DB) DeleteUser(ctx context.Context, id string) (*atelier.User, error) {
	var out *atelier.User
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		u, err := scanUser(tx.QueryRowContext(ctx,
			db.q(`SELECT `+userCols+` FROM users WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		if err := db.txExecOne(ctx, tx, `DELETE FROM users WHERE id = ?`, id); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM tokens WHERE user_id = ?`,
			`DELETE FROM api_keys WHERE user_id = ?`,
			`DELETE FROM app_grants WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.q(q), id); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	if err != nil {
		return nil, db.wrap("delete user", err)
	}
	return out, nil
}
