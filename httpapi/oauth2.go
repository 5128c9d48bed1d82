package httpapi

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/atelier-dev/atelier"
)

// Paths of the OpenID Connect provider.
const (
	discoveryPath = "/.well-known/openid-configuration"
	jwksPath      = "/api/v2/oauth2/jwks"
	authorizePath = "/api/v2/oauth2/authorize"
	tokenPath     = "/api/v2/oauth2/token"
	userinfoPath  = "/api/v2/oauth2/userinfo"
)

// Cookies of the authorization endpoint. Both are scoped to its path, so
// that nothing else ever receives them.
const (
	// sessionCookie holds the session token of a browser login, so that a
	// second authorization request skips the form (single sign-on).
	sessionCookie = "atelier_session"
	// csrfCookie holds the double-submit token that every form echoes.
	csrfCookie = "atelier_csrf"
)

// authorizeParams are the request parameters the forms carry along.
var authorizeParams = []string{"client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"}

// oauthRoutes are the OpenID Connect provider's routes.
func (s *Server) oauthRoutes() []route {
	authorizeQuery := []param{
		{Name: "client_id", Desc: "The app's client id.", Required: true},
		{Name: "redirect_uri", Desc: "One of the app's registered redirect URIs, exactly.", Required: true},
		{Name: "response_type", Desc: "code", Required: true},
		{Name: "scope", Desc: "Space-separated; must include openid.", Required: true},
		{Name: "state", Desc: "Returned unchanged to the redirect URI."},
		{Name: "nonce", Desc: "Copied into the id_token."},
		{Name: "code_challenge", Desc: "PKCE S256 challenge; required for public clients."},
		{Name: "code_challenge_method", Desc: "S256 (plain is refused)."},
		{Name: "prompt", Desc: "login forces the form; none fails with login_required instead of showing it."},
	}
	bearer := []param{{Name: "Authorization", Desc: "Bearer <access_token>.", Required: true}}
	return []route{
		{Method: "GET", Pattern: discoveryPath, Summary: "OpenID Connect discovery document.",
			Response: `{"issuer","authorization_endpoint","token_endpoint","userinfo_endpoint","jwks_uri",…}`, Status: 200, Out: map[string]any{}, Handler: s.handleDiscovery},
		{Method: "GET", Pattern: jwksPath, Summary: "JSON Web Key Set of the current and previous id_token signing keys.",
			Response: `{"keys":[{"kty","use","alg","kid","n","e"}]}`, Status: 200, Out: struct {
				Keys []map[string]any `json:"keys"`
			}{}, Handler: s.handleJWKS},
		{Method: "GET", Pattern: authorizePath, Summary: "OAuth 2.0 authorization endpoint (code flow with PKCE): shows the login page, or redirects at once when the browser has a session.",
			Query: authorizeQuery, Response: "An HTML login page, or 302 to redirect_uri with code and state (or error).", ContentType: "text/html", Status: 200, Handler: s.handleAuthorize},
		{Method: "POST", Pattern: authorizePath, Summary: "Submit the login page (form-encoded): password, MFA code or new password; 302 to redirect_uri with the code when done.",
			RequestType: "application/x-www-form-urlencoded", ContentType: "text/html",
			Request:  "application/x-www-form-urlencoded: csrf_token, step (login|mfa|mfa_send|password), the authorization parameters, and account/password, state_token/channel/code or old_password/new_password/confirm_password.",
			Response: "302 to redirect_uri with code and state, or the page again with a message.", Status: 302, Handler: s.handleAuthorizeForm},
		{Method: "POST", Pattern: tokenPath, Summary: "OAuth 2.0 token endpoint: grant_type authorization_code, refresh_token or client_credentials (form-encoded; client_secret_basic, client_secret_post or none with PKCE).",
			Headers:     []param{{Name: "Authorization", Desc: "Basic client_id:client_secret (client_secret_basic)."}},
			RequestType: "application/x-www-form-urlencoded",
			Request:     "application/x-www-form-urlencoded: grant_type, code, redirect_uri, code_verifier, refresh_token, client_id, client_secret, scope.",
			Response:    `{"access_token","token_type","expires_in","refresh_token","id_token","scope"}; errors are {"error","error_description"} (RFC 6749 §5.2)`, Status: 200, Out: atelier.TokenResponse{}, Handler: s.handleToken},
		{Method: "GET", Pattern: userinfoPath, Summary: "OpenID Connect userinfo of the access token's user.", Headers: bearer,
			Response: `{"sub","email","name","preferred_username","phone_number","tenant_id","org_id","display_name"}`, Status: 200, Out: atelier.UserInfo{}, Handler: s.handleUserInfo},
		{Method: "POST", Pattern: userinfoPath, Summary: "OpenID Connect userinfo of the access token's user.", Headers: bearer,
			Response: `{"sub","email","name","preferred_username","phone_number","tenant_id","org_id","display_name"}`, Status: 200, Out: atelier.UserInfo{}, Handler: s.handleUserInfo},
	}
}

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) error {
	iss := s.oidc.Issuer()
	w.Header().Set("Cache-Control", "public, max-age=3600")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + authorizePath,
		"token_endpoint":                        iss + tokenPath,
		"userinfo_endpoint":                     iss + userinfoPath,
		"jwks_uri":                              iss + jwksPath,
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"claims_supported": []string{"iss", "sub", "aud", "iat", "exp", "auth_time", "nonce",
			"email", "name", "preferred_username", "tenant_id"},
		"prompt_values_supported":                        []string{"none", "login"},
		"authorization_response_iss_parameter_supported": true,
	})
	return nil
}

