package atelier

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	core "github.com/atelier-dev/atelier"
)

// Client-side error codes: the SDK returns these itself, the server never
// answers them. They match the Python SDK's ATL.SDK codes.
var (
	CodeChecksum        = core.CodeSDKChecksum
	CodeConnection      = core.CodeSDKConnection
	CodeBadResponse     = core.CodeSDKBadResponse
	CodeLoginIncomplete = core.CodeSDKLoginIncomplete
	CodeNoCredentials   = core.CodeSDKNoCredentials
)

// APIError is an error answered by the API, or found by the SDK on the client
// side (then Status is 0). It unwraps to the domain error, so
// errors.As(err, new(*atelier.Error)) finds the code and kind. It is
// immutable once returned and safe for concurrent use.
type APIError struct {
	Err       *core.Error
	Status    int    // HTTP status of the answer, 0 when no answer came
	RequestID string // the server's X-Request-Id; quote it when reporting a problem
}

// Error returns the message followed by the code, e.g.
// `bucket "x" does not exist (ATL.OBS.0003)`.
func (e *APIError) Error() string {
	if e.Err.Code == "" {
		return e.Err.Message
	}
	return fmt.Sprintf("%s (%s)", e.Err.Message, e.Err.Code)
}

// Unwrap returns the domain error.
func (e *APIError) Unwrap() error { return e.Err }

// clientError returns a client-side APIError with code c.
func clientError(c core.Code, cause error, format string, args ...any) *APIError {
	return &APIError{Err: c.Wrap(cause, format, args...)}
}

// kindByStatus is the reverse of the server's kind→status table (docs/api.md).
var kindByStatus = map[int]core.Kind{
	400: core.Invalid,
	401: core.Unauthenticated,
	403: core.PermissionDenied,
	404: core.NotFound,
	409: core.Conflict,
	413: core.TooLarge,
	416: core.RangeNotSatisfied,
	429: core.ResourceExhausted,
	499: core.Canceled,
	500: core.Internal,
	501: core.NotImplemented,
	503: core.Unavailable,
	504: core.DeadlineExceeded,
	507: core.InsufficientSpace,
}

// KindForStatus returns the error kind that the API answers with the HTTP
// status s; unknown 4xx statuses are Invalid and anything else Internal.
func KindForStatus(s int) core.Kind {
	if k, ok := kindByStatus[s]; ok {
		return k
	}
	if s >= 400 && s < 500 {
		return core.Invalid
	}
	return core.Internal
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// decodeError turns a non-2xx answer into an *APIError and closes its body.
// fallback, when not nil, is the code used for an answer without a body (HEAD).
func decodeError(resp *http.Response, fallback *core.Code) *APIError {
	defer resp.Body.Close()
	var body struct {
		Code      string `json:"error_code"`
		Message   string `json:"error_msg"`
		RequestID string `json:"request_id"`
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = json.Unmarshal(raw, &body)
	e := &core.Error{Code: body.Code, Message: body.Message}
	if c, ok := core.LookupCode(body.Code); ok {
		e.Kind = c.Kind
	} else {
		e.Kind = KindForStatus(resp.StatusCode)
	}
	if e.Code == "" && fallback != nil {
		e.Code, e.Kind = fallback.ID, fallback.Kind
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("The server answered %d %s.", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	rid := body.RequestID
	if rid == "" {
		rid = resp.Header.Get("X-Request-Id")
	}
	return &APIError{Err: e, Status: resp.StatusCode, RequestID: rid}
}

// isStatus reports whether err is an API answer with HTTP status s.
func isStatus(err error, s int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == s
}
