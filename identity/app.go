package identity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// App limits.
const (
	maxRedirectURIs    = 20
	maxRedirectURILen  = 2048
	minIDTokenTTL      = 300   // seconds
	maxIDTokenTTL      = 86400 // seconds
	clientSecretBytes  = 32
	clientIDPrefix     = "app-"
	appRotateOperation = "app.rotate_secret"
)

// appNotFound is the answer for an app that does not exist or that the
// caller may not see.
func appNotFound(clientID string) error {
	return atelier.CodeAppNotFound.Errorf("The app %q does not exist.", clientID)
}

// publicApp returns a without its secret hash.
func publicApp(a *atelier.App) *atelier.App {
	c := *a
	c.Public = a.SecretHash == "" && !a.BuiltIn
	c.SecretHash = ""
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{}
	}
	return &c
}

// checkRedirectURI checks one OIDC redirect URI: absolute, http(s), no
// fragment, and plain http only for loopback hosts.
func checkRedirectURI(raw string) error {
	bad := func(why string) error {
		return atelier.CodeInvalidParam.Errorf("The redirect URI %q %s.", raw, why).WithField("redirect_uris")
	}
	if len(raw) > maxRedirectURILen {
		return atelier.CodeInvalidParam.Errorf("A redirect URI must be at most %d bytes.", maxRedirectURILen).WithField("redirect_uris")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return bad("is not an absolute URL")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return bad("must not have a fragment")
	case u.User != nil:
		return bad("must not carry user information")
	case u.Scheme == "https":
	case u.Scheme == "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return bad("must use https unless its host is a loopback address")
		}
	default:
		return bad("must use https (or http for a loopback host)")
	}
	return nil
}