func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) error {
	b, err := s.oidc.JWKS(r.Context())
	if err != nil {
		return err
	}
	// Short: a rotated key is published when it first signs, and clients
	// refetch on an unknown kid anyway.
	w.Header().Set("Cache-Control", "public, max-age=60")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return nil
}

// authorizeRequest reads the authorization parameters from v.
func authorizeRequest(v url.Values) atelier.AuthorizeRequest {
	return atelier.AuthorizeRequest{
		ClientID:            v.Get("client_id"),
		RedirectURI:         v.Get("redirect_uri"),
		ResponseType:        v.Get("response_type"),
		Scope:               v.Get("scope"),
		State:               v.Get("state"),
		Nonce:               v.Get("nonce"),
		CodeChallenge:       v.Get("code_challenge"),
		CodeChallengeMethod: v.Get("code_challenge_method"),
	}
}

// hiddenParams returns the authorization parameters to carry in a form.
func hiddenParams(req atelier.AuthorizeRequest) []hiddenField {
	all := []hiddenField{
		{"client_id", req.ClientID}, {"redirect_uri", req.RedirectURI}, {"response_type", req.ResponseType},
		{"scope", req.Scope}, {"state", req.State}, {"nonce", req.Nonce},
		{"code_challenge", req.CodeChallenge}, {"code_challenge_method", req.CodeChallengeMethod},
	}
	out := all[:0]
	for _, f := range all {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

// shownToUser reports whether an authorization error must be shown on the
// page rather than sent to the redirect URI: errors about the client or the
// redirect URI (which is then untrusted), and our own failures.
func shownToUser(err error) bool {
	switch atelier.ErrorCode(err) {
	case atelier.CodeInvalidClient.ID, atelier.CodeUnknownClient.ID, atelier.CodeOAuthRedirect.ID:
		return true
	case atelier.CodeOAuthInvalidRequest.ID, atelier.CodeOAuthResponseType.ID, atelier.CodeOAuthScope.ID,
		atelier.CodeOAuthUnauthorized.ID, atelier.CodeInvalidParam.ID:
		return false
	}
	return true
}

// checkAuthorize validates the authorization request in v. When it is bad
// it answers (an error page, or an error sent to the redirect URI) and
// returns ok false.
func (s *Server) checkAuthorize(w http.ResponseWriter, r *http.Request, v url.Values) (atelier.AuthorizeRequest, *atelier.App, bool) {
	req := authorizeRequest(v)
	for _, p := range []string{"client_id", "redirect_uri"} {
		if len(v[p]) > 1 {
			s.errorPage(w, r, atelier.CodeOAuthInvalidRequest.Errorf("The %s parameter is repeated.", p).WithField(p))
			return req, nil, false
		}
	}
	app, err := s.oidc.CheckAuthorize(r.Context(), req)
	if err == nil {
		for _, p := range authorizeParams {
			if len(v[p]) > 1 {
				err = atelier.CodeOAuthInvalidRequest.Errorf("The %s parameter is repeated.", p).WithField(p)
				break
			}
		}
	}
	if err != nil {
		if shownToUser(err) {
			s.errorPage(w, r, err)
		} else {
			s.redirectError(w, req, atelier.OAuthError(atelier.ErrorCode(err)), atelier.ErrorMessage(err))
		}
		return req, nil, false
	}
	return req, app, true
}

// handleAuthorize starts an authorization: it validates the request, then
// either redirects at once (the browser's session cookie is still good) or
// shows the login form.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req, app, ok := s.checkAuthorize(w, r, q)
	if !ok {
		return nil
	}
	prompt := q.Get("prompt")
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" && prompt != "login" {
		code, err := s.oidc.IssueCode(r.Context(), req, c.Value)
		switch atelier.ErrorCode(err) {
		case "":
			s.redirectCode(w, req, code)
			return nil
		case atelier.CodeInvalidToken.ID, atelier.CodeNoCredentials.ID:
			s.clearSessionCookie(w) // stale: log in again
		case atelier.CodeForbidden.ID:
			s.redirectError(w, req, "access_denied", "The user may not use this app.")
			return nil
		default:
			s.errorPage(w, r, err)
			return nil
		}
	}
	if prompt == "none" {
		s.redirectError(w, req, "login_required", "The user is not logged in.")
		return nil
	}
	s.renderPage(w, r, http.StatusOK, s.formPage(w, r, viewLogin, req, app))
	return nil
}

