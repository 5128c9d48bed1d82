package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

const uploadCols = `id, bucket_id, object_key, blob_key, created_at, updated_at`

func scanUpload(s scanner) (*store.Upload, error) {
	var u store.Upload
	var created, updated int64
	if err := s.Scan(&u.ID, &u.BucketID, &u.Key, &u.BlobKey, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt = fromUS(created)
	u.UpdatedAt = fromUS(updated)
	return &u, nil
}

// BeginUpload records a pending upload; ErrConflict when the id exists.
func (db *DB) BeginUpload(ctx context.Context, u *store.Upload) error {
	_, err := db.exec(ctx, "begin upload",
		`INSERT INTO uploads (`+uploadCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.BucketID, u.Key, u.BlobKey, us(u.CreatedAt), us(u.UpdatedAt))
	return err
}

// TouchUpload moves an upload's heartbeat to now; ErrNotFound when the
// upload is gone.
func (db *DB) TouchUpload(ctx context.Context, id string, now time.Time) error {
	return db.execOne(ctx, "touch upload", `UPDATE uploads SET updated_at = ? WHERE id = ?`, us(now), id)
}

// AbortUpload deletes a pending upload record; unknown ids are not an error.
func (db *DB) AbortUpload(ctx context.Context, id string) error {
	_, err := db.exec(ctx, "abort upload", `DELETE FROM uploads WHERE id = ?`, id)
	return err
}

// StaleUploads returns up to limit pending uploads whose heartbeat is older
// than before, oldest heartbeat first.
func (db *DB) StaleUploads(ctx context.Context, before time.Time, limit int) ([]*store.Upload, error) {
	return queryAll(ctx, db, "stale uploads", scanUpload,
		`SELECT `+uploadCols+` FROM uploads WHERE updated_at < ? ORDER BY updated_at, id LIMIT ?`,
		us(before), sqlLimit(limit))
}

// errGone marks a commit whose upload or bucket disappeared.
var errGone = errors.New("upload or bucket gone")

// CommitUpload makes o visible in one transaction: it deletes the pending
// upload, inserts or replaces the object and queues the replaced blob for
// deletion at now, returning its key. ErrNotFound when the upload or the
// bucket is gone.
func (db *DB) CommitUpload(ctx context.Context, uploadID string, o *atelier.Object, now time.Time) (string, error) {
	const op = "commit upload"
	var replaced string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		replaced = ""
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM uploads WHERE id = ?`), uploadID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errGone
		}
		// Insert, or else lock and replace the existing row. A concurrent
		// commit of the same key makes the insert wait and then do
		// nothing; a concurrent delete makes the lock find no row, so try
		// again.
		for range maxAttempts {
			res, err := tx.ExecContext(ctx, db.q(`INSERT INTO objects
				(bucket_id, object_key, blob_key, size, etag, sha256, content_type, last_modified)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket_id, object_key) DO NOTHING`),
				o.BucketID, o.Key, o.BlobKey, o.Size, o.ETag, o.SHA256, o.ContentType, us(o.LastModified))
			if err != nil {
				if db.flavor.IsForeignKeyViolation(err) {
					return errGone
				}
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				return nil
			}
			var old string
			err = tx.QueryRowContext(ctx, db.q(`SELECT blob_key FROM objects WHERE bucket_id = ? AND object_key = ?`+
				db.flavor.ForUpdate), o.BucketID, o.Key).Scan(&old)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, db.q(`UPDATE objects SET blob_key = ?, size = ?, etag = ?, sha256 = ?,
				content_type = ?, last_modified = ? WHERE bucket_id = ? AND object_key = ?`),
				o.BlobKey, o.Size, o.ETag, o.SHA256, o.ContentType, us(o.LastModified), o.BucketID, o.Key)
			if err != nil {
				return err
			}
			if old != o.BlobKey {
				if err := db.queueTx(ctx, tx, old, now); err != nil {
					return err
				}
				replaced = old
			}
			return nil
		}
		return fmt.Errorf("object %q kept changing under the commit", o.Key)
	})
	if errors.Is(err, errGone) {
		return "", db.notFound(op)
	}
	if err != nil {
		return "", db.wrap(op, err)
	}
	return replaced, nil
}

const objectCols = `b.name, o.bucket_id, o.object_key, o.blob_key, o.size, o.etag, o.sha256, o.content_type, o.last_modified`

const objectFrom = ` FROM objects o JOIN buckets b ON b.id = o.bucket_id `

func scanObject(s scanner) (*atelier.Object, error) {
	var o atelier.Object
	var modified int64
	if err := s.Scan(&o.Bucket, &o.BucketID, &o.Key, &o.BlobKey, &o.Size, &o.ETag, &o.SHA256, &o.ContentType,
		&modified); err != nil {
		return nil, err
	}
	o.LastModified = fromUS(modified)
	return &o, nil
}

// GetObject returns the object, or ErrNotFound.
func (db *DB) GetObject(ctx context.Context, bucketID, key string) (*atelier.Object, error) {
	return queryOne(ctx, db, "get object", scanObject,
		`SELECT `+objectCols+objectFrom+`WHERE o.bucket_id = ? AND o.object_key = ?`, bucketID, key)
}

// DeleteObject removes the object and queues its blob for deletion at now in
// one transaction, returning the blob key; ErrNotFound when absent.
func (db *DB) DeleteObject(ctx context.Context, bucketID, key string, now time.Time) (string, error) {
	var blobKey string
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM objects WHERE bucket_id = ? AND object_key = ? RETURNING blob_key`),
			bucketID, key).Scan(&blobKey)
		if err != nil {
			return err
		}
		return db.queueTx(ctx, tx, blobKey, now)
	})
	if err != nil {
		return "", db.wrap("delete object", err)
	}
	return blobKey, nil
}

