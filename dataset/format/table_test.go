package format

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

// seedSchema is the seed's table schema: three STRING columns.
var seedSchema = []atelier.SchemaColumn{{ID: 0, Name: "name", Type: "STRING"}, {ID: 1, Name: "age", Type: "STRING"}, {ID: 2, Name: "label", Type: "STRING"}}

var typedSchema = []atelier.SchemaColumn{{Name: "id", Type: "INT"}, {Name: "score", Type: "float"}, {Name: "ok", Type: "BOOLEAN"}, {Name: "note", Type: "STRING"}}

type tableResult struct {
	rows     [][]string
	bad      []int    // lines of the LineErrors
	badMsgs  []string // substrings of their messages, in order
	fatalErr string   // substring of a fatal error ("" for io.EOF)
}

var tableTests = []struct {
	name       string
	schema     []atelier.SchemaColumn
	withHeader bool
	csv        string
	want       tableResult
}{
	{name: "seed with header", schema: seedSchema, withHeader: true,
		csv:  "name,age,label\nalice,30,a\nbob,41,b\n",
		want: tableResult{rows: [][]string{{"alice", "30", "a"}, {"bob", "41", "b"}}}},
	{name: "BOM, CRLF, no final newline", schema: seedSchema, withHeader: true,
		csv:  "\xef\xbb\xbfname,age,label\r\nalice,30,a\r\nbob,41,b",
		want: tableResult{rows: [][]string{{"alice", "30", "a"}, {"bob", "41", "b"}}}},
	{name: "no header", schema: seedSchema,
		csv:  "name,age,label\nx,y,z\n",
		want: tableResult{rows: [][]string{{"name", "age", "label"}, {"x", "y", "z"}}}},
	{name: "quoted newline reports the starting line", schema: seedSchema, withHeader: true,
		csv:  "name,age,label\n\"multi\nline\",1,a\nshort,1\n\"q\"\"x\",2,b\n",
		want: tableResult{rows: [][]string{{"multi\nline", "1", "a"}, {"q\"x", "2", "b"}}, bad: []int{4}, badMsgs: []string{"the row has 2 columns, want 3"}}},
	{name: "column counts", schema: seedSchema,
		csv:  "a,b,c\na,b\na,b,c,d\n\na,b,c\n",
		want: tableResult{rows: [][]string{{"a", "b", "c"}, {"a", "b", "c"}}, bad: []int{2, 3}, badMsgs: []string{"2 columns", "4 columns"}}},
	{name: "bare quote then more rows", schema: seedSchema,
		csv:  "a,b\"x,c\nd,e,f\n",
		want: tableResult{rows: [][]string{{"d", "e", "f"}}, bad: []int{1}, badMsgs: []string{"bare \""}}},
	{name: "types", schema: typedSchema, withHeader: true,
		csv: "id,score,ok,note\n" +
			"1,1.5,true,x\n" + // 2 good
			"2,,,\n" + // 3 empty cells are allowed
			"x,1,true,n\n" + // 4 bad int
			"3,abc,true,n\n" + // 5 bad float
			"4,1,yes,n\n" + // 6 bad bool
			"99999999999,1,0,n\n" + // 7 out of INT range
			"5,NaN,1,n\n" + // 8 NaN
			"6,2e3,FALSE,\xff\n" + // 9 invalid UTF-8
			" 7 , -3 , True ,ok\n", // 10 good, spaces trimmed for checks
		want: tableResult{
			rows: [][]string{{"1", "1.5", "true", "x"}, {"2", "", "", ""}, {" 7 ", " -3 ", " True ", "ok"}},
			bad:  []int{4, 5, 6, 7, 8, 9},
			badMsgs: []string{`column 1 (id): "x" is not a 32-bit whole number`, `column 2 (score): "abc" is not a number`,
				`column 3 (ok): "yes" is not true`, "32-bit", "column 2 (score)", "column 4 (note): the value is not valid UTF-8"}}},
	{name: "header mismatch", schema: seedSchema, withHeader: true,
		csv:  "name,agee,label\na,b,c\n",
		want: tableResult{fatalErr: `line 1: header column 2 is "agee", want "age"`}},
	{name: "header short", schema: seedSchema, withHeader: true,
		csv:  "\n\nname,age\n",
		want: tableResult{fatalErr: `line 3: the header has no column 3, want "label"`}},
	{name: "header long", schema: seedSchema, withHeader: true,
		csv:  "name,age,label,x\n",
		want: tableResult{fatalErr: `extra column 4 "x"`}},
	{name: "header quoting error is fatal", schema: seedSchema, withHeader: true,
		csv:  "na\"me,age,label\n",
		want: tableResult{fatalErr: "header: line 1"}},
	{name: "empty file with header", schema: seedSchema, withHeader: true, csv: ""},
	{name: "bad schema type", schema: []atelier.SchemaColumn{{Name: "a", Type: "BLOB"}}, csv: "x\n",
		want: tableResult{fatalErr: `unknown type "BLOB"`}},
	{name: "duplicate schema name", schema: []atelier.SchemaColumn{{Name: "a", Type: "INT"}, {Name: "a", Type: "INT"}}, csv: "1,2\n",
		want: tableResult{fatalErr: `names column "a" twice`}},
	{name: "empty schema", csv: "1,2\n", want: tableResult{fatalErr: "no columns"}},
}