// formPage returns the page data of a form for req, with a CSRF token.
func (s *Server) formPage(w http.ResponseWriter, r *http.Request, view string, req atelier.AuthorizeRequest, app *atelier.App) *pageData {
	return &pageData{
		View:    view,
		AppName: app.Name,
		ISV:     app.ISV,
		CSRF:    s.csrfToken(w, r),
		Params:  hiddenParams(req),
	}
}

// handleAuthorizeForm handles a submitted login, MFA or password form.
func (s *Server) handleAuthorizeForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, atelier.CodeOAuthInvalidRequest.Errorf("The form could not be read."))
		return nil
	}
	f := r.PostForm
	req, app, ok := s.checkAuthorize(w, r, f)
	if !ok {
		return nil
	}
	if !s.validCSRF(r, f.Get("csrf_token")) {
		d := s.formPage(w, r, viewLogin, req, app)
		d.Error = "This form has expired. Please sign in again."
		s.renderPage(w, r, http.StatusForbidden, d)
		return nil
	}
	ctx := r.Context()
	state, channel := f.Get("state_token"), f.Get("channel")
	switch step := f.Get("step"); step {
	case "login":
		account := strings.TrimSpace(f.Get("account"))
		lr := atelier.LoginRequest{ClientID: app.ClientID, TenantID: strings.TrimSpace(f.Get("tenant_id")), Password: f.Get("password")}
		if strings.Contains(account, "@") {
			lr.Email = account
		} else {
			lr.UserName = account
		}
		res, err := s.auth.Login(ctx, lr)
		if err != nil {
			d := s.formPage(w, r, viewLogin, req, app)
			d.Account, d.TenantID = account, lr.TenantID
			return s.formError(w, r, d, err)
		}
		return s.loginStep(w, r, req, app, res)
	case "mfa_send":
		d := s.mfaPage(w, r, req, app, state, f["methods"], channel)
		sent, err := s.auth.SendMFACode(ctx, state, channel)
		if err != nil {
			return s.formError(w, r, d, err)
		}
		d.Notice = "A code was sent to " + sent.To + "."
		s.renderPage(w, r, http.StatusOK, d)
		return nil
	case "mfa":
		res, err := s.auth.VerifyMFA(ctx, state, channel, strings.TrimSpace(f.Get("code")))
		if err != nil {
			if atelier.ErrorCode(err) == atelier.CodeStateToken.ID {
				return s.formError(w, r, s.formPage(w, r, viewLogin, req, app), err)
			}
			return s.formError(w, r, s.mfaPage(w, r, req, app, state, f["methods"], channel), err)
		}
		return s.loginStep(w, r, req, app, res)
	case "password":
		d := s.formPage(w, r, viewPassword, req, app)
		d.StateToken = state
		if f.Get("new_password") != f.Get("confirm_password") {
			d.Error = "The two new passwords differ."
			s.renderPage(w, r, http.StatusOK, d)
			return nil
		}
		res, err := s.auth.UpdateExpiredPassword(ctx, state, f.Get("old_password"), f.Get("new_password"))
		if err != nil {
			if atelier.ErrorCode(err) == atelier.CodeStateToken.ID {
				return s.formError(w, r, s.formPage(w, r, viewLogin, req, app), err)
			}
			return s.formError(w, r, d, err)
		}
		return s.loginStep(w, r, req, app, res)
	default:
		d := s.formPage(w, r, viewLogin, req, app)
		d.Error = "Unknown step; please sign in again."
		s.renderPage(w, r, http.StatusBadRequest, d)
		return nil
	}
}

