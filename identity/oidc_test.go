package identity_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/atelier-dev/atelier"
	"github.com/atelier-dev/atelier/identity"
	"github.com/atelier-dev/atelier/internal/jwt"
	"github.com/atelier-dev/atelier/internal/secretbox"
	"github.com/atelier-dev/atelier/store"
)

const (
	redirectURI = "https://app.example/callback"
	appSecret   = "app-secret-0123456789"
	nonce       = "n-0S6_WzA2Mj"
)

// oidcApp is a registered app of a test.
type oidcApp struct {
	*atelier.App
	Secret string // "" for a public app
}

// MustApp registers an app in the default tenant with redirectURI; public
// apps have no secret.
func (e *env) MustApp(t testing.TB, clientID string, public bool, with ...func(*atelier.App)) *oidcApp {
	t.Helper()
	a := &oidcApp{App: &atelier.App{
		ID:           atelier.NewID(),
		TenantID:     e.MustTenant(t, atelier.DefaultTenant),
		ClientID:     clientID,
		Name:         "App " + clientID,
		Access:       atelier.AppAccessAll,
		RedirectURIs: []string{redirectURI, "http://127.0.0.1:8765/cb"},
		CreatedAt:    e.clock.Now(),
		UpdatedAt:    e.clock.Now(),
	}}
	if !public {
		h, err := identity.HashPassword(appSecret, cheap)
		if err != nil {
			t.Fatal(err)
		}
		a.SecretHash, a.Secret = h, appSecret
	}
	for _, f := range with {
		f(a.App)
	}
	if err := e.st.CreateApp(t.Context(), a.App); err != nil {
		t.Fatalf("create app: %v", err)
	}
	return a
}

