package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/atelier-dev/atelier/store"
)

const challengeCols = `id, user_id, channel, code_hash, attempts, sends, sent_at, expires_at, created_at`

func scanChallenge(s scanner) (*store.Challenge, error) {
	var c store.Challenge
	var attempts, sends, sent, expires, created int64
	if err := s.Scan(&c.ID, &c.UserID, &c.Channel, &c.CodeHash, &attempts, &sends, &sent, &expires, &created); err != nil {
		return nil, err
	}
	c.Attempts, c.Sends = int(attempts), int(sends)
	c.SentAt = fromUSZ(sent)
	c.ExpiresAt = fromUS(expires)
	c.CreatedAt = fromUS(created)
	return &c, nil
}

// PutChallenge inserts the challenge or replaces the one with c.ID.
func (db *DB) PutChallenge(ctx context.Context, c *store.Challenge) error {
	_, err := db.exec(ctx, "put challenge",
		`INSERT INTO challenges (`+challengeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET user_id = excluded.user_id, channel = excluded.channel,
			code_hash = excluded.code_hash, attempts = excluded.attempts, sends = excluded.sends,
			sent_at = excluded.sent_at, expires_at = excluded.expires_at, created_at = excluded.created_at`,
		c.ID, c.UserID, c.Channel, c.CodeHash, int64(c.Attempts), int64(c.Sends),
		usz(c.SentAt), us(c.ExpiresAt), us(c.CreatedAt))
	return err
}

// GetChallenge returns the challenge with the id, expired or not, or
// ErrNotFound.
func (db *DB) GetChallenge(ctx context.Context, id string) (*store.Challenge, error) {
	return queryOne(ctx, db, "get challenge", scanChallenge,
		`SELECT `+challengeCols+` FROM challenges WHERE id = ?`, id)
}

// UpdateChallenge reads the challenge, calls fn on it and writes back every
// field but the id, in one transaction that locks the row. An error from fn
// is returned as is; ErrNotFound when missing.
func (db *DB) UpdateChallenge(ctx context.Context, id string, fn func(c *store.Challenge) error) (*store.Challenge, error) {
	var out *store.Challenge
	err := db.update(ctx, "update challenge", func(tx *sql.Tx) error {
		c, err := scanChallenge(tx.QueryRowContext(ctx,
			db.q(`SELECT `+challengeCols+` FROM challenges WHERE id = ?`+db.flavor.ForUpdate), id))
		if err != nil {
			return err
		}
		if err := fn(c); err != nil {
			return fnError{err}
		}
		c.ID = id
		c.SentAt = fromUSZ(usz(c.SentAt))
		c.ExpiresAt = fromUS(us(c.ExpiresAt))
		c.CreatedAt = fromUS(us(c.CreatedAt))
		_, err = tx.ExecContext(ctx, db.q(`UPDATE challenges SET user_id = ?, channel = ?, code_hash = ?,
			attempts = ?, sends = ?, sent_at = ?, expires_at = ?, created_at = ? WHERE id = ?`),
			c.UserID, c.Channel, c.CodeHash, int64(c.Attempts), int64(c.Sends),
			usz(c.SentAt), us(c.ExpiresAt), us(c.CreatedAt), id)
		if err != nil {
			return err
		}
		out = c
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteChallenge deletes the challenge; an unknown id is not an error.
func (db *DB) DeleteChallenge(ctx context.Context, id string) error {
	_, err := db.exec(ctx, "delete challenge", `DELETE FROM challenges WHERE id = ?`, id)
	return err
}

// DeleteExpiredChallenges deletes the challenges that expired before now and
// returns how many it deleted.
func (db *DB) DeleteExpiredChallenges(ctx context.Context, now time.Time) (int, error) {
	n, err := db.exec(ctx, "delete expired challenges", `DELETE FROM challenges WHERE expires_at < ?`, us(now))
	return int(n), err
}