// mfaPage returns the MFA form's data. The methods travel in the form so
// that the page can be drawn again without asking the service.
func (s *Server) mfaPage(w http.ResponseWriter, r *http.Request, req atelier.AuthorizeRequest, app *atelier.App, state string, methods []string, channel string) *pageData {
	d := s.formPage(w, r, viewMFA, req, app)
	d.StateToken = state
	for _, m := range methods {
		if m == "sms" || m == "email" || m == "totp" {
			d.Methods = append(d.Methods, m)
			d.Params = append(d.Params, hiddenField{"methods", m})
			d.CanSend = d.CanSend || m != "totp"
		}
	}
	d.Channel = channel
	if d.Channel == "" && len(d.Methods) > 0 {
		d.Channel = d.Methods[0]
	}
	return d
}

// loginStep continues after a login step answered: tokens end the login
// with a redirect carrying a code; MFA_AUTH and PASSWORD_EXPIRED show their
// form; ACCESS_DENIED goes back to the client as access_denied.
func (s *Server) loginStep(w http.ResponseWriter, r *http.Request, req atelier.AuthorizeRequest, app *atelier.App, res *atelier.LoginResult) error {
	switch res.Status {
	case atelier.LoginSuccess, atelier.LoginPasswordWarn:
		code, err := s.oidc.IssueCode(r.Context(), req, res.SessionToken)
		if atelier.ErrorCode(err) == atelier.CodeForbidden.ID {
			s.redirectError(w, req, "access_denied", "The user may not use this app.")
			return nil
		} else if err != nil {
			s.errorPage(w, r, err)
			return nil
		}
		http.SetCookie(w, &http.Cookie{
			Name:     sessionCookie,
			Value:    res.SessionToken,
			Path:     authorizePath,
			MaxAge:   int(res.Expire),
			HttpOnly: true,
			Secure:   s.secureCookies(),
			SameSite: http.SameSiteLaxMode,
		})
		s.redirectCode(w, req, code)
		return nil
	case atelier.LoginMFA:
		d := s.mfaPage(w, r, req, app, res.StateToken, stringList(res.Data["methods"]), "")
		s.renderPage(w, r, http.StatusOK, d)
		return nil
	case atelier.LoginPasswordExpired:
		d := s.formPage(w, r, viewPassword, req, app)
		d.StateToken = res.StateToken
		s.renderPage(w, r, http.StatusOK, d)
		return nil
	case atelier.LoginAccessDenied:
		s.redirectError(w, req, "access_denied", "The user may not use this app.")
		return nil
	}
	s.errorPage(w, r, atelier.CodeInternal.Errorf("Internal error."))
	return nil
}