// authorizeReq is a valid authorization request for a, with PKCE for the
// verifier when it is not empty.
func authorizeReq(a *oidcApp, verifier string) atelier.AuthorizeRequest {
	req := atelier.AuthorizeRequest{
		ClientID:     a.ClientID,
		RedirectURI:  redirectURI,
		ResponseType: "code",
		Scope:        "openid email profile",
		State:        "st-1",
		Nonce:        nonce,
	}
	if verifier != "" {
		req.CodeChallenge, req.CodeChallengeMethod = challenge(verifier), "S256"
	}
	return req
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newVerifier returns a random 43-character PKCE verifier.
func newVerifier() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// MustOIDCEnv is MustEnv without the per-account login rate limit: these
// tests log the admin in for every code.
func MustOIDCEnv(t testing.TB, with ...func(*identity.Options)) *env {
	t.Helper()
	return MustEnv(t, append([]func(*identity.Options){func(o *identity.Options) { o.LoginRatePerUser, o.LoginRatePerIP = -1, -1 }}, with...)...)
}

// MustCode logs the admin in and issues a code for req.
func (e *env) MustCode(t testing.TB, req atelier.AuthorizeRequest) string {
	t.Helper()
	session, _ := e.MustLogin(t, adminEmail, adminPass)
	code, err := e.svc.IssueCode(t.Context(), req, session)
	if err != nil {
		t.Fatalf("IssueCode: %v", err)
	}
	return code
}

// codeRequest is the token request that redeems code for a with verifier.
func codeRequest(a *oidcApp, code, verifier string) atelier.TokenRequest {
	return atelier.TokenRequest{GrantType: "authorization_code", Code: code, RedirectURI: redirectURI,
		CodeVerifier: verifier, ClientID: a.ClientID, ClientSecret: a.Secret}
}

// MustToken redeems a token request that must succeed.
func (e *env) MustToken(t testing.TB, req atelier.TokenRequest) *atelier.TokenResponse {
	t.Helper()
	res, err := e.svc.Token(t.Context(), req)
	if err != nil {
		t.Fatalf("Token(%s): %v", req.GrantType, err)
	}
	return res
}

func TestOIDCCodeFlowConfidential(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	ctx := t.Context()
	a := e.MustApp(t, "web", false)
	req := authorizeReq(a, "")

	app, err := e.svc.CheckAuthorize(ctx, req)
	if err != nil || app.ClientID != "web" {
		t.Fatalf("CheckAuthorize = %v, %v", app, err)
	}
	code := e.MustCode(t, req)
	res := e.MustToken(t, codeRequest(a, code, ""))
	if res.TokenType != "Bearer" || res.ExpiresIn != int64(identity.DefaultSessionTTL.Seconds()) || res.Scope != req.Scope ||
		!hex64.MatchString(res.AccessToken) || !hex64.MatchString(res.RefreshToken) || res.IDToken == "" {
		t.Fatalf("token response = %+v", res)
	}

	claims, err := e.svc.VerifyIDToken(ctx, res.IDToken, "web")
	if err != nil {
		t.Fatalf("VerifyIDToken: %v", err)
	}
	admin, _ := e.st.GetUserByEmail(ctx, e.MustTenant(t, atelier.DefaultTenant), adminEmail)
	want := map[string]any{"iss": e.svc.Issuer(), "sub": admin.ID, "aud": "web", "nonce": nonce, "email": adminEmail,
		"name": "admin", "preferred_username": "admin", "tenant_id": admin.TenantID}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	now := e.clock.Now().Unix()
	for k, v := range map[string]int64{"iat": now, "exp": now + 7200, "auth_time": now} {
		if n, _ := claims[k].(json.Number).Int64(); n != v {
			t.Errorf("claim %s = %v, want %d", k, claims[k], v)
		}
	}

	// The access token is a /v1 bearer and opens userinfo.
	p, err := e.svc.Authenticate(ctx, res.AccessToken)
	if err != nil || p.UserID != admin.ID || p.ClientID != "web" {
		t.Fatalf("Authenticate(access token) = %+v, %v", p, err)
	}
	info, err := e.svc.UserInfo(ctx, res.AccessToken)
	if err != nil || info.Sub != admin.ID || info.Email != adminEmail || info.TenantID != admin.TenantID {
		t.Fatalf("UserInfo = %+v, %v", info, err)
	}
	if _, err := e.svc.UserInfo(ctx, res.RefreshToken); atelier.ErrorCode(err) != atelier.CodeInvalidToken.ID {
		t.Errorf("UserInfo(refresh token) = %v, want invalid token", err)
	}

	// The grant is in the audit log, and no secret is.
	events, err := e.st.ListAudit(ctx, store.AuditFilter{ActionPrefix: "oauth."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range events {
		actions = append(actions, ev.Action+"/"+ev.Outcome)
		if b, _ := json.Marshal(ev); bytes.Contains(b, []byte(code)) || bytes.Contains(b, []byte(res.AccessToken)) || bytes.Contains(b, []byte(appSecret)) {
			t.Errorf("audit event holds a secret: %s", b)
		}
	}
	if got := strings.Join(actions, " "); !strings.Contains(got, "oauth.code/success") || !strings.Contains(got, "oauth.token/success") {
		t.Errorf("audit actions = %s", got)
	}
	for _, secret := range []string{code, res.AccessToken, res.RefreshToken, appSecret} {
		if strings.Contains(e.logs.String(), secret) {
			t.Errorf("the log holds a secret")
		}
	}
}

func TestOIDCLoginIDTokenVerifies(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	_, res := e.MustLogin(t, adminEmail, adminPass)
	claims, err := e.svc.VerifyIDToken(t.Context(), res.IDToken, atelier.CLIClientID)
	if err != nil {
		t.Fatalf("the login's id_token does not verify: %v", err)
	}
	if _, ok := claims["nonce"]; ok {
		t.Errorf("login id_token has a nonce: %v", claims)
	}
}

func TestOIDCAuthorizeRefusals(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	conf := e.MustApp(t, "conf", false)
	pub := e.MustApp(t, "pub", true)
	v := newVerifier()
	tests := []struct {
		name string
		app  *oidcApp
		edit func(*atelier.AuthorizeRequest)
		want atelier.Code
	}{
		{"unknown client", conf, func(r *atelier.AuthorizeRequest) { r.ClientID = "nope" }, atelier.CodeInvalidClient},
		{"no client", conf, func(r *atelier.AuthorizeRequest) { r.ClientID = "" }, atelier.CodeInvalidClient},
		{"no redirect", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "" }, atelier.CodeOAuthRedirect},
		{"redirect prefix", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = redirectURI + "/evil" }, atelier.CodeOAuthRedirect},
		{"redirect shorter", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "https://app.example/call" }, atelier.CodeOAuthRedirect},
		{"redirect other port", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "https://app.example:8443/callback" }, atelier.CodeOAuthRedirect},
		{"redirect loopback other port", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "http://127.0.0.1:8766/cb" }, atelier.CodeOAuthRedirect},
		{"redirect fragment", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = redirectURI + "#x" }, atelier.CodeOAuthRedirect},
		{"redirect trailing slash", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = redirectURI + "/" }, atelier.CodeOAuthRedirect},
		{"redirect path case", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "https://app.example/Callback" }, atelier.CodeOAuthRedirect},
		{"redirect query added", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = redirectURI + "?next=/" }, atelier.CodeOAuthRedirect},
		{"redirect http", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "http://app.example/callback" }, atelier.CodeOAuthRedirect},
		{"redirect userinfo", conf, func(r *atelier.AuthorizeRequest) { r.RedirectURI = "https://app.example@evil.example/callback" }, atelier.CodeOAuthRedirect},
		{"response type token", conf, func(r *atelier.AuthorizeRequest) { r.ResponseType = "token" }, atelier.CodeOAuthResponseType},
		{"no openid scope", conf, func(r *atelier.AuthorizeRequest) { r.Scope = "email profile" }, atelier.CodeOAuthScope},
		{"openid as substring", conf, func(r *atelier.AuthorizeRequest) { r.Scope = "openidx" }, atelier.CodeOAuthScope},
		{"public without pkce", pub, func(r *atelier.AuthorizeRequest) { r.CodeChallenge, r.CodeChallengeMethod = "", "" }, atelier.CodeOAuthInvalidRequest},
		{"pkce plain", pub, func(r *atelier.AuthorizeRequest) { r.CodeChallenge, r.CodeChallengeMethod = v, "plain" }, atelier.CodeOAuthInvalidRequest},
		{"pkce no method", pub, func(r *atelier.AuthorizeRequest) { r.CodeChallengeMethod = "" }, atelier.CodeOAuthInvalidRequest},
		{"pkce bad challenge", pub, func(r *atelier.AuthorizeRequest) { r.CodeChallenge = "short" }, atelier.CodeOAuthInvalidRequest},
		{"method without challenge", conf, func(r *atelier.AuthorizeRequest) { r.CodeChallengeMethod = "S256" }, atelier.CodeOAuthInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := authorizeReq(tt.app, "")
			if tt.app == pub {
				req = authorizeReq(tt.app, v)
			}
			tt.edit(&req)
			_, err := e.svc.CheckAuthorize(t.Context(), req)
			wantCode(t, err, tt.want)
			// IssueCode checks the same rules.
			session, _ := e.MustLogin(t, adminEmail, adminPass)
			_, err = e.svc.IssueCode(t.Context(), req, session)
			wantCode(t, err, tt.want)
		})
	}
	// The valid forms pass.
	for _, req := range []atelier.AuthorizeRequest{authorizeReq(conf, ""), authorizeReq(conf, v), authorizeReq(pub, v)} {
		if _, err := e.svc.CheckAuthorize(t.Context(), req); err != nil {
			t.Errorf("CheckAuthorize(%+v) = %v", req, err)
		}
	}
	// A bad session gets no code.
	_, err := e.svc.IssueCode(t.Context(), authorizeReq(conf, ""), "not-a-session")
	wantCode(t, err, atelier.CodeInvalidToken)
}

