package identity

import (
	"context"
	"time"

	"github.com/atelier-dev/atelier"
)

// Audit appends e to the audit log as audit does, for the sensitive
// actions of other services (an app's callback keys, for one).
func (s *Service) Audit(ctx context.Context, e atelier.AuditEvent) { s.audit(ctx, e) }

// audit appends e to the audit log, filling the time, id, caller and client
// from ctx where e leaves them empty. A failure to write is logged, never
// returned: the audited action has already happened or been refused.
func (s *Service) audit(ctx context.Context, e atelier.AuditEvent) {
	if e.ID == "" {
		e.ID = atelier.NewID()
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if e.Outcome == "" {
		e.Outcome = atelier.AuditSuccess
	}
	if p := atelier.PrincipalFromContext(ctx); p != nil {
		if e.ActorID == "" && e.Actor == "" {
			e.ActorID, e.Actor = p.UserID, p.Email
			if p.UserID == "" {
				e.Actor = p.ClientID
			}
		}
		if e.TenantID == "" {
			e.TenantID = p.TenantID
		}
		if e.ClientID == "" {
			e.ClientID = p.ClientID
		}
	}
	c := atelier.ClientFromContext(ctx)
	if e.IP == "" {
		e.IP = c.IP
	}
	if e.Device == "" {
		e.Device = c.DeviceFingerprint
	}
	// The log line and the store write must not be cut short by a client
	// that went away after the action.
	ctx = context.WithoutCancel(ctx)
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.st.AppendAudit(wctx, &e); err != nil {
		s.log.ErrorContext(ctx, "write audit event", "action", e.Action, "outcome", e.Outcome, "err", err)
	}
}
