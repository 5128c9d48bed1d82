package main

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// hiddenInput matches the hidden fields of the login page.
var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// callback is an OIDC client's redirect endpoint: it hands each query it
// receives to the test.
type callback struct {
	*httptest.Server
	got chan url.Values
}

func newCallback(t *testing.T) *callback {
	t.Helper()
	c := &callback{got: make(chan url.Values, 4)}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.got <- r.URL.Query()
		io.WriteString(w, "signed in")
	}))
	t.Cleanup(c.Close)
	return c
}

// MustCallbackQuery returns the query the callback received.
func (c *callback) MustCallbackQuery(t *testing.T) url.Values {
	t.Helper()
	select {
	case q := <-c.got:
		return q
	case <-time.After(10 * time.Second):
		t.Fatal("the callback was not called")
		return nil
	}
}

// MustRegisterApp registers an app through the directory API and returns
// its client id and secret ("" for a public app).
func MustRegisterApp(t *testing.T, ts *testServer, token string, body map[string]any) (string, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	var app struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	resp := call(t, http.DefaultClient, "POST", ts.URL+"/v1/apps", token, strings.NewReader(string(b)), map[string]string{"Content-Type": "application/json"}, &app)
	mustStatus(t, resp, 201)
	if app.ClientID == "" {
		t.Fatalf("app without client id: %+v", app)
	}
	return app.ClientID, app.ClientSecret
}

// MustBrowserLogin plays a browser: it opens authURL, fills the login form
// with the admin's credentials and submits it, following the redirects to
// the callback.
func MustBrowserLogin(t *testing.T, browser *http.Client, ts *testServer, authURL string) {
	t.Helper()
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `name="password"`) {
		t.Fatalf("authorize page: %d %s", resp.StatusCode, page)
	}
	form := url.Values{}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	form.Set("account", testAdminEmail)
	form.Set("password", testAdminPassword)
	resp, err = browser.PostForm(ts.URL+"/api/v2/oauth2/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "signed in" {
		t.Fatalf("login form answered %d %s", resp.StatusCode, body)
	}
}