func readTable(tr *TableReader) tableResult {
	var res tableResult
	for range 100_000 {
		row, err := tr.Next()
		if err == io.EOF {
			return res
		}
		var le *LineError
		if errors.As(err, &le) {
			res.bad = append(res.bad, le.Line)
			res.badMsgs = append(res.badMsgs, le.Msg)
			continue
		}
		if err != nil {
			res.fatalErr = err.Error()
			if _, again := tr.Next(); again == nil || again.Error() != err.Error() {
				res.fatalErr += " (not sticky)"
			}
			return res
		}
		res.rows = append(res.rows, row)
	}
	res.fatalErr = "the reader did not end"
	return res
}

func TestTableReader(t *testing.T) {
	for _, tt := range tableTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := readTable(NewTableReader(strings.NewReader(tt.csv), tt.schema, tt.withHeader))
			if !reflect.DeepEqual(got.rows, tt.want.rows) || !reflect.DeepEqual(got.bad, tt.want.bad) {
				t.Fatalf("rows %q bad lines %v (%q), want %q and %v", got.rows, got.bad, got.badMsgs, tt.want.rows, tt.want.bad)
			}
			for i, m := range tt.want.badMsgs {
				if !strings.Contains(got.badMsgs[i], m) {
					t.Errorf("error %d = %q, want one containing %q", i, got.badMsgs[i], m)
				}
			}
			if (got.fatalErr == "") != (tt.want.fatalErr == "") || !strings.Contains(got.fatalErr, tt.want.fatalErr) {
				t.Fatalf("fatal error %q, want %q", got.fatalErr, tt.want.fatalErr)
			}
		})
	}
}

func TestTableHeaderErrorType(t *testing.T) {
	t.Parallel()
	_, err := NewTableReader(strings.NewReader("name,x,label\n"), seedSchema, true).Next()
	var he *HeaderError
	if !errors.As(err, &he) || he.Column != 2 || he.Got != "x" || he.Want != "age" || IsLineError(err) {
		t.Fatalf("err = %#v", err)
	}
	if err := ValidateSchema([]atelier.SchemaColumn{{Name: "a", Type: "long"}}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateSchema(nil); atelier.ErrorCode(err) != atelier.CodeDatasetSchema.ID {
		t.Fatalf("ValidateSchema(nil) = %v", err)
	}
}

// TestTableRecordBound checks that a huge quoted field is a fatal error
// before it is buffered whole.
func TestTableRecordBound(t *testing.T) {
	t.Parallel()
	r := io.MultiReader(strings.NewReader("a,b,c\n\""), io.LimitReader(repeatReader('x'), 64<<20), strings.NewReader("\",b,c\n"))
	tr := NewTableReader(r, seedSchema, false)
	if row, err := tr.Next(); err != nil || row[0] != "a" {
		t.Fatalf("first row %q, %v", row, err)
	}
	_, err := tr.Next()
	if !errors.Is(err, ErrTooLong) || IsLineError(err) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want a fatal ErrTooLong on line 2", err)
	}
	// A record just under the bound is read.
	big := strings.Repeat("y", MaxRecordBytes-100)
	tr = NewTableReader(strings.NewReader("x,y,z\n\""+big+"\",1,2\n"), seedSchema, false)
	for range 2 {
		if row, err := tr.Next(); err != nil || len(row) != 3 {
			t.Fatalf("row err %v", err)
		}
	}
}

func FuzzTable(f *testing.F) {
	for _, tt := range tableTests {
		f.Add([]byte(tt.csv), tt.withHeader)
	}
	f.Fuzz(func(t *testing.T, data []byte, withHeader bool) {
		for _, schema := range [][]atelier.SchemaColumn{seedSchema, typedSchema} {
			tr := NewTableReader(bytes.NewReader(data), schema, withHeader)
			last := 0
			for range 100_000 {
				row, err := tr.Next()
				if err == io.EOF {
					break
				}
				var le *LineError
				if errors.As(err, &le) {
					if le.Line < 1 || le.Line < last {
						t.Fatalf("line error on line %d after line %d", le.Line, last)
					}
					last = le.Line
					continue
				}
				if err != nil {
					break
				}
				if len(row) != len(schema) {
					t.Fatalf("row %q has %d columns", row, len(row))
				}
				if tr.Line() < last {
					t.Fatalf("row on line %d after line %d", tr.Line(), last)
				}
				last = tr.Line()
			}
		}
	})
}
