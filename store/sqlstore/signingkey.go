package sqlstore

import (
	"context"

	"github.com/atelier-dev/atelier/store"
)

const signingKeyCols = `id, sealed, created_at`

func scanSigningKey(s scanner) (*store.SigningKey, error) {
	var k store.SigningKey
	var created int64
	if err := s.Scan(&k.ID, &k.Sealed, &created); err != nil {
		return nil, err
	}
	k.CreatedAt = fromUS(created)
	return &k, nil
}

// CreateSigningKey inserts k; ErrConflict when the id exists.
func (db *DB) CreateSigningKey(ctx context.Context, k *store.SigningKey) error {
	_, err := db.exec(ctx, "create signing key",
		`INSERT INTO signing_keys (`+signingKeyCols+`) VALUES (?, ?, ?)`, k.ID, k.Sealed, us(k.CreatedAt))
	return err
}

// ListSigningKeys returns every key, newest first (ties by id, descending).
func (db *DB) ListSigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	return queryAll(ctx, db, "list signing keys", scanSigningKey,
		`SELECT `+signingKeyCols+` FROM signing_keys ORDER BY created_at DESC, id DESC`)
}

// DeleteSigningKey deletes the key; an unknown id is not an error.
func (db *DB) DeleteSigningKey(ctx context.Context, id string) error {
	_, err := db.exec(ctx, "delete signing key", `DELETE FROM signing_keys WHERE id = ?`, id)
	return err
}
