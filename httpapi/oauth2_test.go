package httpapi_test

import (
	"context"
	"encoding/base64"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

const (
	testIssuer   = "https://id.example"
	testRedirect = "https://app.example/cb"
)

// oidcHarness is a harness whose OIDC provider accepts the client "web"
// with testRedirect and records what it was asked.
type oidcHarness struct {
	*harness
	issued   []string // session tokens IssueCode was called with
	lastReq  atelier.AuthorizeRequest
	tokenReq atelier.TokenRequest
}

func newOIDCHarness(t *testing.T) *oidcHarness {
	t.Helper()
	h := &oidcHarness{harness: newHarness(t)}
	h.oidc.IssuerFn = func() string { return testIssuer }
	h.oidc.CheckAuthorizeFn = func(ctx context.Context, req atelier.AuthorizeRequest) (*atelier.App, error) {
		h.lastReq = req
		switch {
		case req.ClientID != "web":
			return nil, atelier.CodeInvalidClient.Errorf("The client_id names no registered app.")
		case req.RedirectURI != testRedirect:
			return nil, atelier.CodeOAuthRedirect.Errorf("The redirect_uri is not registered for this client.")
		case !strings.Contains(req.Scope, "openid"):
			return nil, atelier.CodeOAuthScope.Errorf("The scope must include openid.")
		}
		return &atelier.App{ClientID: "web", Name: "Web <App>"}, nil
	}
	h.oidc.IssueCodeFn = func(ctx context.Context, req atelier.AuthorizeRequest, session string) (string, error) {
		h.issued = append(h.issued, session)
		switch session {
		case "sess-ok":
			return "code-1", nil
		case "sess-denied":
			return "", atelier.CodeForbidden.Errorf("The user may not use this app.")
		}
		return "", atelier.CodeInvalidToken.Errorf("The session is unknown.")
	}
	return h
}

// authorizeQuery is a valid authorization request's query.
func authorizeQuery(extra ...string) string {
	v := url.Values{
		"client_id": {"web"}, "redirect_uri": {testRedirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {`st"<x>`}, "nonce": {"n1"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v.Encode()
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// formOf returns the hidden fields of a page.
func formOf(t *testing.T, body string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(body, -1) {
		v.Add(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf_token") == "" {
		t.Fatalf("page without csrf_token: %s", body)
	}
	return v
}

// cookie returns the named cookie set by w, or nil.
func cookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// getForm GETs the authorization page and returns its fields and CSRF
// cookie.
func (h *oidcHarness) getForm(t *testing.T) (url.Values, *http.Cookie) {
	t.Helper()
	w := h.do(httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+authorizeQuery(), nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("authorize page: %d %s", w.Code, w.Body)
	}
	c := cookie(w, "atelier_csrf")
	if c == nil || !c.HttpOnly {
		t.Fatalf("no HttpOnly CSRF cookie: %v", w.Result().Cookies())
	}
	return formOf(t, w.Body.String()), c
}

// post submits a form with the cookies.
func (h *oidcHarness) post(form url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/api/v2/oauth2/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return h.do(req)
}

// mustRedirect checks a 302 to testRedirect and returns its query.
func mustRedirect(t *testing.T, w *httptest.ResponseRecorder) url.Values {
	t.Helper()
	if w.Code != http.StatusFound {
		t.Fatalf("status %d, want 302: %s", w.Code, w.Body)
	}
	u, err := url.Parse(w.Header().Get("Location"))
	if err != nil || u.Scheme+"://"+u.Host+u.Path != testRedirect {
		t.Fatalf("Location = %q", w.Header().Get("Location"))
	}
	q := u.Query()
	if q.Get("state") != `st"<x>` || q.Get("iss") != testIssuer {
		t.Errorf("redirect query %v lacks state or iss", q)
	}
	return q
}

func TestDiscoveryAndJWKS(t *testing.T) {
	h := newOIDCHarness(t)
	h.oidc.JWKSFn = func(context.Context) ([]byte, error) { return []byte(`{"keys":[{"kid":"k1"}]}`), nil }
	var doc map[string]any
	mustJSON(t, h.do(httptest.NewRequest("GET", "/.well-known/openid-configuration", nil)), 200, &doc)
	want := map[string]string{
		"issuer":                 testIssuer,
		"authorization_endpoint": testIssuer + "/api/v2/oauth2/authorize",
		"token_endpoint":         testIssuer + "/api/v2/oauth2/token",
		"userinfo_endpoint":      testIssuer + "/api/v2/oauth2/userinfo",
		"jwks_uri":               testIssuer + "/api/v2/oauth2/jwks",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %s", k, doc[k], v)
		}
	}
	for k, v := range map[string]string{"response_types_supported": "code", "id_token_signing_alg_values_supported": "RS256",
		"code_challenge_methods_supported": "S256", "subject_types_supported": "public"} {
		if l, _ := doc[k].([]any); len(l) != 1 || l[0] != v {
			t.Errorf("%s = %v, want [%s]", k, doc[k], v)
		}
	}
	w := h.do(httptest.NewRequest("GET", "/api/v2/oauth2/jwks", nil))
	if w.Code != 200 || w.Body.String() != `{"keys":[{"kid":"k1"}]}` || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("jwks: %d %s %v", w.Code, w.Body, w.Header())
	}
}

func TestAuthorizePage(t *testing.T) {
	h := newOIDCHarness(t)
	form, _ := h.getForm(t)
	w := h.do(httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+authorizeQuery(), nil))
	body := w.Body.String()
	for _, hd := range []string{"X-Frame-Options", "Content-Security-Policy", "Cache-Control"} {
		if w.Header().Get(hd) == "" {
			t.Errorf("page lacks %s", hd)
		}
	}
	if w.Header().Get("X-Frame-Options") != "DENY" || !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("clickjacking headers: %v", w.Header())
	}
	if strings.Contains(body, `st"<x>`) || strings.Contains(body, "Web <App>") || !strings.Contains(body, "Web &lt;App&gt;") {
		t.Errorf("values are not escaped:\n%s", body)
	}
	if strings.Contains(body, "<script") {
		t.Error("the page uses JavaScript")
	}
	for _, k := range []string{"client_id", "redirect_uri", "state", "nonce", "code_challenge", "code_challenge_method", "scope"} {
		want, _ := url.ParseQuery(authorizeQuery())
		if form.Get(k) != want.Get(k) {
			t.Errorf("hidden %s = %q, want %q", k, form.Get(k), want.Get(k))
		}
	}
}

func TestAuthorizeErrors(t *testing.T) {
	h := newOIDCHarness(t)
	// Client and redirect URI errors are shown, never redirected.
	for _, q := range []string{
		authorizeQuery("client_id", "nope"),
		authorizeQuery("redirect_uri", "https://evil.example/cb"),
		authorizeQuery() + "&redirect_uri=" + url.QueryEscape(testRedirect),
	} {
		w := h.do(httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+q, nil))
		if w.Code < 400 || w.Header().Get("Location") != "" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d Location %q", q, w.Code, w.Header().Get("Location"))
		}
	}
	// Other errors go back to the client.
	q := mustRedirect(t, h.do(httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+authorizeQuery("scope", "email"), nil)))
	if q.Get("error") != "invalid_scope" || q.Get("error_description") == "" || q.Get("code") != "" {
		t.Errorf("redirected error %v", q)
	}
	q = mustRedirect(t, h.do(httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+authorizeQuery()+"&nonce=again", nil)))
	if q.Get("error") != "invalid_request" {
		t.Errorf("repeated nonce: %v", q)
	}
	// prompt=none without a session.
	q = mustRedirect(t, h.do(httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+authorizeQuery("prompt", "none"), nil)))
	if q.Get("error") != "login_required" {
		t.Errorf("prompt=none: %v", q)
	}
}

