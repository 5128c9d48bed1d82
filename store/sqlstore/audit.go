package sqlstore

import (
	"context"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Page sizes of ListAudit.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

const auditCols = `id, at, tenant_id, actor_id, actor, action, target, outcome, reason, ip, device, client_id`

func scanAudit(s scanner) (*atelier.AuditEvent, error) {
	var e atelier.AuditEvent
	var at int64
	if err := s.Scan(&e.ID, &at, &e.TenantID, &e.ActorID, &e.Actor, &e.Action, &e.Target, &e.Outcome, &e.Reason,
		&e.IP, &e.Device, &e.ClientID); err != nil {
		return nil, err
	}
	e.Time = fromUS(at)
	return &e, nil
}

// AppendAudit appends e to the audit log. An empty e.ID is filled with a
// new id first; ErrConflict when the id exists.
func (db *DB) AppendAudit(ctx context.Context, e *atelier.AuditEvent) error {
	if e.ID == "" {
		e.ID = atelier.NewID()
	}
	_, err := db.exec(ctx, "append audit",
		`INSERT INTO audit_events (`+auditCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.ID, us(e.Time), e.TenantID, e.ActorID, e.Actor, e.Action, e.Target, e.Outcome, e.Reason,
		e.IP, e.Device, e.ClientID)
	return err
}

// ListAudit returns the events that f selects, newest first by (time, id),
// at most f.Limit of them (100 when unset, never more than 1000).
func (db *DB) ListAudit(ctx context.Context, f store.AuditFilter) ([]*atelier.AuditEvent, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if f.TenantID != "" {
		add(`tenant_id = ?`, f.TenantID)
	}
	if f.ActorID != "" {
		add(`actor_id = ?`, f.ActorID)
	}
	if f.Action != "" {
		add(`action = ?`, f.Action)
	}
	if f.ActionPrefix != "" {
		// A range rather than LIKE, so that % and _ are not wildcards
		// and an index on action could serve it.
		if end, ok := prefixEnd(f.ActionPrefix, db.flavor.UTF8Keys); ok {
			add(`action >= ? AND action < ?`, f.ActionPrefix, end)
		} else {
			add(`action >= ?`, f.ActionPrefix)
		}
	}
	if f.Outcome != "" {
		add(`outcome = ?`, f.Outcome)
	}
	if !f.Since.IsZero() {
		add(`at >= ?`, us(f.Since))
	}
	if !f.Until.IsZero() {
		add(`at < ?`, us(f.Until))
	}
	if f.BeforeID != "" {
		b := us(f.BeforeTime)
		add(`(at < ? OR (at = ? AND id < ?))`, b, b, f.BeforeID)
	}
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultAuditLimit
	case limit > maxAuditLimit:
		limit = maxAuditLimit
	}
	query := `SELECT ` + auditCols + ` FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY at DESC, id DESC LIMIT ?`
	args = append(args, limit)
	return queryAll(ctx, db, "list audit", scanAudit, query, args...)
}