// stringList reads a list of strings that is either []string (in process)
// or []any (decoded JSON).
func stringList(v any) []string {
	switch l := v.(type) {
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// formError shows d again with err's message, or an error page for a
// failure of ours.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, d *pageData, err error) error {
	if StatusOf(err) >= 500 {
		s.errorPage(w, r, err)
		return nil
	}
	d.Error = s.pageMessage(r, err)
	s.renderPage(w, r, StatusOf(err), d)
	return nil
}

// pageMessage is the message of err for a page: in Chinese when X-L, the
// OIDC ui_locales parameter or the browser's first Accept-Language asks for
// it, else in English. The page itself is English only.
func (s *Server) pageMessage(r *http.Request, err error) string {
	lang := r.Header.Get("X-L")
	if lang == "" {
		lang, _, _ = strings.Cut(r.FormValue("ui_locales"), " ")
	}
	if lang == "" {
		first, _, _ := strings.Cut(r.Header.Get("Accept-Language"), ",")
		first, _, _ = strings.Cut(first, ";")
		if l := strings.ToLower(strings.TrimSpace(first)); l == "zh" || strings.HasPrefix(l, "zh-") {
			lang = "zh"
		}
	}
	return LocalizedMessage(err, lang)
}

// errorPage shows err on a page; it never redirects.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	msg := s.pageMessage(r, err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "authorization failed", "route", routeOf(r.Context()), "error_code", atelier.ErrorCode(err), "err", err)
		msg = "Something went wrong on our side. Please try again later."
	}
	s.renderPage(w, r, status, &pageData{View: viewError, Error: msg})
}

// redirectCode ends an authorization with the code.
func (s *Server) redirectCode(w http.ResponseWriter, req atelier.AuthorizeRequest, code string) {
	s.redirect(w, req, url.Values{"code": {code}})
}

// redirectError sends an OAuth error to the client's (already validated)
// redirect URI.
func (s *Server) redirectError(w http.ResponseWriter, req atelier.AuthorizeRequest, code, desc string) {
	s.redirect(w, req, url.Values{"error": {code}, "error_description": {oauthDescription(desc)}})
}

// redirect answers 302 to the request's redirect URI with params, state and
// iss (RFC 9207) added to its query.
func (s *Server) redirect(w http.ResponseWriter, req atelier.AuthorizeRequest, params url.Values) {
	u, err := url.Parse(req.RedirectURI)
	if err != nil { // CheckAuthorize matched it against a registered URI
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	if req.State != "" {
		q.Set("state", req.State)
	}
	q.Set("iss", s.oidc.Issuer())
	u.RawQuery = q.Encode()
	setPageHeaders(w)
	w.Header().Set("Location", u.String())
	w.WriteHeader(http.StatusFound)
}

// secureCookies reports whether cookies get the Secure flag: when the
// issuer is https.
func (s *Server) secureCookies() bool { return strings.HasPrefix(s.oidc.Issuer(), "https://") }

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: authorizePath, MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteLaxMode})
}

// csrfToken returns the browser's CSRF token, setting a new random one
// when it has none (double-submit cookie: an attacker's page can neither
// read the cookie nor set it on our origin).
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: tok, Path: authorizePath,
		HttpOnly: true, Secure: s.secureCookies(), SameSite: http.SameSiteStrictMode})
	// Later forms of this response must see the same token.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tok})
	return tok
}

// validCSRF reports whether the form's token matches the cookie.
func (s *Server) validCSRF(r *http.Request, form string) bool {
	c, err := r.Cookie(csrfCookie)
	return err == nil && len(c.Value) == 43 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

// oauthDescription keeps only the characters RFC 6749 allows in
// error_description.
func oauthDescription(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, s)
}

