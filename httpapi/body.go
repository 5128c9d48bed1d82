package httpapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/atelier-dev/atelier"
)

// Defaults of Options.MinBodyRate and BodyReadGrace.
const (
	DefaultMinBodyRate   int64 = 8 << 10 // bytes per second
	DefaultBodyReadGrace       = 10 * time.Second
)

// bodyDeadline is when the body of a request that started at start must
// have delivered more than n bytes: the grace, plus the time n bytes take
// at the minimum rate. A large upload thus gets all the time it needs as
// long as it keeps coming at rate, and a stalled one is cut after grace.
func bodyDeadline(start time.Time, grace time.Duration, rate, n int64) time.Time {
	secs, rest := n/rate, n%rate
	return start.Add(grace + time.Duration(secs)*time.Second + time.Duration(rest)*time.Second/time.Duration(rate))
}

// deadlineBody is a request body whose connection read deadline moves with
// the bytes read (bodyDeadline), and whose read errors are the client's
// errors: a missed deadline is CodeBodyTimeout (408), a broken framing
// (chunked encoding) CodeBadBody (400). The handler's own limits
// (http.MaxBytesReader) and a client that went away pass through.
type deadlineBody struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	r     *http.Request
	start time.Time
	grace time.Duration
	rate  int64 // bytes per second; <= 0: no deadline
	n     int64
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.rate > 0 {
		// Not every writer can (httptest.ResponseRecorder); then the
		// body simply has no deadline.
		_ = b.rc.SetReadDeadline(bodyDeadline(b.start, b.grace, b.rate, b.n))
	}
	n, err := b.body.Read(p)
	b.n += int64(n)
	if err == nil || err == io.EOF {
		return n, err
	}
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		// Before the context: a failed read of the connection cancels it.
		return n, atelier.CodeBodyTimeout.Wrap(err, "The request body arrived slower than the minimum of %d bytes a second (after %s of grace).", b.rate, b.grace)
	case errors.As(err, &maxErr), b.r.Context().Err() != nil:
		return n, err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, err // the body ended early: the handler says what was expected
	}
	return n, atelier.CodeBadBody.Wrap(err, "The request body could not be read: its framing is malformed (%v).", err)
}

func (b *deadlineBody) Close() error { return b.body.Close() }

// guardBody gives r a body with a read deadline (deadlineBody); requests
// without a body are left alone.
func (s *Server) guardBody(w http.ResponseWriter, r *http.Request, start time.Time) {
	if r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &deadlineBody{body: r.Body, rc: http.NewResponseController(w), r: r, start: start, grace: s.bodyGrace, rate: s.minBodyRate}
}
