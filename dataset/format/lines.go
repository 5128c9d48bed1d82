package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes is the longest line of a manifest or text file, in bytes,
// without its line ending. A longer line is a *LineError; the reader skips
// it without buffering it.
const MaxLineBytes = 1 << 20

var bom = []byte{0xEF, 0xBB, 0xBF}

// lineReader splits r into lines with a buffer bounded by MaxLineBytes plus
// bufio's read size, whatever the length of the lines.
type lineReader struct {
	br   *bufio.Reader
	buf  []byte
	line int   // number of the line last returned
	err  error // sticky fatal error (io.EOF at the end)
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its "\n" or "\r\n" and its number. The
// slice is valid until the following call. A line over MaxLineBytes gives a
// *LineError after the rest of it has been skipped. At the end it returns
// io.EOF; an I/O error is returned wrapped, and again on later calls.
func (lr *lineReader) next() ([]byte, int, error) {
	if lr.err != nil {
		return nil, lr.line, lr.err
	}
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if !tooLong {
			if len(lr.buf)+len(chunk) > MaxLineBytes+2 { // +2: room for "\r\n"
				tooLong = true
				lr.buf = lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			if err != io.EOF {
				lr.err = fmt.Errorf("read line %d: %w", lr.line+1, err)
				return nil, lr.line, lr.err
			}
			lr.err = io.EOF
			if len(chunk) == 0 && len(lr.buf) == 0 && !tooLong {
				return nil, lr.line, io.EOF
			}
		}
		break
	}
	lr.line++
	if tooLong {
		lr.buf = lr.buf[:0]
		return nil, lr.line, &LineError{Line: lr.line, Msg: fmt.Sprintf("the line is longer than %d bytes", MaxLineBytes)}
	}
	b := lr.buf
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if lr.line == 1 {
		b = bytes.TrimPrefix(b, bom)
	}
	if len(b) > MaxLineBytes {
		return nil, lr.line, &LineError{Line: lr.line, Msg: fmt.Sprintf("the line is longer than %d bytes", MaxLineBytes)}
	}
	return b, lr.line, nil
}
