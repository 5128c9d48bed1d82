package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/atelier-dev/atelier"
)

// RequestIDHeader carries the request id both ways.
const RequestIDHeader = "X-Request-Id"

type requestIDKey struct{}

// RequestIDFromContext returns the request id that the server put in ctx,
// or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// NewContextWithRequestID returns ctx carrying the request id id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// validRequestID reports whether a client's request id is sane: 1–64
// characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// headerLimits caps, in bytes, the request headers that the server keeps
// (the audit log, token bindings) or logs, or that choose something
// (the language). A longer one is refused with a 400 naming it before any
// handler runs: a failed login used to store a 1 MiB X-device-fingerprint.
// X-Request-Id is not here: an unusable one is replaced (validRequestID).
var headerLimits = []struct {
	name string
	max  int
}{
	{"X-client-id", 128},
	{"X-tenant-id", 256}, // a tenant id or name (names are at most 256)
	{"X-device-fingerprint", 256},
	{"X-agent", 256},
	{"X-operating-sys-version", 256},
	{"X-device-ip", 64}, // an IPv6 address with a zone fits
	{"X-L", 16},
	{"User-Agent", 1024},
	{"Content-Type", 256}, // stored with an uploaded object
}

// checkHeaderLimits returns CodeInvalidParam naming the first header of
// headerLimits that is too long.
func checkHeaderLimits(h http.Header) error {
	for _, l := range headerLimits {
		for _, v := range h.Values(l.name) {
			if len(v) > l.max {
				return atelier.CodeInvalidParam.Errorf("The header %s must be at most %d bytes.", l.name, l.max).WithField(l.name)
			}
		}
	}
	return nil
}

// reqInfo is filled in while a request runs, for the access log and
// metrics wrapped around the router.
type reqInfo struct {
	route string // the route pattern, or unmatchedRoute
}

// unmatchedRoute is the route label of requests that matched no route, so
// that scanners cannot blow up the metrics' cardinality.
const unmatchedRoute = "unmatched"

type reqInfoKey struct{}

func infoOf(ctx context.Context) *reqInfo {
	ri, _ := ctx.Value(reqInfoKey{}).(*reqInfo)
	return ri
}

// routeOf returns the pattern of the route serving ctx's request.
func routeOf(ctx context.Context) string {
	if ri := infoOf(ctx); ri != nil {
		return ri.route
	}
	return unmatchedRoute
}

// recorder remembers the status and size of an answer.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
	rec.ResponseWriter.WriteHeader(status)
}

func (rec *recorder) Write(p []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(p)
	rec.bytes += int64(n)
	return n, err
}

// Flush lets streaming answers flush through the recorder.
func (rec *recorder) Flush() {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	http.NewResponseController(rec.ResponseWriter).Flush() //nolint:errcheck // best effort
}

// Unwrap gives http.ResponseController the underlying writer.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// serveWithMiddleware wraps the router with, outermost first: request id,
// access log and metrics, panic recovery.
func (s *Server) serveWithMiddleware(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(RequestIDHeader)
	if !validRequestID(id) {
		id = atelier.NewID()
	}
	w.Header().Set(RequestIDHeader, id)
	// Answers (objects above all) are never to be content-sniffed.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	ri := &reqInfo{route: unmatchedRoute}
	ctx := NewContextWithRequestID(r.Context(), id)
	ctx = context.WithValue(ctx, reqInfoKey{}, ri)
	ctx = atelier.NewContextWithClient(ctx, clientOf(r))
	r = r.WithContext(ctx)
	s.guardBody(w, r, start)
	rec := &recorder{ResponseWriter: w}

	defer func() {
		p := recover()
		if p != nil && p != http.ErrAbortHandler {
			s.log.ErrorContext(ctx, "panic serving request", "method", r.Method, "route", ri.route, "panic", p, "stack", string(debug.Stack()))
			if rec.status == 0 {
				s.writeError(rec, r, atelier.CodeInternal.Errorf("Internal error."))
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		if p == http.ErrAbortHandler || (ctx.Err() != nil && rec.status == 0) {
			status = StatusClientClosedRequest
		}
		elapsed := time.Since(start)
		s.metrics.observe(ri.route, r.Method, status, elapsed)
		s.log.LogAttrs(ctx, slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("route", ri.route),
			slog.Int("status", status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", elapsed),
		)
		if p == http.ErrAbortHandler {
			panic(p)
		}
	}()
	if err := checkHeaderLimits(r.Header); err != nil {
		s.writeError(rec, r, err)
		return
	}
	s.route(rec, r)
}

// statusLabel formats a status for the metrics label.
func statusLabel(status int) string { return strconv.Itoa(status) }
