package format

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// MaxRecordBytes is the longest CSV record (all its lines), in bytes. A
// longer record is a fatal error wrapping ErrTooLong: after it the reader
// cannot tell where the next record starts.
const MaxRecordBytes = 1 << 20

// Column types a table schema may use (any case). SHORT, INT and LONG hold
// whole numbers of 16, 32 and 64 bits (INTEGER and BIGINT are aliases of INT
// and LONG); FLOAT and DOUBLE hold finite numbers; BOOLEAN holds true/false
// or 1/0; STRING holds any valid UTF-8. An empty cell is allowed in every
// column (a missing value).
var columnTypes = map[string]colType{
	"STRING": colString, "SHORT": colInt16, "INT": colInt32, "INTEGER": colInt32,
	"LONG": colInt64, "BIGINT": colInt64, "FLOAT": colFloat, "DOUBLE": colFloat,
	"BOOLEAN": colBool, "BOOL": colBool,
}

type colType int

const (
	colString colType = iota
	colInt16
	colInt32
	colInt64
	colFloat
	colBool
)

// ValidateSchema checks a table schema: at least one column, each with a
// name, no name twice, and a known type. The error is an
// atelier.CodeDatasetSchema error naming the column.
func ValidateSchema(schema []atelier.SchemaColumn) error {
	_, err := compileSchema(schema)
	return err
}

func compileSchema(schema []atelier.SchemaColumn) ([]colType, error) {
	if len(schema) == 0 {
		return nil, atelier.CodeDatasetSchema.Errorf("The schema has no columns.").WithField("schema")
	}
	types := make([]colType, len(schema))
	seen := make(map[string]bool, len(schema))
	for i, c := range schema {
		name := strings.TrimSpace(c.Name)
		if name == "" {
			return nil, atelier.CodeDatasetSchema.Errorf("Column %d of the schema has no name.", i+1).WithField("schema")
		}
		if seen[name] {
			return nil, atelier.CodeDatasetSchema.Errorf("The schema names column %q twice.", name).WithField("schema")
		}
		seen[name] = true
		t, ok := columnTypes[strings.ToUpper(strings.TrimSpace(c.Type))]
		if !ok {
			return nil, atelier.CodeDatasetSchema.Errorf("Column %q has the unknown type %q.", name, c.Type).WithField("schema")
		}
		types[i] = t
	}
	return types, nil
}

// HeaderError says a table's header row does not match the schema. It is
// fatal: no row of the file is read.
type HeaderError struct {
	Line   int
	Column int // 1-based
	Got    string
	Want   string
}

// Error implements error.
func (e *HeaderError) Error() string {
	switch {
	case e.Got == "":
		return fmt.Sprintf("line %d: the header has no column %d, want %q", e.Line, e.Column, e.Want)
	case e.Want == "":
		return fmt.Sprintf("line %d: the header has an extra column %d %q", e.Line, e.Column, e.Got)
	}
	return fmt.Sprintf("line %d: header column %d is %q, want %q", e.Line, e.Column, e.Got, e.Want)
}

// TableReader reads the rows of a CSV table file and checks them against a
// schema. A TableReader is not safe for concurrent use.
type TableReader struct {
	schema     []atelier.SchemaColumn
	types      []colType
	withHeader bool
	lr         *limitReader
	cr         *csv.Reader
	line       int
	started    bool
	err        error // sticky fatal error
}

// NewTableReader returns a reader of the CSV table in r (comma separated,
// RFC 4180 quoting, a UTF-8 byte order mark tolerated). With withHeader the
// first record must name the schema's columns in order. A bad schema is
// reported by the first call to Next (check it earlier with ValidateSchema).
func NewTableReader(r io.Reader, schema []atelier.SchemaColumn, withHeader bool) *TableReader {
	lr := &limitReader{r: r, limit: MaxRecordBytes}
	br := bufio.NewReader(lr)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, bom) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	tr := &TableReader{schema: schema, withHeader: withHeader, lr: lr, cr: cr}
	tr.types, tr.err = compileSchema(schema)
	return tr
}

// Line is the first line of the record last read.
func (tr *TableReader) Line() int { return tr.line }