func TestOIDCPublicClientPKCE(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	pub := e.MustApp(t, "spa", true)
	v := newVerifier()

	tests := []struct {
		name     string
		verifier string
		secret   string
		want     atelier.Code
	}{
		{"missing verifier", "", "", atelier.CodeOAuthInvalidGrant},
		{"wrong verifier", newVerifier(), "", atelier.CodeOAuthInvalidGrant},
		{"challenge as verifier", challenge(v), "", atelier.CodeOAuthInvalidGrant},
		{"verifier too short", v[:42], "", atelier.CodeOAuthInvalidGrant},
		{"verifier bad characters", v[:42] + "+", "", atelier.CodeOAuthInvalidGrant},
		{"secret for a public client", v, "guess", atelier.CodeInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := e.MustCode(t, authorizeReq(pub, v))
			req := codeRequest(pub, code, tt.verifier)
			req.ClientSecret = tt.secret
			_, err := e.svc.Token(t.Context(), req)
			wantCode(t, err, tt.want)
		})
	}
	// A failed verifier burns the code: the right one fails afterwards.
	code := e.MustCode(t, authorizeReq(pub, v))
	_, err := e.svc.Token(t.Context(), codeRequest(pub, code, newVerifier()))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	_, err = e.svc.Token(t.Context(), codeRequest(pub, code, v))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)

	// The right verifier works; a 128-character one too.
	res := e.MustToken(t, codeRequest(pub, e.MustCode(t, authorizeReq(pub, v)), v))
	if _, err := e.svc.VerifyIDToken(t.Context(), res.IDToken, "spa"); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("a-._~", 25) + "xyz"
	e.MustToken(t, codeRequest(pub, e.MustCode(t, authorizeReq(pub, long)), long))

	// A confidential client that sent no challenge may not send a verifier.
	conf := e.MustApp(t, "conf", false)
	_, err = e.svc.Token(t.Context(), codeRequest(conf, e.MustCode(t, authorizeReq(conf, "")), v))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	// … and one that sent a challenge must send the verifier.
	_, err = e.svc.Token(t.Context(), codeRequest(conf, e.MustCode(t, authorizeReq(conf, v)), ""))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
}