// checkAppSpec validates the fields spec sets and returns them normalised.
func checkAppSpec(spec atelier.AppSpec) (atelier.AppSpec, error) {
	if spec.Name != nil {
		n, err := checkName("name", "app name", *spec.Name, true)
		if err != nil {
			return spec, err
		}
		spec.Name = &n
	}
	if spec.Access != nil && *spec.Access != atelier.AppAccessAll && *spec.Access != atelier.AppAccessGranted {
		return spec, atelier.CodeInvalidParam.Errorf("The access must be %q or %q.", atelier.AppAccessAll, atelier.AppAccessGranted).WithField("access")
	}
	if spec.RedirectURIs != nil {
		uris := *spec.RedirectURIs
		if len(uris) > maxRedirectURIs {
			return spec, atelier.CodeInvalidParam.Errorf("An app has at most %d redirect URIs.", maxRedirectURIs).WithField("redirect_uris")
		}
		out := make([]string, 0, len(uris))
		seen := map[string]bool{}
		for _, u := range uris {
			if err := checkRedirectURI(u); err != nil {
				return spec, err
			}
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
		spec.RedirectURIs = &out
	}
	if spec.IDTokenTTL != nil {
		if ttl := *spec.IDTokenTTL; ttl != 0 && (ttl < minIDTokenTTL || ttl > maxIDTokenTTL) {
			return spec, atelier.CodeInvalidParam.Errorf("The id_token_ttl must be 0 (2 hours) or %d to %d seconds.", minIDTokenTTL, maxIDTokenTTL).WithField("id_token_ttl")
		}
	}
	return spec, nil
}

// applyAppSpec sets the fields a checked spec sets, but Public. It has no
// side effects.
func applyAppSpec(a *atelier.App, spec atelier.AppSpec) {
	if spec.Name != nil {
		a.Name = *spec.Name
	}
	if spec.ISV != nil {
		a.ISV = *spec.ISV
	}
	if spec.Access != nil {
		a.Access = *spec.Access
	}
	if spec.RedirectURIs != nil {
		a.RedirectURIs = *spec.RedirectURIs
	}
	if spec.IDTokenTTL != nil {
		a.IDTokenTTL = *spec.IDTokenTTL
	}
}

// checkISV refuses ISV apps to all but platform admins: users of every
// tenant log in through an ISV app, so only the platform may offer one.
func checkISV(p *atelier.Principal, spec atelier.AppSpec) error {
	if spec.ISV != nil && *spec.ISV && !p.PlatformAdmin {
		return atelier.CodeForbidden.Errorf("Only a platform admin may register an ISV app, which users of every tenant log in through.")
	}
	return nil
}

// newClientSecret returns a client secret and its argon2id hash.
func (s *Service) newClientSecret(ctx context.Context) (string, string, error) {
	secret := atelier.NewSecret(clientSecretBytes)
	hash, err := s.hash(ctx, secret)
	if isHashBusy(err) {
		return "", "", err
	} else if err != nil {
		return "", "", fmt.Errorf("identity: hash client secret: %w", err)
	}
	return secret, hash, nil
}

// CreateApp registers an app in tenantID ("" = the caller's). Its client
// id is generated; unless the app is public, the answer carries the client
// secret, the only time it is shown.
func (s *Service) CreateApp(ctx context.Context, tenantID string, spec atelier.AppSpec) (_ *atelier.NewApp, err error) {
	ev := &atelier.AuditEvent{Action: "app.create"}
	defer s.record(ctx, ev, &err)
	p, tenantID, err := s.tenantScope(ctx, tenantID, false)
	ev.TenantID = tenantID
	if err != nil {
		return nil, err
	}
	if spec.Name == nil {
		return nil, atelier.CodeInvalidParam.Errorf("The app name is required.").WithField("name")
	}
	if spec, err = checkAppSpec(spec); err != nil {
		return nil, err
	}
	if err := checkISV(p, spec); err != nil {
		return nil, err
	}
	now := s.now()
	a := &atelier.App{
		ID:           atelier.NewID(),
		TenantID:     tenantID,
		ClientID:     clientIDPrefix + atelier.NewID(),
		Access:       atelier.AppAccessAll,
		RedirectURIs: []string{},
		CreatedAt:    now,
		UpdatedAt:    now,
	}
	applyAppSpec(a, spec)
	var secret string
	if spec.Public == nil || !*spec.Public {
		if secret, a.SecretHash, err = s.newClientSecret(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.st.CreateApp(ctx, a); err != nil {
		return nil, storeError("create app", err, atelier.Code{}, atelier.CodeAppExists)
	}
	ev.Target = a.ClientID
	return &atelier.NewApp{App: *publicApp(a), ClientSecret: secret}, nil
}

// ListApps returns the apps of tenantID ("" = the caller's); admins may.
func (s *Service) ListApps(ctx context.Context, tenantID string) ([]*atelier.App, error) {
	tenantID, err := s.listScope(ctx, tenantID, false)
	if err != nil {
		return nil, err
	}
	apps, err := s.st.ListApps(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("identity: list apps: %w", err)
	}
	return mapAll(apps, publicApp), nil
}

// manageApp returns the app clientID if p may manage it.
func (s *Service) manageApp(ctx context.Context, p *atelier.Principal, clientID string) (*atelier.App, error) {
	a, err := s.st.GetAppByClientID(ctx, clientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sees(p, a.TenantID)) {
		return nil, appNotFound(clientID)
	} else if err != nil {
		return nil, fmt.Errorf("identity: get app: %w", err)
	}
	if err := mayManage(p, a.TenantID, appNotFound(clientID)); err != nil {
		return nil, err
	}
	return a, nil
}

// errBuiltIn is the answer to changing the built-in app.
func errBuiltIn(clientID string) error {
	return atelier.CodeBuiltInApp.Errorf("The built-in app %s cannot be changed or deleted.", clientID)
}

// GetApp returns an app by client id; admins of its tenant may.
func (s *Service) GetApp(ctx context.Context, clientID string) (*atelier.App, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return nil, err
	}
	return publicApp(a), nil
}

// UpdateApp changes the fields spec sets. Public true removes the client
// secret; an app without one gets one from RotateAppSecret.
func (s *Service) UpdateApp(ctx context.Context, clientID string, spec atelier.AppSpec) (_ *atelier.App, err error) {
	ev := &atelier.AuditEvent{Action: "app.update", Target: clientID}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return nil, err
	}
	ev.TenantID = a.TenantID
	if a.BuiltIn {
		return nil, errBuiltIn(clientID)
	}
	if spec, err = checkAppSpec(spec); err != nil {
		return nil, err
	}
	if err := checkISV(p, spec); err != nil {
		return nil, err
	}
	if spec.Public != nil && !*spec.Public && a.SecretHash == "" {
		return nil, atelier.CodeInvalidParam.Errorf("A public app gets a client secret by rotating it (POST /v1/apps/%s/secret).", clientID).WithField("public")
	}
	now := s.now()
	a, err = s.st.UpdateApp(ctx, a.ClientID, func(a *atelier.App) error {
		applyAppSpec(a, spec)
		if spec.Public != nil && *spec.Public {
			a.SecretHash = ""
		}
		a.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, storeError("update app", err, atelier.CodeAppNotFound, atelier.Code{})
	}
	return publicApp(a), nil
}

// DeleteApp deletes an app with its grants and the tokens issued through
// it.
func (s *Service) DeleteApp(ctx context.Context, clientID string) (err error) {
	ev := &atelier.AuditEvent{Action: "app.delete", Target: clientID}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return err
	}
	ev.TenantID = a.TenantID
	if a.BuiltIn {
		return errBuiltIn(clientID)
	}
	if err := s.st.DeleteApp(ctx, a.ClientID); err != nil {
		return storeError("delete app", err, atelier.CodeAppNotFound, atelier.Code{})
	}
	return nil
}

// RotateAppSecret replaces an app's client secret (giving a public app
// one) after a step-up verification for "app.rotate_secret" bound to the
// client id. The old secret stops working at once.
func (s *Service) RotateAppSecret(ctx context.Context, clientID, verificationToken string) (_ *atelier.NewApp, err error) {
	ev := &atelier.AuditEvent{Action: "app.rotate_secret", Target: clientID}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return nil, err
	}
	ev.TenantID = a.TenantID
	if a.BuiltIn {
		return nil, errBuiltIn(clientID)
	}
	if err := s.RequireVerification(ctx, verificationToken, appRotateOperation, map[string]string{"client_id": a.ClientID}); err != nil {
		return nil, err
	}
	secret, hash, err := s.newClientSecret(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	a, err = s.st.UpdateApp(ctx, a.ClientID, func(a *atelier.App) error {
		a.SecretHash = hash
		a.UpdatedAt = now
		return nil
	})
	if err != nil {
		return nil, storeError("rotate app secret", err, atelier.CodeAppNotFound, atelier.Code{})
	}
	return &atelier.NewApp{App: *publicApp(a), ClientSecret: secret}, nil
}

// grantTarget returns the app and user of a grant call if p manages both.
// A user of another tenant may be granted only an ISV app.
func (s *Service) grantTarget(ctx context.Context, p *atelier.Principal, clientID, userID string) (*atelier.App, *atelier.User, error) {
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.manageUser(ctx, p, userID)
	if err != nil {
		return nil, nil, err
	}
	if u.TenantID != a.TenantID && !a.ISV && !a.BuiltIn {
		return nil, nil, atelier.CodeInvalidParam.Errorf("The user %s belongs to another tenant than the app.", u.ID).WithField("user_id")
	}
	return a, u, nil
}

// GrantApp lets a user use an app whose access is "granted"; granting
// twice is not an error.
func (s *Service) GrantApp(ctx context.Context, clientID, userID string) (err error) {
	ev := &atelier.AuditEvent{Action: "app.grant", Target: clientID}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	a, u, err := s.grantTarget(ctx, p, clientID, userID)
	if err != nil {
		return err
	}
	ev.TenantID, ev.Target = a.TenantID, a.ClientID+":"+u.ID
	if err := s.st.GrantApp(ctx, a.ID, u.ID, s.now()); err != nil {
		return fmt.Errorf("identity: grant app: %w", err)
	}
	return nil
}

// RevokeApp removes a grant, or answers CodeNotGranted.
func (s *Service) RevokeApp(ctx context.Context, clientID, userID string) (err error) {
	ev := &atelier.AuditEvent{Action: "app.revoke", Target: clientID}
	defer s.record(ctx, ev, &err)
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return err
	}
	ev.TenantID, ev.Target = a.TenantID, a.ClientID+":"+userID
	if err := s.st.RevokeApp(ctx, a.ID, userID); err != nil {
		return storeError("revoke app", err, atelier.CodeNotGranted, atelier.Code{})
	}
	return nil
}

// ListAppUsers returns the ids of the users granted the app, sorted.
func (s *Service) ListAppUsers(ctx context.Context, clientID string) ([]string, error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.manageApp(ctx, p, clientID)
	if err != nil {
		return nil, err
	}
	ids, err := s.st.ListAppGrants(ctx, a.ID)
	if err != nil {
		return nil, fmt.Errorf("identity: list app grants: %w", err)
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}
