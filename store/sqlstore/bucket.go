package sqlstore

import (
	"context"
	"fmt"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

const bucketCols = `id, tenant_id, name, created_at`

func scanBucket(s scanner) (*atelier.Bucket, error) {
	var b atelier.Bucket
	var created int64
	if err := s.Scan(&b.ID, &b.TenantID, &b.Name, &created); err != nil {
		return nil, err
	}
	b.CreatedAt = fromUS(created)
	return &b, nil
}

// CreateBucket inserts b; ErrConflict when the id is taken or the tenant has
// the name.
func (db *DB) CreateBucket(ctx context.Context, b *atelier.Bucket) error {
	_, err := db.exec(ctx, "create bucket",
		`INSERT INTO buckets (`+bucketCols+`) VALUES (?, ?, ?, ?)`, b.ID, b.TenantID, b.Name, us(b.CreatedAt))
	return err
}

// GetBucket returns the tenant's bucket with the name, or ErrNotFound.
func (db *DB) GetBucket(ctx context.Context, tenantID, name string) (*atelier.Bucket, error) {
	return queryOne(ctx, db, "get bucket", scanBucket,
		`SELECT `+bucketCols+` FROM buckets WHERE tenant_id = ? AND name = ?`, tenantID, name)
}

// ListBuckets returns a tenant's buckets ordered by name, byte-wise.
func (db *DB) ListBuckets(ctx context.Context, tenantID string) ([]*atelier.Bucket, error) {
	return queryAll(ctx, db, "list buckets", scanBucket,
		`SELECT `+bucketCols+` FROM buckets WHERE tenant_id = ? ORDER BY name`, tenantID)
}

// DeleteBucket deletes an empty bucket: ErrNotFound when missing, ErrNotEmpty
// when it holds objects. The objects' foreign key (ON DELETE RESTRICT) makes
// the emptiness check part of the one DELETE statement.
func (db *DB) DeleteBucket(ctx context.Context, tenantID, name string) error {
	const op = "delete bucket"
	err := db.execOne(ctx, op, `DELETE FROM buckets WHERE tenant_id = ? AND name = ?`, tenantID, name)
	if err != nil && db.flavor.IsForeignKeyViolation(err) {
		return fmt.Errorf("%s: %s: %w", db.flavor.Name, op, store.ErrNotEmpty)
	}
	return err
}