func TestOIDCCodeReplayRevokes(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	ctx := t.Context()
	a := e.MustApp(t, "web", false)
	code := e.MustCode(t, authorizeReq(a, ""))
	res := e.MustToken(t, codeRequest(a, code, ""))
	if _, err := e.svc.Authenticate(ctx, res.AccessToken); err != nil {
		t.Fatal(err)
	}

	_, err := e.svc.Token(ctx, codeRequest(a, code, ""))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	if _, err := e.svc.Authenticate(ctx, res.AccessToken); atelier.ErrorCode(err) != atelier.CodeInvalidToken.ID {
		t.Errorf("access token after the code was replayed: %v, want revoked", err)
	}
	_, err = e.svc.Token(ctx, atelier.TokenRequest{GrantType: "refresh_token", RefreshToken: res.RefreshToken, ClientID: a.ClientID, ClientSecret: a.Secret})
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	events, _ := e.st.ListAudit(ctx, store.AuditFilter{Action: "oauth.replay"})
	if len(events) != 1 || events[0].Outcome != atelier.AuditFailure {
		t.Errorf("replay audit events = %+v", events)
	}
}

func TestOIDCCodeExpiresAndBinds(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	ctx := t.Context()
	a := e.MustApp(t, "web", false)
	other := e.MustApp(t, "other", false)

	code := e.MustCode(t, authorizeReq(a, ""))
	e.clock.Advance(identity.DefaultCodeTTL)
	_, err := e.svc.Token(ctx, codeRequest(a, code, ""))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)

	// Another client cannot redeem the code, nor with another redirect URI.
	code = e.MustCode(t, authorizeReq(a, ""))
	_, err = e.svc.Token(ctx, codeRequest(other, code, ""))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	code = e.MustCode(t, authorizeReq(a, ""))
	req := codeRequest(a, code, "")
	req.RedirectURI = "http://127.0.0.1:8765/cb" // registered, but not the one of the request
	_, err = e.svc.Token(ctx, req)
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)

	// Neither a session token nor garbage is a code.
	session, _ := e.MustLogin(t, adminEmail, adminPass)
	for _, c := range []string{session, "x", ""} {
		_, err = e.svc.Token(ctx, codeRequest(a, c, ""))
		if c == "" {
			wantCode(t, err, atelier.CodeOAuthInvalidRequest)
		} else {
			wantCode(t, err, atelier.CodeOAuthInvalidGrant)
		}
	}
	if _, err := e.svc.Authenticate(ctx, session); err != nil {
		t.Errorf("the session presented as a code was consumed: %v", err)
	}
}

