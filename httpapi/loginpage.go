package httpapi

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
)

// loginPageHTML is the one page of the authorization endpoint: the login
// form, the MFA form, the change-password form, or an error. It works
// without JavaScript; html/template escapes every value.
//
//go:embed loginpage.html
var loginPageHTML string

var loginPage = template.Must(template.New("login").Funcs(template.FuncMap{
	"methodLabel": func(m string) string {
		switch m {
		case "sms":
			return "Text message (SMS)"
		case "email":
			return "Email"
		case "totp":
			return "Authenticator app"
		}
		return m
	},
}).Parse(loginPageHTML))

// Views of the login page.
const (
	viewLogin    = "login"
	viewMFA      = "mfa"
	viewPassword = "password"
	viewError    = "error"
)

// hiddenField is a name and value carried through the forms.
type hiddenField struct{ Name, Value string }

// pageData fills the login page.
type pageData struct {
	View    string
	Title   string
	AppName string
	Error   string
	Notice  string
	Action  string
	CSRF    string
	Params  []hiddenField // the authorization request

	// Login form.
	ISV      bool
	TenantID string
	Account  string

	// MFA and password forms.
	StateToken string
	Methods    []string
	Channel    string
	CanSend    bool
}

// setPageHeaders sets the headers of every authorization page and
// redirect: no framing (clickjacking), no caching, no referrer, no sniffing,
// and a CSP that allows only the page's own inline style.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// renderPage writes the login page with status.
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, d *pageData) {
	if d.Title == "" {
		switch d.View {
		case viewMFA:
			d.Title = "Verify it's you"
		case viewPassword:
			d.Title = "Your password has expired"
		case viewError:
			d.Title = "Sign-in failed"
		default:
			d.Title = "Sign in"
		}
	}
	d.Action = authorizePath
	var buf bytes.Buffer
	if err := loginPage.Execute(&buf, d); err != nil {
		s.log.ErrorContext(r.Context(), "render login page", "err", err)
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
