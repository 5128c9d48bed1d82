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

// SplitTextLabel splits a line of the combined text classification form,
// "text<TAB>label": the label is after the last tab, both trimmed of white
// space. A line without a tab is text alone, with label "".
func SplitTextLabel(line string) (text, label string) {
	i := strings.LastIndexByte(line, '\t')
	if i < 0 {
		return line, ""
	}
	return line[:i], strings.TrimSpace(line[i+1:])
}

// LabelLines reads the label file of a text classification content file
// (news_result.txt next to news.txt): line n holds the label of the
// content file's line n; a blank line, or a line past the end, is none.
// A LabelLines is not safe for concurrent use.
type LabelLines struct {
	lr   *lineReader
	n    int    // number of the line last read
	last string // its label
	bad  bool   // whether it was unreadable
	err  error  // io.EOF at the end, or a fatal error
}

// NewLabelLines returns a reader of the labels in r.
func NewLabelLines(r io.Reader) *LabelLines { return &LabelLines{lr: newLineReader(r)} }

// Line returns the trimmed label on line n ("" for none). Calls must ask
// for lines in increasing order. A line of invalid UTF-8 or over
// MaxLineBytes is a *LineError for that line only; an I/O error is
// returned for this and every later line.
func (ll *LabelLines) Line(n int) (string, error) {
	for ll.n < n && ll.err == nil {
		b, m, err := ll.lr.next()
		switch {
		case err == io.EOF || (err != nil && !IsLineError(err)):
			ll.err = err
		default:
			ll.n, ll.bad = m, err != nil || !utf8.Valid(b)
			ll.last = ""
			if !ll.bad {
				ll.last = strings.TrimSpace(string(b))
			}
		}
	}
	switch {
	case ll.n == n && ll.bad:
		return "", lineErrorf(n, "the label is not valid UTF-8 or is too long")
	case ll.n == n:
		return ll.last, nil
	case ll.err != nil && ll.err != io.EOF:
		return "", ll.err
	}
	return "", nil
}
