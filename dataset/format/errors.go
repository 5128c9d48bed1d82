package format

import (
	"errors"
	"fmt"
	"strings"

	"github.com/atelier-dev/atelier"
)

// MaxReportedErrors is how many bad lines a Tally keeps by default.
const MaxReportedErrors = 20

// LineError is a problem with one line (or one record) of an input file. Line
// is 1-based and counts physical lines of the file; for a CSV record spanning
// several lines it is the record's first line. The reader that returned it
// has skipped the line and may be called again.
type LineError struct {
	Line int
	Msg  string
}

// Error implements error.
func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

func lineErrorf(line int, format string, args ...any) *LineError {
	return &LineError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// IsLineError reports whether err is (or wraps) a *LineError, that is a
// problem with one line after which reading may go on.
func IsLineError(err error) bool {
	var le *LineError
	return errors.As(err, &le)
}

// ErrTooLong is wrapped by the fatal errors about inputs over a size bound (a
// CSV record, a VOC file). An over-long manifest or text line is a
// *LineError instead.
var ErrTooLong = errors.New("input too long")

// Tally counts the outcome of an import of one file: how many samples were
// taken, how many lines were rejected, and the first bad lines. The zero
// value is ready to use and keeps MaxReportedErrors errors. A Tally is not
// safe for concurrent use.
type Tally struct {
	// Max is how many line errors to keep; 0 means MaxReportedErrors.
	Max      int
	Took     int64
	Rejected int64
	// Errors are the first Max line errors, in input order.
	Errors []*LineError
}

// Record counts the result of one call to a reader's Next. A nil err counts
// a sample taken; a *LineError counts a rejected line (kept if fewer than Max
// are kept) and Record returns nil so that the caller reads on; any other
// error is returned unchanged and counts nothing.
func (t *Tally) Record(err error) error {
	if err == nil {
		t.Took++
		return nil
	}
	var le *LineError
	if !errors.As(err, &le) {
		return err
	}
	t.Reject(le)
	return nil
}

// Reject counts a rejected line found by the caller (for example a sample of
// the wrong file kind).
func (t *Tally) Reject(le *LineError) {
	t.Rejected++
	max := t.Max
	if max <= 0 {
		max = MaxReportedErrors
	}
	if len(t.Errors) < max {
		t.Errors = append(t.Errors, le)
	}
}

// Messages renders the kept errors as "name:line: message", name being the
// file's name as the user knows it (e.g. the manifest's base name).
func (t *Tally) Messages(name string) []string {
	out := make([]string, len(t.Errors))
	for i, e := range t.Errors {
		out[i] = fmt.Sprintf("%s:%d: %s", name, e.Line, e.Msg)
	}
	return out
}

// Err returns nil when no line was rejected, and otherwise an
// atelier.CodeDatasetParse error that says how many lines were taken and
// rejected and lists the first bad lines by number.
func (t *Tally) Err(name string) error {
	if t.Rejected == 0 {
		return nil
	}
	return atelier.CodeDatasetParse.Errorf("%s: took %d, rejected %d; first bad lines: %s",
		name, t.Took, t.Rejected, strings.Join(t.Messages(name), "; "))
}