// ListObjects returns up to limit objects whose key starts with prefix and
// sorts strictly after after, in byte order. The prefix is matched as a key
// range, so no character in it is special.
func (db *DB) ListObjects(ctx context.Context, bucketID, prefix, after string, limit int) ([]*atelier.Object, error) {
	query := `SELECT ` + objectCols + objectFrom + `WHERE o.bucket_id = ?`
	args := []any{bucketID}
	if after >= prefix {
		query += ` AND o.object_key > ?`
		args = append(args, after)
	} else {
		query += ` AND o.object_key >= ?`
		args = append(args, prefix)
	}
	if end, ok := prefixEnd(prefix, db.flavor.UTF8Keys); ok {
		query += ` AND o.object_key < ?`
		args = append(args, end)
	}
	query += ` ORDER BY o.object_key LIMIT ?`
	args = append(args, sqlLimit(limit))
	return queryAll(ctx, db, "list objects", scanObject, query, args...)
}

// prefixEnd returns the smallest string greater than every string that
// starts with prefix, or false when there is none (empty prefix, all
// 0xff). With utf8 set and a valid UTF-8 prefix the bound is valid UTF-8:
// the last rune is moved to its successor, which in UTF-8 is also the
// byte-wise successor among valid strings.
func prefixEnd(prefix string, utf8Only bool) (string, bool) {
	if utf8Only && utf8.ValidString(prefix) {
		p := prefix
		for p != "" {
			r, size := utf8.DecodeLastRuneInString(p)
			p = p[:len(p)-size]
			next := r + 1
			if next == 0xD800 { // skip the surrogates, which UTF-8 cannot hold
				next = 0xE000
			}
			if next <= utf8.MaxRune {
				return p + string(next), true
			}
		}
		return "", false
	}
	b := []byte(prefix)
	for len(b) > 0 {
		if last := b[len(b)-1]; last < 0xff {
			b[len(b)-1] = last + 1
			return string(b), true
		}
		b = b[:len(b)-1]
	}
	return "", false
}

// CountObjects returns the number of objects in a bucket.
func (db *DB) CountObjects(ctx context.Context, bucketID string) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM objects WHERE bucket_id = ?`), bucketID).Scan(&n)
	if err != nil {
		return 0, db.wrap("count objects", err)
	}
	return n, nil
}

const queueBlob = `INSERT INTO blob_deletions (blob_key, queued_at) VALUES (?, ?) ON CONFLICT (blob_key) DO NOTHING`

// queueTx queues blobKey for deletion at now inside tx.
func (db *DB) queueTx(ctx context.Context, tx *sql.Tx, blobKey string, now time.Time) error {
	_, err := tx.ExecContext(ctx, db.q(queueBlob), blobKey, us(now))
	return err
}

// QueueBlobDeletion records at now that a blob must be deleted; queueing a
// key twice keeps one entry, with its first time.
func (db *DB) QueueBlobDeletion(ctx context.Context, blobKey string, now time.Time) error {
	_, err := db.exec(ctx, "queue blob deletion", queueBlob, blobKey, us(now))
	return err
}

// PendingBlobDeletions returns up to limit queued blob keys, oldest first.
func (db *DB) PendingBlobDeletions(ctx context.Context, limit int) ([]string, error) {
	type row struct{ key string }
	rows, err := queryAll(ctx, db, "pending blob deletions", func(s scanner) (*row, error) {
		var r row
		return &r, s.Scan(&r.key)
	}, `SELECT blob_key FROM blob_deletions ORDER BY seq LIMIT ?`, sqlLimit(limit))
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.key
	}
	return out, nil
}

// DoneBlobDeletion removes a blob key from the queue; unknown keys are not an
// error.
func (db *DB) DoneBlobDeletion(ctx context.Context, blobKey string) error {
	_, err := db.exec(ctx, "done blob deletion", `DELETE FROM blob_deletions WHERE blob_key = ?`, blobKey)
	return err
}
