package atelier

import (
	"context"
	"errors"
	"fmt"
	"sort"
)

// Kind classifies an error the way gRPC status codes do. The HTTP layer maps
// a Kind to a status; the message and code travel unchanged.
type Kind string

// The kinds of error. Once shipped, a kind never changes meaning.
const (
	Invalid            Kind = "invalid"
	Unauthenticated    Kind = "unauthenticated"
	PermissionDenied   Kind = "permission_denied"
	NotFound           Kind = "not_found"
	Conflict           Kind = "conflict"
	FailedPrecondition Kind = "failed_precondition"
	TooLarge           Kind = "too_large"
	RangeNotSatisfied  Kind = "range_not_satisfiable"
	ResourceExhausted  Kind = "resource_exhausted"
	InsufficientSpace  Kind = "insufficient_space"
	Unavailable        Kind = "unavailable"
	Canceled           Kind = "canceled"
	DeadlineExceeded   Kind = "deadline_exceeded"
	NotImplemented     Kind = "not_implemented"
	Internal           Kind = "internal"
)

// Code is one stable, documented error code such as "ATL.OBS.0003". Codes are
// registered once at package level with NewCode; docs/errors.md lists every
// one of them (a test checks this).
type Code struct {
	ID      string // wire code, e.g. "ATL.OBS.0003"
	Kind    Kind
	Summary string // one sentence for docs/errors.md
}

var registry = map[string]Code{}

// NewCode registers a code. It panics on a duplicate ID, which can only happen
// at init time through a programming error.
func NewCode(id string, kind Kind, summary string) Code {
	if _, dup := registry[id]; dup {
		panic("atelier: duplicate error code " + id)
	}
	c := Code{ID: id, Kind: kind, Summary: summary}
	registry[id] = c
	return c
}

// Codes returns every registered code, sorted by ID.
func Codes() []Code {
	out := make([]Code, 0, len(registry))
	for _, c := range registry {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// LookupCode returns the registered code with the given wire ID.
func LookupCode(id string) (Code, bool) {
	c, ok := registry[id]
	return c, ok
}

// Errorf returns an error with code c and a user-facing message. The message
// must be safe to show: it names the offending field, never a path, SQL or a
// stack trace.
func (c Code) Errorf(format string, args ...any) *Error {
	return &Error{Code: c.ID, Kind: c.Kind, Message: fmt.Sprintf(format, args...), Args: args}
}

// Wrap is Errorf with a cause that is logged but never shown to users.
func (c Code) Wrap(cause error, format string, args ...any) *Error {
	e := c.Errorf(format, args...)
	e.Err = cause
	return e
}

// Error is the one error type of the domain. It carries a stable code, the kind
// that decides the HTTP status, a message safe to show, the field it is about
// (if any) and an optional cause kept for logs.
type Error struct {
	Code    string
	Kind    Kind
	Message string
	Field   string
	Err     error
	// Args are the arguments the message was formatted with, so that a
	// translation of the message (X-L on /api/v2) can use the same values.
	Args []any
}

// Error implements error. It includes the cause, for logs.
func (e *Error) Error() string {
	s := e.Code + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// WithField records which request field the error is about.
func (e *Error) WithField(name string) *Error { e.Field = name; return e }

// Codes used across areas. Area-specific codes live beside their area.
var (
	CodeInternal         = NewCode("ATL.GEN.0001", Internal, "An unexpected error on the server; the request id in the answer finds it in the logs.")
	CodeInvalidJSON      = NewCode("ATL.GEN.0002", Invalid, "The request body is not valid JSON or does not match the expected shape.")
	CodeBodyTooLarge     = NewCode("ATL.GEN.0003", TooLarge, "The request body is larger than the server accepts.")
	CodeRouteNotFound    = NewCode("ATL.GEN.0004", NotFound, "No API route matches the method and path.")
	CodeInvalidParam     = NewCode("ATL.GEN.0005", Invalid, "A request field or query parameter has an invalid value; the message names it.")
	CodeRateLimited      = NewCode("ATL.GEN.0006", ResourceExhausted, "Too many requests; retry after the time in Retry-After.")
	CodeUnavailable      = NewCode("ATL.GEN.0007", Unavailable, "The server is starting or shutting down, or a backend does not answer.")
	CodeCanceled         = NewCode("ATL.GEN.0008", Canceled, "The client went away before the request finished.")
	CodeDeadline         = NewCode("ATL.GEN.0009", DeadlineExceeded, "The request took longer than the server allows.")
	CodeNotImplemented   = NewCode("ATL.GEN.0010", NotImplemented, "The configured backend does not support this operation.")
	CodeMethodNotAllowed = NewCode("ATL.GEN.0011", Invalid, "The route exists but not for this HTTP method.")
	CodeBodyTimeout      = NewCode("ATL.GEN.0012", DeadlineExceeded, "The request body arrived slower than the server's minimum rate; send it faster or in smaller parts.")
	CodeBadBody          = NewCode("ATL.GEN.0013", Invalid, "The request body could not be read: its transfer framing (chunked encoding) is malformed.")
)

// Codes of the server's storage: the metadata store (the database) and the
// object store's backend. Their first argument is the seconds after which a
// retry may succeed, sent as Retry-After.
var (
	CodeStoreUnavailable = NewCode("ATL.STO.0001", Unavailable, "The metadata store (the database) does not answer; nothing was changed. Retry after the time in Retry-After.")
	CodeStoreFull        = NewCode("ATL.STO.0002", InsufficientSpace, "The metadata store (the database) has no space left on its disk; nothing was changed. An operator must free space.")
	CodeObjectBackend    = NewCode("ATL.STO.0003", Unavailable, "The object store's backend (named in the message) does not answer, refuses the server's credentials or is misconfigured. Retry after the time in Retry-After.")
)

// StoreRetryAfter is the Retry-After, in seconds, of the storage codes
// (CodeStoreUnavailable, CodeObjectBackend).
const StoreRetryAfter = 5

// ErrorCode returns the wire code of err: its own for an *Error, the
// canceled/deadline codes for context errors, else the internal code.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, context.Canceled):
		return CodeCanceled.ID
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadline.ID
	}
	return CodeInternal.ID
}

// ErrorKind returns the kind of err, mapping context errors itself and
// anything unknown to Internal.
func ErrorKind(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Kind
	case errors.Is(err, context.Canceled):
		return Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	}
	return Internal
}

// ErrorMessage returns the user-facing message of err. Unknown errors get a
// generic sentence so that internals never leak.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Message
	case errors.Is(err, context.Canceled):
		return "The request was canceled."
	case errors.Is(err, context.DeadlineExceeded):
		return "The request took too long."
	}
	return "Internal error."
}

// IsKind reports whether err has the given kind.
func IsKind(err error, k Kind) bool { return err != nil && ErrorKind(err) == k }
