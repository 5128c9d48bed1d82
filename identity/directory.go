package identity

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// This file holds the authorization rules of the directory (tenants, users,
// organizations, apps, the audit log) and the tenant calls; user.go,
// org.go, app.go and auditlog.go hold the rest of atelier.DirectoryService.
//
// The rules: platform admins (admins of the default tenant) manage every
// tenant; tenant admins manage their own; an app's client-credentials token
// (RoleApp) reads its tenant's users and organizations; members read and
// change only their own record. Objects of a tenant the caller cannot see
// are "not found", never "forbidden", so ids do not leak across tenants.

// me names the caller in GetUser and the calls that take a user id.
const me = "me"

// principal returns the caller of ctx, or CodeNoCredentials.
func principal(ctx context.Context) (*atelier.Principal, error) {
	p := atelier.PrincipalFromContext(ctx)
	if p == nil || p.TenantID == "" {
		return nil, atelier.CodeNoCredentials.Errorf("Authentication is required.")
	}
	return p, nil
}

// self returns the caller of ctx, which must be a user (not an app acting
// for itself).
func self(ctx context.Context) (*atelier.Principal, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if p.UserID == "" {
		return nil, atelier.CodeForbidden.Errorf("This call acts on the calling user; an app's tenant token has none.")
	}
	return p, nil
}

// sees reports whether p may know that objects of tenantID exist.
func sees(p *atelier.Principal, tenantID string) bool {
	return p.TenantID == tenantID || p.PlatformAdmin
}

// isAdmin reports whether p is an admin user.
func isAdmin(p *atelier.Principal) bool { return p.Role == atelier.RoleAdmin && p.UserID != "" }

// errNotAdmin is the answer to a non-admin asking for an admin's call.
func errNotAdmin() error {
	return atelier.CodeForbidden.Errorf("Only an admin of the tenant may do this.")
}

// mayManage returns nil when p may change objects of tenantID, notFound
// when p may not even see them, else CodeForbidden.
func mayManage(p *atelier.Principal, tenantID string, notFound error) error {
	switch {
	case !sees(p, tenantID):
		return notFound
	case !isAdmin(p):
		return errNotAdmin()
	}
	return nil
}

// mayRead is mayManage that also lets an app's tenant token through.
func mayRead(p *atelier.Principal, tenantID string, notFound error) error {
	switch {
	case !sees(p, tenantID):
		return notFound
	case !isAdmin(p) && p.Role != atelier.RoleApp:
		return errNotAdmin()
	}
	return nil
}

// tenantNotFound is the answer for a tenant that does not exist or that the
// caller may not see.
func tenantNotFound(id string) error {
	return atelier.CodeTenantNotFound.Errorf("The tenant %q does not exist.", id).WithField("tenant_id")
}

// resolveTenant returns the tenant id a call names ("" is the caller's)
// after checking that it exists and that p may see it.
func (s *Service) resolveTenant(ctx context.Context, p *atelier.Principal, tenantID string) (string, error) {
	tenantID = strings.TrimSpace(tenantID)
	if tenantID == "" {
		return p.TenantID, nil
	}
	if !sees(p, tenantID) {
		return "", tenantNotFound(tenantID)
	}
	if _, err := s.st.GetTenant(ctx, tenantID); err != nil {
		return "", storeError("get tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	return tenantID, nil
}

// tenantScope resolves the tenant a call names ("" = the caller's) and
// checks that the caller may manage it, or with appsMay also read it as the
// tenant's app. It returns the resolved tenant even when the check fails,
// so that a refused change is audited under the tenant it aimed at.
func (s *Service) tenantScope(ctx context.Context, tenantID string, appsMay bool) (*atelier.Principal, string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, "", err
	}
	if tenantID, err = s.resolveTenant(ctx, p, tenantID); err != nil {
		return nil, "", err
	}
	check := mayManage
	if appsMay {
		check = mayRead
	}
	if err := check(p, tenantID, tenantNotFound(tenantID)); err != nil {
		return nil, tenantID, err
	}
	return p, tenantID, nil
}

// listScope is tenantScope for list calls, which need only the tenant.
func (s *Service) listScope(ctx context.Context, tenantID string, appsMay bool) (string, error) {
	_, tenantID, err := s.tenantScope(ctx, tenantID, appsMay)
	if err != nil {
		return "", err
	}
	return tenantID, nil
}

// mapAll returns f of every item, as a non-nil slice (JSON "[]").
func mapAll[T any](items []*T, f func(*T) *T) []*T {
	out := make([]*T, 0, len(items))
	for _, it := range items {
		out = append(out, f(it))
	}
	return out
}

// record audits the outcome of a directory change when the function that
// deferred it returns: success, or failure with the error's code as the
// reason.
func (s *Service) record(ctx context.Context, ev *atelier.AuditEvent, err *error) {
	s.audit(ctx, ev.Concluded(*err))
}

// checkName checks a display-type string field: trimmed, at most maxNameLen
// characters, no control characters; required fields must not be empty.
func checkName(field, what, v string, required bool) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		return "", atelier.CodeInvalidParam.Errorf("The %s must not be empty.", what).WithField(field)
	case !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxNameLen:
		return "", atelier.CodeInvalidParam.Errorf("The %s must be valid UTF-8 of at most %d characters.", what, maxNameLen).WithField(field)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", atelier.CodeInvalidParam.Errorf("The %s must not contain control characters.", what).WithField(field)
	}
	return v, nil
}