func TestOIDCClientAuthentication(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	a := e.MustApp(t, "web", false)
	tests := []struct {
		name, id, secret string
		want             atelier.Code
	}{
		{"wrong secret", "web", "wrong", atelier.CodeInvalidClient},
		{"no secret for a confidential client", "web", "", atelier.CodeInvalidClient},
		{"unknown client", "nope", "whatever", atelier.CodeInvalidClient},
		{"unknown public client", "nope", "", atelier.CodeInvalidClient},
		{"no client", "", "", atelier.CodeInvalidClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := e.MustCode(t, authorizeReq(a, ""))
			req := codeRequest(a, code, "")
			req.ClientID, req.ClientSecret = tt.id, tt.secret
			_, err := e.svc.Token(t.Context(), req)
			wantCode(t, err, tt.want)
			// The code survives a failed client authentication.
			e.MustToken(t, codeRequest(a, code, ""))
		})
	}
	for _, gt := range []string{"", "password", "implicit"} {
		_, err := e.svc.Token(t.Context(), atelier.TokenRequest{GrantType: gt, ClientID: "web", ClientSecret: appSecret})
		if gt == "" {
			wantCode(t, err, atelier.CodeOAuthInvalidRequest)
		} else {
			wantCode(t, err, atelier.CodeOAuthGrantType)
		}
	}
}

func TestOIDCRefreshRotation(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	ctx := t.Context()
	a := e.MustApp(t, "web", false)
	other := e.MustApp(t, "other", false)
	first := e.MustToken(t, codeRequest(a, e.MustCode(t, authorizeReq(a, "")), ""))
	refresh := func(app *oidcApp, tok string) (*atelier.TokenResponse, error) {
		return e.svc.Token(ctx, atelier.TokenRequest{GrantType: "refresh_token", RefreshToken: tok, ClientID: app.ClientID, ClientSecret: app.Secret})
	}

	e.clock.Advance(time.Hour)
	second, err := refresh(a, first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", second)
	}
	claims, err := e.svc.VerifyIDToken(ctx, second.IDToken, "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["nonce"]; ok {
		t.Errorf("refreshed id_token carries the nonce")
	}
	if at, _ := claims["auth_time"].(json.Number).Int64(); at != e.clock.Now().Add(-time.Hour).Unix() {
		t.Errorf("auth_time = %v, want the original login", claims["auth_time"])
	}
	third, err := refresh(a, second.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}

	// Another client cannot use the refresh token (and burns it).
	_, err = refresh(other, third.RefreshToken)
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	_, err = refresh(a, third.RefreshToken)
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)

	// Replaying the first refresh token revokes what was issued after it.
	fourth := e.MustToken(t, codeRequest(a, e.MustCode(t, authorizeReq(a, "")), ""))
	fifth, err := refresh(a, fourth.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	sixth, err := refresh(a, fifth.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = refresh(a, fourth.RefreshToken)
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
	if _, err := e.svc.Authenticate(ctx, sixth.AccessToken); err == nil {
		t.Error("the access token of the refresh chain survived a replay")
	}
	_, err = refresh(a, sixth.RefreshToken)
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)

	// Expired refresh tokens fail.
	seventh := e.MustToken(t, codeRequest(a, e.MustCode(t, authorizeReq(a, "")), ""))
	e.clock.Advance(identity.DefaultRefreshTTL)
	_, err = refresh(a, seventh.RefreshToken)
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)
}

