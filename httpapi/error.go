package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
)

// StatusClientClosedRequest is the status recorded when the client went
// away before the answer (nginx's 499; never seen by the client).
const StatusClientClosedRequest = 499

// statusByKind is the one table from error kind to HTTP status
// (docs/api.md, "Conventions").
var statusByKind = map[atelier.Kind]int{
	atelier.Invalid:            http.StatusBadRequest,
	atelier.Unauthenticated:    http.StatusUnauthorized,
	atelier.PermissionDenied:   http.StatusForbidden,
	atelier.NotFound:           http.StatusNotFound,
	atelier.Conflict:           http.StatusConflict,
	atelier.FailedPrecondition: http.StatusConflict,
	atelier.TooLarge:           http.StatusRequestEntityTooLarge,
	atelier.RangeNotSatisfied:  http.StatusRequestedRangeNotSatisfiable,
	atelier.ResourceExhausted:  http.StatusTooManyRequests,
	atelier.InsufficientSpace:  http.StatusInsufficientStorage,
	atelier.Unavailable:        http.StatusServiceUnavailable,
	atelier.Canceled:           StatusClientClosedRequest,
	atelier.DeadlineExceeded:   http.StatusGatewayTimeout,
	atelier.NotImplemented:     http.StatusNotImplemented,
	atelier.Internal:           http.StatusInternalServerError,
}

// statusByCode overrides the kind's status for codes that HTTP has a more
// precise status for.
var statusByCode = map[string]int{
	atelier.CodeMethodNotAllowed.ID: http.StatusMethodNotAllowed,
	// The gateway's failures of an instance are a bad gateway, not the
	// caller's fault nor Atelier's.
	atelier.CodeServiceBadGateway.ID:   http.StatusBadGateway,
	atelier.CodeServiceResponseSize.ID: http.StatusBadGateway,
	atelier.CodeBodyTimeout.ID:         http.StatusRequestTimeout, // the client was slow, not the server
}

// StatusOf returns the HTTP status for err: its code's override, else its
// kind's status; unknown kinds are 500.
func StatusOf(err error) int {
	if s, ok := statusByCode[atelier.ErrorCode(err)]; ok {
		return s
	}
	if s, ok := statusByKind[atelier.ErrorKind(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// errorBody is the /v1 error answer; /api/v2 answers leave out request_id.
type errorBody struct {
	Code      string `json:"error_code"`
	Message   string `json:"error_msg"`
	RequestID string `json:"request_id,omitempty"`
}

// writeError renders err as the answer to r: the /api/v2 shape under
// /api/v2, the /v1 shape elsewhere. Server-side failures are logged in full
// with the request id; the client gets only the code's safe message.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := StatusOf(err)
	code, msg := atelier.ErrorCode(err), atelier.ErrorMessage(err)
	ctx := r.Context()
	switch {
	case status >= 500:
		s.log.ErrorContext(ctx, "request failed", "method", r.Method, "route", routeOf(ctx), "error_code", code, "err", err)
	case status == StatusClientClosedRequest:
		s.log.DebugContext(ctx, "request canceled", "method", r.Method, "route", routeOf(ctx), "err", err)
	}
	body := errorBody{Code: code, Message: msg}
	if strings.HasPrefix(r.URL.Path, "/api/v2/") {
		// X-L picks the language of error_msg on /api/v2 (CONTRACT §4).
		body.Message = LocalizedMessage(err, r.Header.Get("X-L"))
	} else {
		body.RequestID = RequestIDFromContext(ctx)
	}
	if secs := retryAfter(err); (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) && secs > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if status == http.StatusUnauthorized && strings.HasPrefix(r.URL.Path, "/v1/") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="atelier"`)
	}
	writeJSON(w, status, body)
}

// retryAfter returns the seconds to wait that a rate-limit or unavailable
// error carries (its first argument, by the convention of
// CodeLoginRateLimit, CodeResendTooSoon and the storage codes), or 0.
func retryAfter(err error) int {
	var e *atelier.Error
	if !errors.As(err, &e) || len(e.Args) == 0 {
		return 0
	}
	if n, ok := e.Args[0].(int); ok && n > 0 {
		return n
	}
	return 0
}

// writeJSON writes v as a JSON answer with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error (an unmarshalable type) gets here.
		slog.Default().Error("httpapi: encode answer", "err", err)
		http.Error(w, `{"error_code":"ATL.GEN.0001","error_msg":"Internal error."}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
