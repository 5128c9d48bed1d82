// Package smssender sends SMS messages through an HTTP gateway described by a
// URL template and an optional body template, so that most gateway APIs
// (query-string GETs, JSON or form POSTs with a bearer token or basic auth)
// need configuration, not code.
//
// Nothing here logs, and errors never contain the request URL, headers or
// message text: the text is usually a one-time code and the URL or headers
// often hold the gateway credentials.
package smssender

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/atelier-dev/atelier/sender"
)

// DefaultTimeout bounds one Send when Options.Timeout is zero.
const DefaultTimeout = 15 * time.Second

// The placeholders substituted in URL and BodyTemplate.
const (
	PlaceholderTo   = "{to}"
	PlaceholderText = "{text}"
)

// Options configure a Sender.
type Options struct {
	// URL is the gateway URL template, e.g.
	// "https://gw.example/send?to={to}&text={text}". Placeholders are
	// path-escaped before the '?' and query-escaped after it.
	URL string
	// Method is "POST" (the default) or "GET".
	Method string
	// BodyTemplate is the optional request body template, e.g.
	// `{"to":"{to}","text":"{text}"}`. Placeholders are escaped for
	// ContentType: JSON-escaped (inside a string literal) for JSON,
	// query-escaped for a form, XML-escaped for XML, else inserted as they
	// are.
	BodyTemplate string
	// ContentType of the body; "application/json" when BodyTemplate is set
	// and ContentType is not.
	ContentType string
	// Header holds extra request headers such as "Authorization: Bearer …".
	Header map[string]string
	// Username and Password, when Username is set, are sent as HTTP basic
	// auth.
	Username, Password string
	// Timeout bounds one Send (DefaultTimeout if zero). A shorter deadline
	// on the Send context wins.
	Timeout time.Duration
	// Client sends the requests; a client with Go's default transport if
	// nil.
	Client *http.Client
}

// Sender sends SMS through an HTTP gateway, one request per message. It is
// safe for concurrent use.
type Sender struct {
	opts      Options
	host      string // for error messages
	mediaType string
}

// Interface guard.
var _ sender.Sender = (*Sender)(nil)

// New checks opts and returns a Sender. It does not contact the gateway.
func New(opts Options) (*Sender, error) {
	opts.Method = strings.ToUpper(cmp.Or(opts.Method, http.MethodPost))
	if opts.BodyTemplate != "" {
		opts.ContentType = cmp.Or(opts.ContentType, "application/json")
	}
	opts.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	s := &Sender{opts: opts}
	var errs []error
	u, err := url.Parse(strings.NewReplacer(PlaceholderTo, "to", PlaceholderText, "text").Replace(opts.URL))
	switch {
	case err != nil:
		errs = append(errs, errors.New("smssender: URL does not parse"))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, errors.New("smssender: URL must be an absolute http or https URL"))
	default:
		s.host = u.Host
	}
	switch opts.Method {
	case http.MethodPost, http.MethodPut:
	case http.MethodGet:
		if opts.BodyTemplate != "" {
			errs = append(errs, errors.New("smssender: a GET request cannot have a BodyTemplate"))
		}
	default:
		errs = append(errs, fmt.Errorf("smssender: Method %q is not GET or POST", opts.Method))
	}
	for _, p := range []string{PlaceholderTo, PlaceholderText} {
		if !strings.Contains(opts.URL, p) && !strings.Contains(opts.BodyTemplate, p) {
			errs = append(errs, fmt.Errorf("smssender: neither URL nor BodyTemplate contains %s", p))
		}
	}
	if opts.ContentType != "" {
		mt, _, err := mime.ParseMediaType(opts.ContentType)
		if err != nil {
			errs = append(errs, errors.New("smssender: ContentType is not a media type"))
		}
		s.mediaType = mt
	}
	for k, v := range opts.Header {
		if k == "" || strings.ContainsAny(k, "\r\n: \t") || strings.ContainsAny(v, "\r\n") {
			// The key is safe to name; the value may be a secret.
			errs = append(errs, fmt.Errorf("smssender: Header %q is not a valid header line", k))
		}
	}
	if opts.Timeout < 0 {
		errs = append(errs, errors.New("smssender: Timeout must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

// Send delivers m, which must be on the sender.SMS channel, following the
// error contract of sender.Sender: a 2xx answer is success; 408, 425, 429,
// 5xx, timeouts and connection failures are temporary; any other answer and
// a rejected certificate are permanent.
func (s *Sender) Send(ctx context.Context, m *sender.Message) error {
	if err := sender.Validate(m); err != nil {
		return err
	}
	if m.Channel != sender.SMS {
		return fmt.Errorf("smssender: %w %q", sender.ErrUnsupported, m.Channel)
	}
	if err := ctx.Err(); err != nil {
		return sender.ContextError(ctx, sender.SMS, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := s.request(ctx, m)
	if err != nil {
		return sender.Permanent(sender.SMS, err)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		if cerr := sender.ContextError(ctx, sender.SMS, err); cerr != nil {
			return cerr
		}
		return s.classifyTransport(err)
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; gateways answer small.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return sender.Temporary(sender.SMS, fmt.Errorf("gateway %s answered %s", s.host, resp.Status))
	}
	return sender.Permanent(sender.SMS, fmt.Errorf("gateway %s answered %s", s.host, resp.Status))
}

// request builds the gateway request for m.
func (s *Sender) request(ctx context.Context, m *sender.Message) (*http.Request, error) {
	raw := s.opts.URL
	path, query, hasQuery := strings.Cut(raw, "?")
	raw = strings.NewReplacer(PlaceholderTo, url.PathEscape(m.To), PlaceholderText, url.PathEscape(m.Body)).Replace(path)
	if hasQuery {
		raw += "?" + strings.NewReplacer(PlaceholderTo, url.QueryEscape(m.To), PlaceholderText, url.QueryEscape(m.Body)).Replace(query)
	}
	var body io.Reader
	if s.opts.BodyTemplate != "" {
		r := strings.NewReplacer(PlaceholderTo, s.escapeBody(m.To), PlaceholderText, s.escapeBody(m.Body))
		body = strings.NewReader(r.Replace(s.opts.BodyTemplate))
	}
	req, err := http.NewRequestWithContext(ctx, s.opts.Method, raw, body)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: the URL template gives an invalid request", s.host)
	}
	for k, v := range s.opts.Header {
		req.Header.Set(k, v)
	}
	if s.opts.ContentType != "" {
		req.Header.Set("Content-Type", s.opts.ContentType)
	}
	if s.opts.Username != "" {
		req.SetBasicAuth(s.opts.Username, s.opts.Password)
	}
	return req, nil
}

// escapeBody escapes v for the body's media type.
func (s *Sender) escapeBody(v string) string {
	switch mt := s.mediaType; {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		b, _ := json.Marshal(v) // a string always marshals
		return string(b[1 : len(b)-1])
	case mt == "application/x-www-form-urlencoded":
		return url.QueryEscape(v)
	case mt == "application/xml" || mt == "text/xml" || strings.HasSuffix(mt, "+xml"):
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(v)) // a strings.Builder does not fail
		return b.String()
	}
	return v
}

// classifyTransport wraps an error from the HTTP client without the URL,
// which holds the message text and maybe credentials.
func (s *Sender) classifyTransport(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	wrapped := fmt.Errorf("gateway %s: %w", s.host, err)
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return sender.Permanent(sender.SMS, wrapped)
	}
	return sender.Temporary(sender.SMS, wrapped)
}