func TestAuthorizeSSOCookie(t *testing.T) {
	h := newOIDCHarness(t)
	get := func(session string, extra ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/v2/oauth2/authorize?"+authorizeQuery(extra...), nil)
		req.AddCookie(&http.Cookie{Name: "atelier_session", Value: session})
		return h.do(req)
	}
	if q := mustRedirect(t, get("sess-ok")); q.Get("code") != "code-1" {
		t.Errorf("SSO redirect %v", q)
	}
	if q := mustRedirect(t, get("sess-denied")); q.Get("error") != "access_denied" {
		t.Errorf("denied SSO %v", q)
	}
	w := get("sess-stale")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Fatalf("stale session: %d", w.Code)
	}
	if c := cookie(w, "atelier_session"); c == nil || c.MaxAge >= 0 {
		t.Errorf("stale session cookie not cleared: %v", c)
	}
	// prompt=login ignores the cookie.
	n := len(h.issued)
	if w := get("sess-ok", "prompt", "login"); w.Code != 200 || len(h.issued) != n {
		t.Errorf("prompt=login: %d, IssueCode calls %d→%d", w.Code, n, len(h.issued))
	}
}

func TestAuthorizeLoginForm(t *testing.T) {
	h := newOIDCHarness(t)
	var got atelier.LoginRequest
	h.auth.LoginFn = func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
		got = req
		if req.Password != "right" {
			return nil, atelier.CodeBadCredentials.Errorf("Wrong email, user name or password; 4 attempts remain.")
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "sess-ok", Expire: 3600}, nil
	}
	form, csrf := h.getForm(t)

	// No CSRF cookie, or a token that does not match: refused before login.
	form.Set("account", "a@example.com")
	form.Set("password", "right")
	if w := h.post(form); w.Code != http.StatusForbidden || got.ClientID != "" {
		t.Fatalf("without CSRF cookie: %d, login %+v", w.Code, got)
	}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("csrf_token", strings.Repeat("A", 43))
	if w := h.post(bad, csrf); w.Code != http.StatusForbidden || got.ClientID != "" {
		t.Fatalf("with a wrong CSRF token: %d", w.Code)
	}

	// Wrong password: the form again, with the message.
	form.Set("password", "wrong")
	w := h.post(form, csrf)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "4 attempts remain") || !strings.Contains(w.Body.String(), `value="a@example.com"`) {
		t.Fatalf("wrong password: %d %s", w.Code, w.Body)
	}
	if got.Email != "a@example.com" || got.UserName != "" || got.ClientID != "web" {
		t.Errorf("login request %+v", got)
	}

	// Success: a session cookie and the code.
	form.Set("password", "right")
	form.Set("account", "alice")
	w = h.post(form, csrf)
	if q := mustRedirect(t, w); q.Get("code") != "code-1" {
		t.Errorf("redirect %v", q)
	}
	if got.UserName != "alice" || got.Email != "" {
		t.Errorf("login by name %+v", got)
	}
	c := cookie(w, "atelier_session")
	if c == nil || c.Value != "sess-ok" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/api/v2/oauth2/authorize" {
		t.Errorf("session cookie %+v", c)
	}
	if h.lastReq.Nonce != "n1" || h.lastReq.CodeChallengeMethod != "S256" {
		t.Errorf("the request did not travel through the form: %+v", h.lastReq)
	}
}