// CreateTenant creates a tenant with settings (nil: the defaults). Only
// platform admins may.
func (s *Service) CreateTenant(ctx context.Context, name string, settings *atelier.TenantSettings) (_ *atelier.Tenant, err error) {
	ev := &atelier.AuditEvent{Action: "tenant.create"}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.PlatformAdmin {
		return nil, atelier.CodeForbidden.Errorf("Only a platform admin (an admin of the default tenant) may create tenants.")
	}
	name, err = checkName("name", "tenant name", name, true)
	if err != nil {
		return nil, err
	}
	var set atelier.TenantSettings
	if settings != nil {
		if set, err = checkSettings(*settings); err != nil {
			return nil, err
		}
	} else {
		set.MFA = atelier.MFAOff
	}
	now := s.now()
	t := &atelier.Tenant{ID: atelier.NewID(), Name: name, Settings: set, CreatedAt: now, UpdatedAt: now}
	if err := s.st.CreateTenant(ctx, t); err != nil {
		return nil, storeError("create tenant", err, atelier.Code{}, atelier.CodeTenantExists)
	}
	ev.Target, ev.TenantID = t.ID, t.ID
	return t, nil
}

// checkSettings validates tenant settings and returns them with the MFA
// setting spelled out.
func checkSettings(set atelier.TenantSettings) (atelier.TenantSettings, error) {
	if err := validatePolicy(set.PasswordPolicy); err != nil {
		return set, err
	}
	switch set.MFA {
	case "":
		set.MFA = atelier.MFAOff
	case atelier.MFAOff, atelier.MFAOptional, atelier.MFARequired:
	default:
		return set, atelier.CodeInvalidParam.Errorf("The mfa setting must be %q, %q or %q.", atelier.MFAOff, atelier.MFAOptional, atelier.MFARequired).WithField("mfa")
	}
	return set, nil
}

// ListTenants returns every tenant; only platform admins may.
func (s *Service) ListTenants(ctx context.Context) ([]*atelier.Tenant, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if !p.PlatformAdmin {
		return nil, atelier.CodeForbidden.Errorf("Only a platform admin may list tenants.")
	}
	ts, err := s.st.ListTenants(ctx)
	if err != nil {
		return nil, storeError("list tenants", err, atelier.Code{}, atelier.Code{})
	}
	return ts, nil
}

// GetTenant returns a tenant: the caller's own ("" or its id), or any for
// a platform admin.
func (s *Service) GetTenant(ctx context.Context, id string) (*atelier.Tenant, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if id = strings.TrimSpace(id); id == "" {
		id = p.TenantID
	}
	if !sees(p, id) {
		return nil, tenantNotFound(id)
	}
	t, err := s.st.GetTenant(ctx, id)
	if err != nil {
		return nil, storeError("get tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	return t, nil
}

// UpdateTenantSettings replaces a tenant's settings; admins of the tenant
// and platform admins may.
func (s *Service) UpdateTenantSettings(ctx context.Context, id string, settings atelier.TenantSettings) (_ *atelier.Tenant, err error) {
	ev := &atelier.AuditEvent{Action: "tenant.update", Target: id}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	if id = strings.TrimSpace(id); id == "" {
		id = p.TenantID
	}
	ev.Target = id
	if err := mayManage(p, id, tenantNotFound(id)); err != nil {
		return nil, err
	}
	ev.TenantID = id
	set, err := checkSettings(settings)
	if err != nil {
		return nil, err
	}
	now := s.now()
	t, err := s.st.UpdateTenant(ctx, id, func(t *atelier.Tenant) error {
		t.Settings = set
		t.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, storeError("update tenant", err, atelier.CodeTenantNotFound, atelier.Code{})
	}
	return t, nil
}