func TestOIDCClientCredentials(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	ctx := t.Context()
	a := e.MustApp(t, "svc", false)
	pub := e.MustApp(t, "spa", true)

	res := e.MustToken(t, atelier.TokenRequest{GrantType: "client_credentials", ClientID: "svc", ClientSecret: appSecret})
	if res.RefreshToken != "" || res.IDToken != "" || res.TokenType != "Bearer" {
		t.Errorf("client credentials answer = %+v", res)
	}
	p, err := e.svc.Authenticate(ctx, res.AccessToken)
	if err != nil || p.Role != atelier.RoleApp || p.UserID != "" || p.ClientID != "svc" || p.TenantID != a.TenantID {
		t.Fatalf("client token principal = %+v, %v", p, err)
	}
	_, err = e.svc.UserInfo(ctx, res.AccessToken)
	wantCode(t, err, atelier.CodeInvalidToken)

	_, err = e.svc.Token(ctx, atelier.TokenRequest{GrantType: "client_credentials", ClientID: "svc", ClientSecret: "wrong"})
	wantCode(t, err, atelier.CodeInvalidClient)
	_, err = e.svc.Token(ctx, atelier.TokenRequest{GrantType: "client_credentials", ClientID: pub.ClientID})
	wantCode(t, err, atelier.CodeOAuthUnauthorized)
}

func TestOIDCAppAccess(t *testing.T) {
	t.Parallel()
	e := MustOIDCEnv(t)
	ctx := t.Context()
	a := e.MustApp(t, "granted", false, func(a *atelier.App) { a.Access = atelier.AppAccessGranted })
	session, _ := e.MustLogin(t, adminEmail, adminPass)
	_, err := e.svc.IssueCode(ctx, authorizeReq(a, ""), session)
	wantCode(t, err, atelier.CodeForbidden)

	p, _ := e.svc.Authenticate(ctx, session)
	if err := e.st.GrantApp(ctx, a.ID, p.UserID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	code, err := e.svc.IssueCode(ctx, authorizeReq(a, ""), session)
	if err != nil {
		t.Fatal(err)
	}
	// Revoked between the code and its redemption: no tokens.
	if err := e.st.RevokeApp(ctx, a.ID, p.UserID); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Token(ctx, codeRequest(a, code, ""))
	wantCode(t, err, atelier.CodeOAuthInvalidGrant)

	// Another tenant's app is not for this user.
	tn, err := e.svc.CreateTenantRaw(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	foreign := e.MustApp(t, "foreign", false, func(a *atelier.App) { a.TenantID = tn.ID })
	_, err = e.svc.IssueCode(ctx, authorizeReq(foreign, ""), session)
	wantCode(t, err, atelier.CodeForbidden)
}

// testSealer returns one sealer for several services over one store, as
// servers sharing a master key.
func testSealer(t testing.TB) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwks fetches the service's key set.
func jwks(t testing.TB, svc *identity.Service) jwt.JWKS {
	t.Helper()
	b, err := svc.JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var set jwt.JWKS
	if err := json.Unmarshal(b, &set); err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.Kid == "" || k.Alg != "RS256" || k.Kty != "RSA" || k.Use != "sig" {
			t.Errorf("bad jwk %+v", k)
		}
	}
	return set
}

func kids(set jwt.JWKS) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// headerKid returns the kid of a token's header.
func headerKid(t testing.TB, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Alg, Kid string }
	if err := json.Unmarshal(h, &hdr); err != nil || hdr.Alg != "RS256" || hdr.Kid == "" {
		t.Fatalf("header %s: %v", h, err)
	}
	return hdr.Kid
}

