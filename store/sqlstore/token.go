package sqlstore

import (
	"context"
	"time"

	"github.com/atelier-dev/atelier"
)

const tokenCols = `hash, kind, user_id, tenant_id, client_id, access_key, purpose, data, created_at, expires_at`

func scanToken(s scanner) (*atelier.Token, error) {
	var t atelier.Token
	var created, expires int64
	if err := s.Scan(&t.Hash, &t.Kind, &t.UserID, &t.TenantID, &t.ClientID, &t.AccessKey, &t.Purpose, &t.Data,
		&created, &expires); err != nil {
		return nil, err
	}
	t.CreatedAt = fromUS(created)
	t.ExpiresAt = fromUS(expires)
	return &t, nil
}

// CreateToken inserts t; ErrConflict when the hash exists.
func (db *DB) CreateToken(ctx context.Context, t *atelier.Token) error {
	_, err := db.exec(ctx, "create token",
		`INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Kind, t.UserID, t.TenantID, t.ClientID, t.AccessKey, t.Purpose, t.Data,
		us(t.CreatedAt), us(t.ExpiresAt))
	return err
}

// GetToken returns the token with the hash, expired or not, or ErrNotFound.
func (db *DB) GetToken(ctx context.Context, hash string) (*atelier.Token, error) {
	return queryOne(ctx, db, "get token", scanToken, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash)
}

// DeleteToken deletes the token with the hash; an unknown hash is not an
// error.
func (db *DB) DeleteToken(ctx context.Context, hash string) error {
	_, err := db.exec(ctx, "delete token", `DELETE FROM tokens WHERE hash = ?`, hash)
	return err
}

// ConsumeToken deletes the token and returns it in one DELETE … RETURNING
// statement, so that of concurrent calls for one hash exactly one gets the
// token and the others ErrNotFound. Expired tokens are returned too.
func (db *DB) ConsumeToken(ctx context.Context, hash string) (*atelier.Token, error) {
	var t *atelier.Token
	err := db.stmt(ctx, func() (err error) {
		t, err = scanToken(db.w.QueryRowContext(ctx,
			db.q(`DELETE FROM tokens WHERE hash = ? RETURNING `+tokenCols), hash))
		return err
	})
	if err != nil {
		return nil, db.wrap("consume token", err)
	}
	return t, nil
}

// DeleteUserTokens deletes every token of the user except the one with hash
// keep ("" keeps none) and returns how many it deleted. An empty user id
// deletes nothing: tokens of apps acting for themselves have no user.
func (db *DB) DeleteUserTokens(ctx context.Context, userID, keep string) (int, error) {
	if userID == "" {
		return 0, nil
	}
	n, err := db.exec(ctx, "delete user tokens", `DELETE FROM tokens WHERE user_id = ? AND hash <> ?`, userID, keep)
	return int(n), err
}

// DeleteTokensByAccessKey deletes every token issued for the API key. An
// empty access key deletes nothing: tokens not issued for a key have none.
func (db *DB) DeleteTokensByAccessKey(ctx context.Context, accessKey string) error {
	if accessKey == "" {
		return nil
	}
	_, err := db.exec(ctx, "delete tokens by access key", `DELETE FROM tokens WHERE access_key = ?`, accessKey)
	return err
}

// DeleteExpiredTokens deletes the tokens that expired before now and returns
// how many it deleted.
func (db *DB) DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	n, err := db.exec(ctx, "delete expired tokens", `DELETE FROM tokens WHERE expires_at < ?`, us(now))
	return int(n), err
}