// handleToken is the token endpoint. Its errors are RFC 6749 §5.2 JSON,
// not the /api/v2 shape, since OAuth clients parse them.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	req, basic, err := s.tokenRequest(w, r)
	if err == nil {
		var res *atelier.TokenResponse
		if res, err = s.oidc.Token(r.Context(), req); err == nil {
			writeJSON(w, http.StatusOK, res)
			return nil
		}
	}
	s.writeOAuthError(w, r, err, basic)
	return nil
}

// tokenRequest reads a token request: form-encoded, each parameter at most
// once, the client authenticated by one method only.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request) (atelier.TokenRequest, bool, error) {
	var req atelier.TokenRequest
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return req, false, atelier.CodeOAuthInvalidRequest.Errorf("The body must be application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return req, false, atelier.CodeOAuthInvalidRequest.Errorf("The body is larger than %d bytes.", maxErr.Limit)
		}
		return req, false, atelier.CodeOAuthInvalidRequest.Errorf("The body is not a valid form.")
	}
	f := r.PostForm
	for k, v := range f {
		if len(v) > 1 {
			return req, false, atelier.CodeOAuthInvalidRequest.Errorf("The %s parameter is repeated.", oauthDescription(k)).WithField(k)
		}
	}
	req = atelier.TokenRequest{
		GrantType:    f.Get("grant_type"),
		Code:         f.Get("code"),
		RedirectURI:  f.Get("redirect_uri"),
		CodeVerifier: f.Get("code_verifier"),
		RefreshToken: f.Get("refresh_token"),
		ClientID:     f.Get("client_id"),
		ClientSecret: f.Get("client_secret"),
		Scope:        f.Get("scope"),
	}
	id, secret, basic := r.BasicAuth()
	if !basic {
		return req, false, nil
	}
	// RFC 6749 §2.3.1: both are form-encoded before going into Basic.
	var err1, err2 error
	id, err1 = url.QueryUnescape(id)
	secret, err2 = url.QueryUnescape(secret)
	switch {
	case err1 != nil || err2 != nil:
		return req, true, atelier.CodeInvalidClient.Errorf("The Basic credentials are not form-encoded.")
	case f.Has("client_secret"):
		return req, true, atelier.CodeOAuthInvalidRequest.Errorf("Use one client authentication method: Basic or client_secret, not both.")
	case req.ClientID != "" && req.ClientID != id:
		return req, true, atelier.CodeOAuthInvalidRequest.Errorf("The client_id differs from the Basic user name.").WithField("client_id")
	}
	req.ClientID, req.ClientSecret = id, secret
	return req, true, nil
}

// oauthError is an RFC 6749 §5.2 error answer.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError renders err as an RFC 6749 §5.2 answer: 401 for
// invalid_client (with a Basic challenge), 500 for our failures (logged,
// never described), 400 otherwise.
func (s *Server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error, basic bool) {
	code := atelier.OAuthError(atelier.ErrorCode(err))
	body := oauthError{Error: code, Description: oauthDescription(atelier.ErrorMessage(err))}
	status := http.StatusBadRequest
	switch code {
	case "invalid_client":
		status = http.StatusUnauthorized
		w.Header().Set("WWW-Authenticate", `Basic realm="atelier"`)
	case "server_error":
		status = StatusOf(err)
		if status < 500 {
			status = http.StatusInternalServerError
		}
		s.log.ErrorContext(r.Context(), "token request failed", "error_code", atelier.ErrorCode(err), "err", err)
		body.Description = "Internal error."
	}
	writeJSON(w, status, body)
}

// handleUserInfo answers the claims of the bearer token's user; errors
// follow RFC 6750 §3.
func (s *Server) handleUserInfo(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	token := bearerToken(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="atelier"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_request", Description: "Send Authorization: Bearer <access_token>."})
		return nil
	}
	info, err := s.oidc.UserInfo(r.Context(), token)
	if err != nil {
		if StatusOf(err) >= 500 {
			return err
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="atelier", error="invalid_token"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_token", Description: oauthDescription(atelier.ErrorMessage(err))})
		return nil
	}
	writeJSON(w, http.StatusOK, info)
	return nil
}