// Next returns the cells of the next row, or io.EOF at the end. A row with
// the wrong number of columns, a cell not of its column's type, or a CSV
// quoting error gives a *LineError naming the row's first line, and the
// next call reads on. A header that does not match the schema gives a
// *HeaderError, a record over MaxRecordBytes an error wrapping ErrTooLong;
// those and I/O errors are fatal.
func (tr *TableReader) Next() ([]string, error) {
	if tr.err != nil {
		return nil, tr.err
	}
	if !tr.started {
		tr.started = true
		if tr.withHeader {
			rec, err := tr.read()
			if err == io.EOF {
				tr.err = io.EOF
				return nil, io.EOF
			}
			if err != nil {
				if le, ok := err.(*LineError); ok {
					// Not a *LineError: without a header nothing can be read.
					err = fmt.Errorf("header: %s", le.Error())
				}
				tr.err = err
				return nil, err
			}
			if err := tr.checkHeader(rec); err != nil {
				tr.err = err
				return nil, err
			}
		}
	}
	rec, err := tr.read()
	if err != nil {
		if _, ok := err.(*LineError); !ok {
			tr.err = err
		}
		return nil, err
	}
	if len(rec) != len(tr.schema) {
		return nil, lineErrorf(tr.line, "the row has %d columns, want %d", len(rec), len(tr.schema))
	}
	for i, v := range rec {
		if msg := checkCell(tr.types[i], v); msg != "" {
			return nil, lineErrorf(tr.line, "column %d (%s): %s", i+1, tr.schema[i].Name, msg)
		}
	}
	return rec, nil
}

// read reads one record, turning quoting errors into *LineError.
func (tr *TableReader) read() ([]string, error) {
	tr.lr.limit = tr.lr.n + MaxRecordBytes
	rec, err := tr.cr.Read()
	if err != nil {
		if tr.lr.over {
			return nil, fmt.Errorf("line %d: the record is longer than %d bytes: %w", tr.line+1, MaxRecordBytes, ErrTooLong)
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			tr.line = pe.StartLine
			return nil, lineErrorf(pe.StartLine, "%s", csvMessage(pe))
		}
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read table: %w", err)
	}
	tr.line, _ = tr.cr.FieldPos(0)
	return rec, nil
}

func csvMessage(pe *csv.ParseError) string {
	if pe.Line != pe.StartLine {
		return fmt.Sprintf("%v (at line %d, column %d)", pe.Err, pe.Line, pe.Column)
	}
	return fmt.Sprintf("%v (at column %d)", pe.Err, pe.Column)
}

func (tr *TableReader) checkHeader(rec []string) error {
	n := max(len(rec), len(tr.schema))
	for i := range n {
		var got, want string
		if i < len(rec) {
			got = strings.TrimSpace(rec[i])
		}
		if i < len(tr.schema) {
			want = strings.TrimSpace(tr.schema[i].Name)
		}
		if got != want || i >= len(rec) {
			return &HeaderError{Line: tr.line, Column: i + 1, Got: got, Want: want}
		}
	}
	return nil
}

func checkCell(t colType, v string) string {
	if !utf8.ValidString(v) {
		return "the value is not valid UTF-8"
	}
	s := strings.TrimSpace(v)
	if s == "" {
		return ""
	}
	switch t {
	case colInt16, colInt32, colInt64:
		bits := map[colType]int{colInt16: 16, colInt32: 32, colInt64: 64}[t]
		if _, err := strconv.ParseInt(s, 10, bits); err != nil {
			return fmt.Sprintf("%q is not a %d-bit whole number", short(s), bits)
		}
	case colFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("%q is not a number", short(s))
		}
	case colBool:
		switch strings.ToLower(s) {
		case "true", "false", "1", "0":
		default:
			return fmt.Sprintf("%q is not true, false, 1 or 0", short(s))
		}
	}
	return ""
}

// short cuts a value for an error message.
func short(s string) string {
	if len(s) <= 40 {
		return s
	}
	i := 40
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// limitReader fails reads past limit, so that encoding/csv, which buffers a
// whole record, never holds more than about MaxRecordBytes.
type limitReader struct {
	r     io.Reader
	n     int64 // bytes delivered
	limit int64
	over  bool
}

var errRecordTooLong = errors.New("csv record too long")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		l.over = true
		return 0, errRecordTooLong
	}
	if rem := l.limit - l.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}
