package atelier

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	core "github.com/atelier-dev/atelier"
)

// Version is the SDK's version, sent in the User-Agent and X-agent headers.
const Version = "0.1.0"

// DefaultEndpoint is the server address used when none is configured.
const DefaultEndpoint = "http://127.0.0.1:8080"

// Options configure a Client. Token is a bearer token (a session token from a
// login, or one exchanged for an API key); AccessKey and SecretKey, when both
// set, are exchanged for a token at the first request and again once when the
// server answers 401.
type Options struct {
	Endpoint   string // default DefaultEndpoint
	Token      string
	AccessKey  string
	SecretKey  string
	HTTPClient *http.Client // default: a client without an overall timeout, so that large transfers can finish
	UserAgent  string       // default "atelier-go/<Version>"
	// NotLoggedIn, when set, is returned without sending anything by each
	// call that needs authentication while the client has neither a token
	// nor a key pair. ResolveConfig sets it to Config.NotLoggedIn's error,
	// which names the server to log in to.
	NotLoggedIn error
}

// defaultTransport keeps enough idle connections for parallel transfers and
// uses large socket buffers, so that big objects stream with few syscalls.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	t.WriteBufferSize = 256 << 10
	t.ReadBufferSize = 256 << 10
	return t
}()

// Client talks to one Atelier server. It is safe for concurrent use.
type Client struct {
	endpoint string // scheme://host[:port][/base], no trailing slash
	hc       *http.Client
	ua       string
	ak, sk   string
	noCreds  error // Options.NotLoggedIn

	mu    sync.Mutex
	token string
}

// New returns a client for opts.Endpoint. It does no I/O.
func New(opts Options) (*Client, error) {
	ep := strings.TrimRight(opts.Endpoint, "/")
	if ep == "" {
		ep = DefaultEndpoint
	}
	u, err := url.Parse(ep)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, core.CodeInvalidParam.Errorf("The endpoint %q is not an http:// or https:// URL.", opts.Endpoint).WithField("endpoint")
	}
	if (opts.AccessKey == "") != (opts.SecretKey == "") {
		return nil, core.CodeInvalidParam.Errorf("The access key and the secret key go together; set both or neither.").WithField("access_key")
	}
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Transport: defaultTransport}
	}
	ua := opts.UserAgent
	if ua == "" {
		ua = "atelier-go/" + Version
	}
	return &Client{endpoint: ep, hc: hc, ua: ua, ak: opts.AccessKey, sk: opts.SecretKey, noCreds: opts.NotLoggedIn, token: opts.Token}, nil
}

// Endpoint returns the server address the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// Token returns the bearer token the client currently sends, or "".
func (c *Client) Token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

// SetToken replaces the bearer token.
func (c *Client) SetToken(tok string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = tok
}

// request describes one API call.
type request struct {
	method   string
	path     string // already percent-encoded
	query    url.Values
	header   http.Header
	body     io.Reader // nil for none
	size     int64     // body length, -1 when unknown
	noAuth   bool      // send no bearer token
	fallback *core.Code
}

// jsonRequest returns a request whose body is v as JSON.
func jsonRequest(method, path string, v any) (*request, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return &request{method: method, path: path, body: bytes.NewReader(b), size: int64(len(b)),
		header: http.Header{"Content-Type": {"application/json"}}}, nil
}

