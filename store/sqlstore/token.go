package sqlstore

import (
	"context"
	"time"

	"github.com/atelier-dev/atelier"
)

const tokenCols = `hash, kind, user_id, tenant_id, client_id, access_key, created_at, expires_at`

func scanToken(s scanner) (*atelier.Token, error) {
	var t atelier.Token
	var created, expires int64
	if err := s.Scan(&t.Hash, &t.Kind, &t.UserID, &t.TenantID, &t.ClientID, &t.AccessKey, &created, &expires); err != nil {
		return nil, err
	}
	t.CreatedAt = fromUS(created)
	t.ExpiresAt = fromUS(expires)
	return &t, nil
}

// CreateToken inserts t; ErrConflict when the hash exists.
func (db *DB) CreateToken(ctx context.Context, t *atelier.Token) error {
	_, err := db.exec(ctx, "create token",
		`INSERT INTO tokens (`+tokenCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Kind, t.UserID, t.TenantID, t.ClientID, t.AccessKey, us(t.CreatedAt), us(t.ExpiresAt))
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

// DeleteTokensByAccessKey deletes every token issued for the API key.
func (db *DB) DeleteTokensByAccessKey(ctx context.Context, accessKey string) error {
	_, err := db.exec(ctx, "delete tokens by access key", `DELETE FROM tokens WHERE access_key = ?`, accessKey)
	return err
}

// DeleteExpiredTokens deletes the tokens that expired before now and returns
// how many it deleted.
func (db *DB) DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	n, err := db.exec(ctx, "delete expired tokens", `DELETE FROM tokens WHERE expires_at < ?`, us(now))
	return int(n), err
}
