package identity

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// Audit page sizes.
const (
	defaultAuditLimit = 100
	maxAuditLimit     = 1000
)

// encodeAuditCursor returns the opaque cursor that continues after e.
func encodeAuditCursor(e *atelier.AuditEvent) string {
	return base64.RawURLEncoding.EncodeToString([]byte(e.Time.UTC().Format(time.RFC3339Nano) + "|" + e.ID))
}

// decodeAuditCursor parses a cursor of encodeAuditCursor.
func decodeAuditCursor(c string) (time.Time, string, error) {
	bad := atelier.CodeInvalidParam.Errorf("The cursor is not a next_cursor of this API.").WithField("cursor")
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, id, ok := strings.Cut(string(b), "|")
	if !ok || id == "" {
		return time.Time{}, "", bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", bad
	}
	return t, id, nil
}

// ListAudit returns one page of audit events, newest first. Only admins
// may: a tenant admin sees their tenant, a platform admin the tenant in
// q.TenantID or, without it, every tenant.
func (s *Service) ListAudit(ctx context.Context, q atelier.AuditQuery) (*atelier.AuditPage, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !isAdmin(p) {
		return nil, errNotAdmin()
	}
	f := store.AuditFilter{ActorID: q.ActorID, Outcome: q.Outcome, Since: q.Since, Until: q.Until}
	switch {
	case p.PlatformAdmin:
		f.TenantID = q.TenantID
	case q.TenantID == "" || q.TenantID == p.TenantID:
		f.TenantID = p.TenantID
	default:
		return nil, tenantNotFound(q.TenantID)
	}
	if strings.HasSuffix(q.Action, ".") {
		f.ActionPrefix = q.Action
	} else {
		f.Action = q.Action
	}
	switch q.Outcome {
	case "", atelier.AuditSuccess, atelier.AuditFailure:
	default:
		return nil, atelier.CodeInvalidParam.Errorf("The outcome must be %q or %q.", atelier.AuditSuccess, atelier.AuditFailure).WithField("outcome")
	}
	switch {
	case q.Limit == 0:
		q.Limit = defaultAuditLimit
	case q.Limit < 0 || q.Limit > maxAuditLimit:
		return nil, atelier.CodeInvalidParam.Errorf("The limit must be 1 to %d.", maxAuditLimit).WithField("limit")
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return nil, atelier.CodeInvalidParam.Errorf("since must be before until.").WithField("since")
	}
	if q.Cursor != "" {
		if f.BeforeTime, f.BeforeID, err = decodeAuditCursor(q.Cursor); err != nil {
			return nil, err
		}
	}
	f.Limit = q.Limit + 1 // one more tells whether another page follows
	events, err := s.st.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("identity: list audit: %w", err)
	}
	page := &atelier.AuditPage{Events: events}
	if len(events) > q.Limit {
		page.Events = events[:q.Limit]
		page.NextCursor = encodeAuditCursor(page.Events[q.Limit-1])
	}
	if page.Events == nil {
		page.Events = []*atelier.AuditEvent{}
	}
	return page, nil
}