// do sends r and returns a 2xx answer, or an *APIError. With an access key it
// exchanges the key for a token first when it has none, and once more after a
// 401 when the body can be sent again.
func (c *Client) do(ctx context.Context, r *request) (*http.Response, error) {
	body, replayable := bodyFactory(r)
	tok, err := c.bearer(ctx, r.noAuth, "")
	if err != nil {
		return nil, err
	}
	resp, err := c.send(ctx, r, body(), tok)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && !r.noAuth && c.ak != "" && replayable {
		resp.Body.Close()
		if tok, err = c.bearer(ctx, false, tok); err != nil {
			return nil, err
		}
		if resp, err = c.send(ctx, r, body(), tok); err != nil {
			return nil, err
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, decodeError(resp, r.fallback)
	}
	return resp, nil
}

// bodyFactory returns a function giving the body of each attempt of r, and
// whether the body can be sent twice. A body that is an io.ReaderAt with a
// known size (a file, a bytes.Reader) is replayable: every attempt reads it
// through its own io.SectionReader from the current offset, so a retry never
// shares a read position with the transport still writing the attempt
// before it.
func bodyFactory(r *request) (func() io.Reader, bool) {
	if r.body == nil {
		return func() io.Reader { return nil }, true
	}
	ra, isAt := r.body.(io.ReaderAt)
	sk, isSeeker := r.body.(io.Seeker)
	if isAt && isSeeker && r.size >= 0 {
		if off, err := sk.Seek(0, io.SeekCurrent); err == nil {
			return func() io.Reader { return io.NewSectionReader(ra, off, r.size) }, true
		}
	}
	return func() io.Reader { return r.body }, false
}

// bearer returns the token to send. stale is a token the server refused: if
// it is still the current one, a new one is exchanged.
func (c *Client) bearer(ctx context.Context, noAuth bool, stale string) (string, error) {
	if noAuth {
		return "", nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.token != stale {
		return c.token, nil
	}
	if c.ak == "" {
		if c.token == "" && c.noCreds != nil {
			return "", c.noCreds
		}
		return c.token, nil // the server answers 401 ATL.AUTH.0001 when it is empty
	}
	it, err := c.exchange(ctx, c.ak, c.sk)
	if err != nil {
		return "", err
	}
	c.token = it.Token
	return c.token, nil
}

// exchange trades an access/secret key pair for a token.
func (c *Client) exchange(ctx context.Context, ak, sk string) (*core.IssuedToken, error) {
	r, err := jsonRequest(http.MethodPost, "/v1/auth/token", map[string]string{"access_key": ak, "secret_key": sk})
	if err != nil {
		return nil, err
	}
	r.noAuth = true
	var it core.IssuedToken
	if err := c.doJSON(ctx, r, &it); err != nil {
		return nil, err
	}
	return &it, nil
}

// ExchangeKey trades an access/secret key pair for a bearer token and makes
// the client use it.
func (c *Client) ExchangeKey(ctx context.Context, accessKey, secretKey string) (*core.IssuedToken, error) {
	it, err := c.exchange(ctx, accessKey, secretKey)
	if err != nil {
		return nil, err
	}
	c.SetToken(it.Token)
	return it, nil
}

// send performs one HTTP exchange.
func (c *Client) send(ctx context.Context, r *request, src io.Reader, tok string) (*http.Response, error) {
	u := c.endpoint + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var body io.Reader
	if src != nil && r.size != 0 {
		// Hide Close (the transport closes bodies; a retry needs the file
		// still open) and any Len (ContentLength comes from r.size only).
		body = struct{ io.Reader }{src}
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, clientError(core.CodeInvalidParam, err, "The request URL %q is invalid.", u)
	}
	switch {
	case r.body != nil && r.size == 0:
		req.Body, req.ContentLength = http.NoBody, 0
	case r.body != nil:
		req.ContentLength = r.size // -1: chunked
	}
	for k, vs := range r.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.ua)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: %w", r.method, r.path, ctx.Err())
		}
		return nil, clientError(CodeConnection, err, "Cannot talk to the server at %s: %v.", c.endpoint, errors.Unwrap(err))
	}
	return resp, nil
}

// doJSON sends r and decodes a JSON answer into out (unless nil).
func (c *Client) doJSON(ctx context.Context, r *request, out any) error {
	resp, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return &APIError{Err: CodeBadResponse.Wrap(err, "The server's answer to %s %s is not the expected JSON.", r.method, r.path),
			Status: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	}
	return nil
}

// expiry returns the time a token issued now with a lifetime of secs ends.
func expiry(secs int64) time.Time {
	if secs <= 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(secs) * time.Second).UTC().Truncate(time.Second)
}
