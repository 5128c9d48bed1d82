package format

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestTextReader(t *testing.T) {
	for _, tt := range []struct {
		name      string
		in        string
		wantText  []string
		wantLines []int
		wantBad   []int
	}{
		{"plain", "a\nb\n", []string{"a", "b"}, []int{1, 2}, nil},
		{"CRLF, BOM, blanks, no final newline", "\xef\xbb\xbfa\r\n\r\n  \nb c ", []string{"a", "b c "}, []int{1, 4}, nil},
		{"invalid UTF-8", "ok\n\xff\xfe\n中文\n", []string{"ok", "中文"}, []int{1, 3}, []int{2}},
		{"too long", "x\n" + strings.Repeat("l", MaxLineBytes+1) + "\ny", []string{"x", "y"}, []int{1, 3}, []int{2}},
		{"exactly the bound", strings.Repeat("l", MaxLineBytes) + "\r\n", []string{strings.Repeat("l", MaxLineBytes)}, []int{1}, nil},
		{"empty", "", nil, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTextReader(strings.NewReader(tt.in))
			var texts []string
			var lines, bad []int
			for {
				s, n, err := tr.Next()
				if err == io.EOF {
					break
				}
				var le *LineError
				if errors.As(err, &le) {
					if le.Line != n {
						t.Fatalf("LineError line %d, Next said %d", le.Line, n)
					}
					bad = append(bad, n)
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				texts, lines = append(texts, s), append(lines, n)
			}
			if !reflect.DeepEqual(texts, tt.wantText) || !reflect.DeepEqual(lines, tt.wantLines) || !reflect.DeepEqual(bad, tt.wantBad) {
				t.Fatalf("got %d texts on lines %v, bad %v; want lines %v, bad %v", len(texts), lines, bad, tt.wantLines, tt.wantBad)
			}
		})
	}
}

func TestReadLabelFile(t *testing.T) {
	t.Parallel()
	got, err := ReadLabelFile(strings.NewReader(" cat \r\ndog\n\ncat\n"), 10)
	if err != nil || !reflect.DeepEqual(got, []string{"cat", "dog"}) {
		t.Fatalf("got %q, %v", got, err)
	}
	_, err = ReadLabelFile(strings.NewReader("a\nb\nc\n"), 2)
	var le *LineError
	if !errors.As(err, &le) || le.Line != 3 {
		t.Fatalf("err = %v, want a LineError on line 3", err)
	}
}

func TestSplitTextLabel(t *testing.T) {
	for _, tt := range []struct{ line, text, label string }{
		{"good movie\tpositive", "good movie", "positive"},
		{"a\tb\tlabel ", "a\tb", "label"},
		{"no label", "no label", ""},
		{"empty label\t", "empty label", ""},
	} {
		text, label := SplitTextLabel(tt.line)
		if text != tt.text || label != tt.label {
			t.Errorf("SplitTextLabel(%q) = %q, %q; want %q, %q", tt.line, text, label, tt.text, tt.label)
		}
	}
}

func TestLabelLines(t *testing.T) {
	ll := NewLabelLines(strings.NewReader("finance\r\n\n\xff\nsport \n"))
	for _, tt := range []struct {
		n       int
		want    string
		wantBad bool
	}{{1, "finance", false}, {3, "", true}, {4, "sport", false}, {9, "", false}} {
		got, err := ll.Line(tt.n)
		if got != tt.want || IsLineError(err) != tt.wantBad {
			t.Errorf("Line(%d) = %q, %v; want %q (bad %v)", tt.n, got, err, tt.want, tt.wantBad)
		}
	}
}