func TestAuthorizeLoginSteps(t *testing.T) {
	h := newOIDCHarness(t)
	h.auth.LoginFn = func(ctx context.Context, req atelier.LoginRequest) (*atelier.LoginResult, error) {
		switch req.UserName {
		case "mfa":
			return &atelier.LoginResult{Status: atelier.LoginMFA, StateToken: "state-mfa", Data: map[string]any{"methods": []string{"email", "totp"}}}, nil
		case "expired":
			return &atelier.LoginResult{Status: atelier.LoginPasswordExpired, StateToken: "state-pw"}, nil
		case "denied":
			return &atelier.LoginResult{Status: atelier.LoginAccessDenied}, nil
		case "warn":
			return &atelier.LoginResult{Status: atelier.LoginPasswordWarn, SessionToken: "sess-ok", Data: map[string]any{"days_left": 3}}, nil
		}
		return nil, errors.New("database on fire")
	}
	var sent, verified []string
	h.auth.SendMFACodeFn = func(ctx context.Context, state, channel string) (*atelier.MFASent, error) {
		sent = append(sent, state+"/"+channel)
		return &atelier.MFASent{Channel: channel, To: "a***@example.com"}, nil
	}
	h.auth.VerifyMFAFn = func(ctx context.Context, state, channel, code string) (*atelier.LoginResult, error) {
		verified = append(verified, state+"/"+channel+"/"+code)
		if code != "123456" {
			return nil, atelier.CodeBadOTP.Errorf("The code is wrong; 4 attempts remain.")
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "sess-ok"}, nil
	}
	h.auth.UpdateExpiredPasswordFn = func(ctx context.Context, state, old, nw string) (*atelier.LoginResult, error) {
		if state != "state-pw" || old != "old" || nw != "new-Password1" {
			return nil, atelier.CodeStateToken.Errorf("bad")
		}
		return &atelier.LoginResult{Status: atelier.LoginSuccess, SessionToken: "sess-ok"}, nil
	}
	form, csrf := h.getForm(t)
	login := func(name string) *httptest.ResponseRecorder {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("account", name)
		f.Set("password", "pw")
		return h.post(f, csrf)
	}

	// MFA: the form carries the state token; send, wrong code, right code.
	w := login("mfa")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="code"`) {
		t.Fatalf("MFA page: %d %s", w.Code, w.Body)
	}
	mfa := formOf(t, w.Body.String())
	if mfa.Get("state_token") != "state-mfa" || strings.Join(mfa["methods"], ",") != "email,totp" {
		t.Fatalf("MFA form %v", mfa)
	}
	mfa.Set("step", "mfa_send")
	mfa.Set("channel", "email")
	if w := h.post(mfa, csrf); w.Code != 200 || !strings.Contains(w.Body.String(), "a***@example.com") {
		t.Errorf("send: %d %s", w.Code, w.Body)
	}
	mfa.Set("step", "mfa")
	mfa.Set("code", "000000")
	if w := h.post(mfa, csrf); w.Code != 400 || !strings.Contains(w.Body.String(), "4 attempts remain") {
		t.Errorf("wrong code: %d", w.Code)
	}
	mfa.Set("code", "123456")
	if q := mustRedirect(t, h.post(mfa, csrf)); q.Get("code") != "code-1" {
		t.Errorf("after MFA %v", q)
	}
	if strings.Join(sent, " ") != "state-mfa/email" || strings.Join(verified, " ") != "state-mfa/email/000000 state-mfa/email/123456" {
		t.Errorf("sent %v, verified %v", sent, verified)
	}

	// Expired password: change it, then the code.
	w = login("expired")
	pw := formOf(t, w.Body.String())
	if pw.Get("state_token") != "state-pw" || pw.Get("step") != "password" {
		t.Fatalf("password form %v", pw)
	}
	pw.Set("old_password", "old")
	pw.Set("new_password", "new-Password1")
	pw.Set("confirm_password", "other")
	if w := h.post(pw, csrf); w.Code != 200 || !strings.Contains(w.Body.String(), "differ") {
		t.Errorf("mismatch: %d", w.Code)
	}
	pw.Set("confirm_password", "new-Password1")
	if q := mustRedirect(t, h.post(pw, csrf)); q.Get("code") != "code-1" {
		t.Errorf("after password change %v", q)
	}

	// Denied and warned.
	if q := mustRedirect(t, login("denied")); q.Get("error") != "access_denied" {
		t.Errorf("denied %v", q)
	}
	if q := mustRedirect(t, login("warn")); q.Get("code") != "code-1" {
		t.Errorf("warn %v", q)
	}
	// Our failure: an error page without details.
	if w := login("boom"); w.Code != 500 || strings.Contains(w.Body.String(), "fire") {
		t.Errorf("internal error page: %d %s", w.Code, w.Body)
	}
}

// tokenPost builds a token request.
func tokenPost(form url.Values) *http.Request {
	req := httptest.NewRequest("POST", "/api/v2/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func TestTokenEndpoint(t *testing.T) {
	h := newOIDCHarness(t)
	h.oidc.TokenFn = func(ctx context.Context, req atelier.TokenRequest) (*atelier.TokenResponse, error) {
		h.tokenReq = req
		switch req.Code {
		case "good":
			return &atelier.TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 60, RefreshToken: "rt", IDToken: "idt"}, nil
		case "client":
			return nil, atelier.CodeInvalidClient.Errorf("The client id or client secret is wrong.")
		case "boom":
			return nil, errors.New("secret database detail")
		}
		return nil, atelier.CodeOAuthInvalidGrant.Errorf("The authorization code is invalid.")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {"good"}, "redirect_uri": {testRedirect}, "code_verifier": {"v"}}

	// client_secret_basic, with form-encoded id and secret.
	req := tokenPost(form)
	req.SetBasicAuth(url.QueryEscape("web app"), url.QueryEscape("s:e/c+r"))
	w := h.do(req)
	var res map[string]any
	mustJSON(t, w, 200, &res)
	if res["access_token"] != "at" || res["id_token"] != "idt" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("answer %v %v", res, w.Header())
	}
	if h.tokenReq.ClientID != "web app" || h.tokenReq.ClientSecret != "s:e/c+r" || h.tokenReq.CodeVerifier != "v" || h.tokenReq.RedirectURI != testRedirect {
		t.Errorf("request %+v", h.tokenReq)
	}

	// client_secret_post.
	post := url.Values{"client_id": {"web"}, "client_secret": {"sec"}}
	for k, v := range form {
		post[k] = v
	}
	mustJSON(t, h.do(tokenPost(post)), 200, nil)
	if h.tokenReq.ClientID != "web" || h.tokenReq.ClientSecret != "sec" {
		t.Errorf("post auth %+v", h.tokenReq)
	}

	oauthErr := func(w *httptest.ResponseRecorder, status int, code string) {
		t.Helper()
		var e struct {
			Error string `json:"error"`
			Desc  string `json:"error_description"`
		}
		mustJSON(t, w, status, &e)
		if e.Error != code {
			t.Errorf("error = %q, want %q (%s)", e.Error, code, e.Desc)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Error("error without Cache-Control: no-store")
		}
		if strings.Contains(w.Body.String(), "secret database detail") {
			t.Error("internal detail leaked")
		}
	}
	both := tokenPost(post)
	both.SetBasicAuth("web", "sec")
	oauthErr(h.do(both), 400, "invalid_request")
	oauthErr(h.do(tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {"a", "b"}})), 400, "invalid_request")
	jsonReq := httptest.NewRequest("POST", "/api/v2/oauth2/token", strings.NewReader(`{"grant_type":"authorization_code"}`))
	jsonReq.Header.Set("Content-Type", "application/json")
	oauthErr(h.do(jsonReq), 400, "invalid_request")
	oauthErr(h.do(tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {"used"}})), 400, "invalid_grant")
	w = h.do(tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {"client"}}))
	oauthErr(w, 401, "invalid_client")
	if !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Basic") {
		t.Errorf("invalid_client without a Basic challenge: %v", w.Header())
	}
	oauthErr(h.do(tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {"boom"}})), 500, "server_error")
	big := tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {strings.Repeat("x", 2<<20)}})
	oauthErr(h.do(big), 400, "invalid_request")
	badBasic := tokenPost(form)
	badBasic.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("web:%zz")))
	oauthErr(h.do(badBasic), 401, "invalid_client")
}

func TestUserInfoEndpoint(t *testing.T) {
	h := newOIDCHarness(t)
	h.oidc.UserInfoFn = func(ctx context.Context, tok string) (*atelier.UserInfo, error) {
		if tok != "at" {
			return nil, atelier.CodeInvalidToken.Errorf("The bearer token is unknown.")
		}
		return &atelier.UserInfo{Sub: "u1", Email: "a@example.com", TenantID: "t1"}, nil
	}
	for _, method := range []string{"GET", "POST"} {
		req := httptest.NewRequest(method, "/api/v2/oauth2/userinfo", nil)
		req.Header.Set("Authorization", "Bearer at")
		var info map[string]any
		mustJSON(t, h.do(req), 200, &info)
		if info["sub"] != "u1" || info["email"] != "a@example.com" {
			t.Errorf("%s userinfo %v", method, info)
		}
	}
	w := h.do(httptest.NewRequest("GET", "/api/v2/oauth2/userinfo", nil))
	if w.Code != 401 || !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %v", w.Code, w.Header())
	}
	req := httptest.NewRequest("GET", "/api/v2/oauth2/userinfo", nil)
	req.Header.Set("Authorization", "Bearer nope")
	w = h.do(req)
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("bad token: %d %v", w.Code, w.Header())
	}
}
