package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/store"
)

// RefreshSession trades a live session token for a new one with a fresh
// id_token; the old token is revoked, atomically, so a token refreshes once.
func (s *Service) RefreshSession(ctx context.Context, sessionToken string) (*atelier.LoginResult, error) {
	bad := atelier.CodeInvalidToken.Errorf("The session token is unknown, revoked or expired; log in again.")
	if sessionToken == "" {
		return nil, atelier.CodeMissingHeader.Errorf("missing header X-session-token").WithField("X-session-token")
	}
	p, err := s.Authenticate(ctx, sessionToken)
	if err != nil || p.UserID == "" {
		return nil, bad
	}
	t, err := s.st.ConsumeToken(ctx, hashToken(sessionToken))
	if errors.Is(err, store.ErrNotFound) {
		return nil, bad
	} else if err != nil {
		return nil, fmt.Errorf("identity: refresh: %w", err)
	}
	if t.Kind != atelier.TokenSession {
		return nil, bad
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if err != nil {
		return nil, storeError("refresh: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	app, err := s.st.GetAppByClientID(ctx, t.ClientID)
	if err != nil {
		return nil, storeError("refresh: get app", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	s.audit(ctx, atelier.AuditEvent{Action: "token.refresh", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: app.ClientID, Target: "session"})
	return s.finishLogin(ctx, u, app)
}

// TenantToken is the client-credentials grant of the OneAccess tenant API:
// an app with a client secret gets a token that acts for the app in its
// tenant (role app). A wrong id or secret costs the same work as a right one.
func (s *Service) TenantToken(ctx context.Context, clientID, clientSecret string) (*atelier.IssuedToken, error) {
	app, err := s.authenticateClient(ctx, clientID, clientSecret)
	if err != nil {
		return nil, err
	}
	tok := atelier.NewSecret(tokenBytes)
	now := s.now()
	t := &atelier.Token{
		Hash:      hashToken(tok),
		Kind:      atelier.TokenClient,
		TenantID:  app.TenantID,
		ClientID:  app.ClientID,
		CreatedAt: now,
		ExpiresAt: now.Add(s.ttl),
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("identity: tenant token: %w", err)
	}
	s.audit(ctx, atelier.AuditEvent{Action: "token.issue", Actor: app.ClientID, TenantID: app.TenantID, ClientID: app.ClientID, Target: "client"})
	return &atelier.IssuedToken{Token: tok, ExpiresIn: int64(s.ttl.Seconds()), ExpiresAt: t.ExpiresAt, TenantID: app.TenantID}, nil
}

// authenticateClient checks an app's client id and secret. Public apps (no
// secret) and unknown ids fail after the same work as a wrong secret.
func (s *Service) authenticateClient(ctx context.Context, clientID, clientSecret string) (*atelier.App, error) {
	bad := atelier.CodeInvalidClient.Errorf("The client id or client secret is wrong.")
	app, err := s.st.GetAppByClientID(ctx, clientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("identity: get app: %w", err)
	}
	if app == nil || app.SecretHash == "" {
		if err := s.verifyDummy(ctx, clientSecret); err != nil {
			return nil, err
		}
		s.audit(ctx, atelier.AuditEvent{Action: "client.auth", Actor: clientID, ClientID: clientID, Outcome: atelier.AuditFailure, Reason: "unknown_client"})
		return nil, bad
	}
	ok, err := s.verify(ctx, app.SecretHash, clientSecret)
	if isHashBusy(err) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("identity: app %s has an unusable secret hash: %w", app.ClientID, err)
	}
	if !ok {
		s.audit(ctx, atelier.AuditEvent{Action: "client.auth", Actor: clientID, TenantID: app.TenantID, ClientID: clientID, Outcome: atelier.AuditFailure, Reason: "bad_secret"})
		return nil, bad
	}
	return app, nil
}

// ticketData is what an SSO ticket is bound to.
type ticketData struct {
	Device string `json:"device"`
}

// IssueSSOTicket issues a single-use ticket for the session's user, bound to
// the calling device (X-device-fingerprint) and to the app clientID, which
// must be one the user may use.
func (s *Service) IssueSSOTicket(ctx context.Context, sessionToken, clientID string) (*atelier.SSOTicket, error) {
	device := atelier.ClientFromContext(ctx).DeviceFingerprint
	if device == "" {
		return nil, atelier.CodeMissingHeader.Errorf("missing header X-device-fingerprint").WithField("X-device-fingerprint")
	}
	p, err := s.Authenticate(ctx, sessionToken)
	if err != nil || p.UserID == "" {
		return nil, atelier.CodeInvalidToken.Errorf("The session token is unknown, revoked or expired; log in again.").WithField("session_token")
	}
	app, err := s.st.GetAppByClientID(ctx, clientID)
	if err != nil {
		return nil, storeError("sso ticket: get app", err, atelier.CodeUnknownClient, atelier.Code{})
	}
	u, err := s.st.GetUser(ctx, p.UserID)
	if err != nil {
		return nil, storeError("sso ticket: get user", err, atelier.CodeInvalidToken, atelier.Code{})
	}
	ev := atelier.AuditEvent{Action: "sso.ticket_issue", ActorID: u.ID, Actor: u.Email, TenantID: u.TenantID, ClientID: app.ClientID}
	if denied, err := s.accessDenied(ctx, app, u); err != nil {
		return nil, err
	} else if denied != "" {
		s.audit(ctx, failed(ev, denied))
		return nil, atelier.CodeForbidden.Errorf("The user may not use this app.")
	}
	data, _ := json.Marshal(ticketData{Device: device})
	tok := atelier.NewSecret(tokenBytes)
	now := s.now()
	t := &atelier.Token{
		Hash:      hashToken(tok),
		Kind:      atelier.TokenSSOTicket,
		UserID:    u.ID,
		TenantID:  u.TenantID,
		ClientID:  app.ClientID,
		Data:      string(data),
		CreatedAt: now,
		ExpiresAt: now.Add(s.opts.TicketTTL),
	}
	if err := s.st.CreateToken(ctx, t); err != nil {
		return nil, fmt.Errorf("identity: issue sso ticket: %w", err)
	}
	s.audit(ctx, ev)
	return &atelier.SSOTicket{Ticket: tok, Expire: int64(s.opts.TicketTTL.Seconds())}, nil
}

// VerifySSOTicket uses up a ticket and returns its user. The caller must be
// the app the ticket was issued for (its client-credentials token) on the
// device it was issued to. A ticket is used up by the first verify, right
// or wrong, so a stolen ticket cannot be tried from several devices.
func (s *Service) VerifySSOTicket(ctx context.Context, ticket string) (*atelier.UserInfo, error) {
	p := atelier.PrincipalFromContext(ctx)
	if p == nil || p.ClientID == "" {
		return nil, atelier.CodeNoCredentials.Errorf("Authenticate as the app with a tenant token.")
	}
	bad := atelier.CodeInvalidTicket.Errorf("The SSO ticket is unknown, used, expired, or bound to another device or app.").WithField("sso_ticket")
	if ticket == "" {
		return nil, atelier.CodeInvalidParam.Errorf("The field sso_ticket is required.").WithField("sso_ticket")
	}
	ev := atelier.AuditEvent{Action: "sso.ticket_verify", Actor: p.ClientID, TenantID: p.TenantID, ClientID: p.ClientID}
	t, err := s.consumeKind(ctx, hashToken(ticket), atelier.TokenSSOTicket)
	if errors.Is(err, store.ErrNotFound) {
		s.audit(ctx, failed(ev, "unknown_ticket"))
		return nil, bad
	} else if err != nil {
		return nil, fmt.Errorf("identity: verify sso ticket: %w", err)
	}
	var data ticketData
	_ = json.Unmarshal([]byte(t.Data), &data)
	device := atelier.ClientFromContext(ctx).DeviceFingerprint
	switch {
	case t.Kind != atelier.TokenSSOTicket, !s.now().Before(t.ExpiresAt), t.ClientID != p.ClientID:
		s.audit(ctx, failed(ev, "ticket_mismatch"))
		return nil, bad
	case device == "" || subtle.ConstantTimeCompare([]byte(device), []byte(data.Device)) != 1:
		s.audit(ctx, failed(ev, "device_mismatch"))
		return nil, bad
	}
	u, err := s.st.GetUser(ctx, t.UserID)
	if err != nil || u.Status != atelier.UserActive {
		return nil, bad
	}
	ev.Target = u.ID
	s.audit(ctx, ev)
	return userInfo(u), nil
}

// userInfo returns the claims an app may learn about u.
func userInfo(u *atelier.User) *atelier.UserInfo {
	return &atelier.UserInfo{
		Sub:         u.ID,
		Email:       u.Email,
		Name:        displayName(u),
		UserName:    u.Name,
		Mobile:      u.Mobile,
		TenantID:    u.TenantID,
		OrgID:       u.OrgID,
		DisplayName: u.DisplayName,
	}
}

// displayName is the display name, or the user name when unset.
func displayName(u *atelier.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Name
}

// consumeKind uses up the token with hash if it is of kind, and only then:
// a token of another kind (say a session token presented as a ticket) is
// left alone, so that presenting it cannot revoke it. ErrNotFound when
// there is no such token of that kind or another request used it first.
func (s *Service) consumeKind(ctx context.Context, hash, kind string) (*atelier.Token, error) {
	return s.consumeIf(ctx, hash, func(t *atelier.Token) bool { return t.Kind == kind })
}

// consumeIf uses up the token with hash if accept says so after reading
// it; a token it refuses stays as it was and the answer is ErrNotFound.
func (s *Service) consumeIf(ctx context.Context, hash string, accept func(*atelier.Token) bool) (*atelier.Token, error) {
	t, err := s.st.GetToken(ctx, hash)
	if err != nil {
		return nil, err
	}
	if !accept(t) {
		return nil, store.ErrNotFound
	}
	return s.st.ConsumeToken(ctx, hash)
}