// TestOIDCCodeFlowEndToEnd is the acceptance test of the OpenID Connect
// provider: a standard client (coreos/go-oidc and x/oauth2) logs a user in
// against the real server with the authorization-code flow, PKCE and a
// nonce, verifies the id_token against the published JWKS, reads userinfo
// and uses the access token on /v1.
func TestOIDCCodeFlowEndToEnd(t *testing.T) {
	ts := MustStartServer(t, t.TempDir())
	admin := MustLogin(t, ts)
	cb := newCallback(t)
	redirect := cb.URL + "/callback"
	clientID, secret := MustRegisterApp(t, ts, admin, map[string]any{"name": "grafana", "redirect_uris": []string{redirect}})
	if secret == "" {
		t.Fatal("a confidential app came without a secret")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	conf := oauth2.Config{
		ClientID:     clientID,
		ClientSecret: secret,
		Endpoint:     provider.Endpoint(),
		RedirectURL:  redirect,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
	idVerifier := provider.Verifier(&oidc.Config{ClientID: clientID})

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}

	// First login: the form.
	pkce := oauth2.GenerateVerifier()
	const state, nonce = "state-1a2b3c", "nonce-9z8y7x"
	MustBrowserLogin(t, browser, ts, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(pkce), oidc.Nonce(nonce)))
	q := cb.MustCallbackQuery(t)
	if q.Get("state") != state || q.Get("code") == "" || q.Get("iss") != ts.URL {
		t.Fatalf("callback query %v", q)
	}
	code := q.Get("code")

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(pkce))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := idVerifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc rejects the id_token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("nonce = %q, want %q", idt.Nonce, nonce)
	}
	var claims struct {
		Email    string `json:"email"`
		Name     string `json:"name"`
		TenantID string `json:"tenant_id"`
		AuthTime int64  `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil || claims.Email != testAdminEmail || claims.TenantID == "" || claims.AuthTime == 0 {
		t.Errorf("id_token claims %+v, %v", claims, err)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idt.Subject || info.Email != testAdminEmail {
		t.Fatalf("userinfo = %+v, %v", info, err)
	}

	// The access token is a /v1 bearer of the same user, through the app.
	var who struct {
		UserID   string `json:"user_id"`
		ClientID string `json:"client_id"`
		Email    string `json:"email"`
	}
	mustStatus(t, call(t, http.DefaultClient, "GET", ts.URL+"/v1/auth/whoami", tok.AccessToken, nil, nil, &who), 200)
	if who.UserID != idt.Subject || who.ClientID != clientID || who.Email != testAdminEmail {
		t.Errorf("whoami with the access token = %+v", who)
	}

	// Single sign-on: the browser's session skips the form.
	pkce2 := oauth2.GenerateVerifier()
	resp, err := browser.Get(conf.AuthCodeURL("state-2", oauth2.S256ChallengeOption(pkce2), oidc.Nonce("nonce-2")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q2 := cb.MustCallbackQuery(t)
	if q2.Get("state") != "state-2" || q2.Get("code") == "" {
		t.Fatalf("SSO callback %v", q2)
	}
	tok2, err := conf.Exchange(ctx, q2.Get("code"), oauth2.VerifierOption(pkce2))
	if err != nil {
		t.Fatalf("SSO exchange: %v", err)
	}

	// Refresh with rotation.
	fresh, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken, Expiry: time.Now().Add(-time.Minute)}).Token()
	if err != nil || fresh.AccessToken == "" || fresh.RefreshToken == tok2.RefreshToken {
		t.Fatalf("refresh = %+v, %v", fresh, err)
	}
	if _, err := idVerifier.Verify(ctx, fresh.Extra("id_token").(string)); err != nil {
		t.Errorf("refreshed id_token: %v", err)
	}

	// A replayed code fails and revokes what it gave.
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(pkce))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("replayed code: %v", err)
	}
	mustStatus(t, call(t, http.DefaultClient, "GET", ts.URL+"/v1/auth/whoami", tok.AccessToken, nil, nil, nil), 401)

	// A wrong PKCE verifier fails.
	pkce3 := oauth2.GenerateVerifier()
	resp, err = browser.Get(conf.AuthCodeURL("state-3", oauth2.S256ChallengeOption(pkce3)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q3 := cb.MustCallbackQuery(t)
	_, err = conf.Exchange(ctx, q3.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("wrong verifier: %v", err)
	}

	// A redirect URI that is not registered is refused on the page, never
	// redirected to.
	evil := conf
	evil.RedirectURL = redirect + "/../evil"
	resp, err = browser.Get(evil.AuthCodeURL("s", oauth2.S256ChallengeOption(pkce3)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Request.URL.Host != strings.TrimPrefix(ts.URL, "http://") {
		t.Errorf("unregistered redirect: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	// A public client: PKCE without a secret.
	pubID, pubSecret := MustRegisterApp(t, ts, admin, map[string]any{"name": "cli-tool", "public": true, "redirect_uris": []string{redirect}})
	if pubSecret != "" {
		t.Fatalf("a public app got a secret")
	}
	pub := oauth2.Config{ClientID: pubID, Endpoint: provider.Endpoint(), RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID}}
	pub.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	pkce4 := oauth2.GenerateVerifier()
	resp, err = browser.Get(pub.AuthCodeURL("state-4", oauth2.S256ChallengeOption(pkce4)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	q4 := cb.MustCallbackQuery(t)
	ptok, err := pub.Exchange(ctx, q4.Get("code"), oauth2.VerifierOption(pkce4))
	if err != nil {
		t.Fatalf("public exchange: %v", err)
	}
	if _, err := provider.Verifier(&oidc.Config{ClientID: pubID}).Verify(ctx, ptok.Extra("id_token").(string)); err != nil {
		t.Errorf("public client's id_token: %v", err)
	}
	// Without PKCE a public client is sent back an error.
	resp, err = browser.Get(pub.AuthCodeURL("state-5"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if q5 := cb.MustCallbackQuery(t); q5.Get("error") != "invalid_request" || q5.Get("code") != "" {
		t.Errorf("public client without PKCE: %v", q5)
	}
}
