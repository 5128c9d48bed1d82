package format

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"
)

// TextReader reads a text file with one sample per line (a TEXT dataset's
// .txt file). Lines end with "\n" or "\r\n"; blank lines (empty or only
// white space) are skipped; a UTF-8 byte order mark at the start is dropped.
// A TextReader is not safe for concurrent use.
type TextReader struct {
	lr *lineReader
}

// NewTextReader returns a reader of the lines of r.
func NewTextReader(r io.Reader) *TextReader { return &TextReader{lr: newLineReader(r)} }

// Next returns the next non-blank line without its line ending, and its
// 1-based line number, or io.EOF at the end. A line of invalid UTF-8 or
// longer than MaxLineBytes gives a *LineError and the next call reads on.
func (tr *TextReader) Next() (string, int, error) {
	for {
		b, n, err := tr.lr.next()
		if err != nil {
			return "", n, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			return "", n, lineErrorf(n, "the line is not valid UTF-8")
		}
		return string(b), n, nil
	}
}

// ReadLabelFile reads a label file of the "ModelArts image classification
// 1.0" layout (img.txt next to img.jpg): one label name per non-blank line,
// trimmed, duplicates dropped. At most maxLabels names are read; a file with
// more, or with a bad line, is an error.
func ReadLabelFile(r io.Reader, maxLabels int) ([]string, error) {
	tr := NewTextReader(r)
	var out []string
	for {
		s, n, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		s = strings.TrimSpace(s)
		if contains(out, s) {
			continue
		}
		if len(out) >= maxLabels {
			return nil, lineErrorf(n, "more than %d labels", maxLabels)
		}
		out = append(out, s)
	}
}