func TestOIDCKeyRotation(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	e := MustOIDCEnv(t, func(o *identity.Options) { o.KeyRotation = 24 * time.Hour; o.Sealer = sealer })
	ctx := t.Context()
	a := e.MustApp(t, "web", false)
	long := e.MustApp(t, "long", false, func(a *atelier.App) { a.IDTokenTTL = int64((5 * time.Hour).Seconds()) })

	first := e.MustToken(t, codeRequest(a, e.MustCode(t, authorizeReq(a, "")), "")).IDToken
	set := jwks(t, e.svc)
	if len(set.Keys) != 1 || set.Keys[0].Kid != headerKid(t, first) {
		t.Fatalf("JWKS = %v, token kid %s", kids(set), headerKid(t, first))
	}
	// Another server on the same store uses the same key.
	svc2 := identity.New(e.st, identity.Options{Clock: e.clock, Argon2: cheap, Sealer: sealer, KeyRotation: 24 * time.Hour})
	if _, err := svc2.VerifyIDToken(ctx, first, "web"); err != nil {
		t.Fatalf("second server: %v", err)
	}

	// After KeyRotation a new key signs; the old one still verifies.
	e.clock.Advance(23*time.Hour + 30*time.Minute)
	longTok := e.MustToken(t, codeRequest(long, e.MustCode(t, authorizeReq(long, "")), "")).IDToken // 5 h, old key
	e.clock.Advance(30 * time.Minute)
	second := e.MustToken(t, codeRequest(a, e.MustCode(t, authorizeReq(a, "")), "")).IDToken
	if headerKid(t, second) == headerKid(t, first) {
		t.Fatal("no rotation after KeyRotation")
	}
	if set = jwks(t, e.svc); len(set.Keys) != 2 || set.Keys[0].Kid != headerKid(t, second) {
		t.Fatalf("JWKS after rotation = %v; want the new key first, then the old", kids(set))
	}
	if _, err := e.svc.VerifyIDToken(ctx, longTok, "long"); err != nil {
		t.Errorf("token of the old key after rotation: %v", err)
	}
	// The second server finds the new kid in the store.
	if _, err := svc2.VerifyIDToken(ctx, second, "web"); err != nil {
		t.Errorf("second server, new key: %v", err)
	}

	// The old key stays while the longest-lived token it signed can be
	// valid (KeyRotation + 5 h of age), and goes after.
	e.clock.Advance(4*time.Hour + 15*time.Minute)
	if set = jwks(t, e.svc); len(set.Keys) != 2 {
		t.Fatalf("JWKS before the overlap ended = %v", kids(set))
	}
	if _, err := e.svc.VerifyIDToken(ctx, longTok, "long"); err != nil {
		t.Errorf("long-lived token of the old key: %v", err)
	}
	e.clock.Advance(time.Hour)
	if set = jwks(t, e.svc); len(set.Keys) != 1 || set.Keys[0].Kid != headerKid(t, second) {
		t.Fatalf("JWKS after the overlap = %v; want only %s", kids(set), headerKid(t, second))
	}
	keys, err := e.st.ListSigningKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Errorf("stored keys = %d, %v; want 1", len(keys), err)
	}
	for _, k := range keys {
		if strings.Contains(k.Sealed, "PRIVATE") || len(k.Sealed) < 100 {
			t.Errorf("stored key looks unsealed: %.40s", k.Sealed)
		}
	}
}

// forge builds a token from literal header and claims JSON with sig as
// the signature function of the signing input.
func forge(header, claims string, sig func([]byte) []byte) string {
	enc := base64.RawURLEncoding
	in := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims))
	return in + "." + enc.EncodeToString(sig([]byte(in)))
}

func TestVerifyIDTokenRejects(t *testing.T) {
	t.Parallel()
	sealer := testSealer(t)
	e := MustOIDCEnv(t, func(o *identity.Options) { o.Sealer = sealer })
	ctx := t.Context()
	// A server with another issuer signs with the same stored key.
	evil := identity.New(e.st, identity.Options{Clock: e.clock, Argon2: cheap, Sealer: sealer, Issuer: "https://evil.example"})
	evilRes, err := evil.Login(ctx, atelier.LoginRequest{ClientID: atelier.CLIClientID, Email: adminEmail, Password: adminPass})
	if err != nil {
		t.Fatal(err)
	}
	evilTok := evilRes.IDToken
	a := e.MustApp(t, "web", false)
	good := e.MustToken(t, codeRequest(a, e.MustCode(t, authorizeReq(a, "")), "")).IDToken
	if _, err := e.svc.VerifyIDToken(ctx, good, "web"); err != nil {
		t.Fatal(err)
	}
	kid := headerKid(t, good)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])

	set := jwks(t, e.svc)
	if len(set.Keys) != 1 || headerKid(t, evilTok) != kid {
		t.Fatalf("the two servers use different keys: %v", kids(set))
	}
	pub, err := set.Keys[0].PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte { m := hmac.New(sha256.New, key); m.Write(in); return m.Sum(nil) }
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := &jwt.Key{ID: kid, Private: other}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	tamper := func(k string, v any) string {
		c := map[string]any{}
		for kk, vv := range claims {
			c[kk] = vv
		}
		c[k] = v
		b, _ := json.Marshal(c)
		return string(b)
	}

	tests := []struct{ name, token, aud string }{
		{"alg none", forge(`{"alg":"none","kid":"`+kid+`"}`, string(payload), func([]byte) []byte { return nil }), "web"},
		{"alg none, original signature", base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + "." + parts[2], "web"},
		{"HS256 with the PEM public key", forge(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, string(payload), hs(pemKey)), "web"},
		{"HS256 with the DER public key", forge(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, string(payload), hs(der)), "web"},
		{"HS256 with the JWK n", forge(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`, string(payload), hs([]byte(set.Keys[0].N))), "web"},
		{"unknown kid", jwtSign(t, &jwt.Key{ID: "unknown", Private: other}, payload), "web"},
		{"known kid, other key", jwtSign(t, otherKey, payload), "web"},
		{"no kid", forge(`{"alg":"RS256","typ":"JWT"}`, string(payload), func([]byte) []byte { return []byte(parts[2]) }), "web"},
		{"tampered claims", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamper("sub", "someone-else"))) + "." + parts[2], "web"},
		{"wrong audience", good, "other"},
		{"other issuer, same key", evilTok, atelier.CLIClientID},
		{"truncated", parts[0] + "." + parts[1], "web"},
		{"empty", "", "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.svc.VerifyIDToken(ctx, tt.token, tt.aud); atelier.ErrorCode(err) != atelier.CodeInvalidToken.ID {
				t.Errorf("VerifyIDToken = %v, want %s", err, atelier.CodeInvalidToken.ID)
			}
		})
	}

	// Expired: beyond exp plus the minute of leeway.
	e.clock.Advance(2*time.Hour + 2*time.Minute)
	if _, err := e.svc.VerifyIDToken(ctx, good, "web"); atelier.ErrorCode(err) != atelier.CodeInvalidToken.ID {
		t.Errorf("expired token: %v", err)
	}
}

func jwtSign(t testing.TB, k *jwt.Key, payload []byte) string {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(payload, &c); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Sign(k, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
