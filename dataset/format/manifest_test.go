package format

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/atelier-dev/atelier"
)

var manifestTests = []struct {
	name    string
	line    string
	want    *atelier.Sample
	wantErr string // substring of the error; "" for none
}{
	{
		name: "classification",
		line: `{"source":"s3://bucket-a/img/1.jpg","usage":"TRAIN","id":"s1","annotation":[{"type":"modelarts/image_classification","name":"cat","annotated-by":"human","creation-time":"2019-01-23 11:30:30"}]}`,
		want: &atelier.Sample{ID: "s1", Source: "obs://bucket-a/img/1.jpg", Usage: "TRAIN",
			Annotations: []atelier.Annotation{{Type: TypeImageClassification, Name: "cat", AnnotatedBy: "human", CreationTime: "2019-01-23 11:30:30"}},
			Labels:      []string{"cat"}},
	},
	{
		name: "obs source, lower-case usage, unknown fields",
		line: `{"source":"obs://bucket-a/a b/2.png","usage":"eval","inference-loc":"x","extra":{"k":[1,2]}}`,
		want: &atelier.Sample{Source: "obs://bucket-a/a b/2.png", Usage: "EVAL"},
	},
	{
		name: "slash source, no usage",
		line: `  {"source":"/obs-gaia-test/data/3.jpg"}  `,
		want: &atelier.Sample{Source: "obs://obs-gaia-test/data/3.jpg"},
	},
	{
		name: "object detection with VOC location",
		line: `{"source":"s3://bkt/x.jpg","annotation":[{"type":"modelarts/object_detection","annotation-loc":"s3://bkt/x.xml","annotation-format":"PASCAL VOC","annotated-by":"human"}]}`,
		want: &atelier.Sample{Source: "obs://bkt/x.jpg", Annotations: []atelier.Annotation{{
			Type: TypeObjectDetection, AnnotationLoc: "obs://bkt/x.xml", AnnotationFormat: "PASCAL VOC", AnnotatedBy: "human"}}},
	},
	{
		name: "text triplet",
		line: `{"source":"content://糖尿病又称为消渴症","annotation":[{"type":"modelarts/text_triplet","name":"疾病","property":{"@modelarts:start_index":0,"@modelarts:end_index":3}},{"type":"modelarts/text_triplet","name":"疾病","property":{"@modelarts:start_index":6,"@modelarts:end_index":9}},{"type":"modelarts/text_triplet","name":"又称为","property":{"@modelarts:from":"e1","@modelarts:to":"e2"}}]}`,
		want: &atelier.Sample{Source: "content://糖尿病又称为消渴症", Annotations: []atelier.Annotation{
			{Type: "modelarts/text_triplet", Name: "疾病", Property: map[string]any{"@modelarts:start_index": 0.0, "@modelarts:end_index": 3.0}},
			{Type: "modelarts/text_triplet", Name: "疾病", Property: map[string]any{"@modelarts:start_index": 6.0, "@modelarts:end_index": 9.0}},
			{Type: "modelarts/text_triplet", Name: "又称为", Property: map[string]any{"@modelarts:from": "e1", "@modelarts:to": "e2"}},
		}, Labels: []string{"疾病", "又称为"}},
	},
	{
		name: "content source may be empty text with any characters",
		line: `{"source":"content://a\nb <&> s3://x"}`,
		want: &atelier.Sample{Source: "content://a\nb <&> s3://x"},
	},
	{name: "missing source", line: `{"usage":"TRAIN"}`, wantErr: "source is missing"},
	{name: "empty source", line: `{"source":""}`, wantErr: "source is missing"},
	{name: "source not a string", line: `{"source":12}`, wantErr: "source: a JSON number"},
	{name: "bad scheme", line: `{"source":"http://b/x.jpg"}`, wantErr: "source: The object path must be obs://bucket/key"},
	{name: "directory source", line: `{"source":"s3://bucket/dir/"}`, wantErr: "names a directory"},
	{name: "dotdot key", line: `{"source":"s3://bucket/a/../b"}`, wantErr: "'..' path segment"},
	{name: "bad bucket", line: `{"source":"s3://B/x"}`, wantErr: "bucket name"},
	{name: "bad usage", line: `{"source":"s3://bkt/x","usage":"VALIDATE"}`, wantErr: `usage "VALIDATE"`},
	{name: "non-ASCII usage", line: `{"source":"s3://bkt/x","usage":"traın"}`, wantErr: `usage "traın"`},
	{name: "annotation without type", line: `{"source":"s3://bkt/x","annotation":[{"name":"cat"}]}`, wantErr: "annotation[0].type is missing"},
	{name: "annotation name not a string", line: `{"source":"s3://bkt/x","annotation":[{"type":"t","name":3}]}`, wantErr: "annotation.name: a JSON number"},
	{name: "bad annotation-loc", line: `{"source":"s3://bkt/x","annotation":[{"type":"t"},{"type":"t","annotation-loc":"x.xml"}]}`, wantErr: "annotation[1].annotation-loc"},
	{name: "not an object", line: `[1,2]`, wantErr: "not a JSON object"},
	{name: "truncated JSON", line: `{"source":"s3://bkt/x"`, wantErr: "invalid JSON"},
	{name: "trailing garbage", line: `{"source":"s3://bkt/x"} x`, wantErr: "invalid JSON"},
}

func TestParseManifestLine(t *testing.T) {
	for _, tt := range manifestTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseManifestLine([]byte(tt.line))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %#v\nwant %#v", got, tt.want)
			}
			mustRoundTrip(t, got)
		})
	}
}

// mustRoundTrip writes s and reads it back, and checks it is unchanged and
// that writing again gives the same bytes.
func mustRoundTrip(t testing.TB, s *atelier.Sample) {
	t.Helper()
	var buf bytes.Buffer
	mw := NewManifestWriter(&buf)
	if err := mw.Write(s); err != nil {
		t.Fatalf("write %#v: %v", s, err)
	}
	line := buf.String()
	if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
		t.Fatalf("written line %q is not one line", line)
	}
	got, err := NewManifestReader(strings.NewReader(line)).Next()
	if err != nil {
		t.Fatalf("read back %q: %v", line, err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip of %q:\ngot  %#v\nwant %#v", line, got, s)
	}
	buf.Reset()
	if err := mw.Write(got); err != nil {
		t.Fatal(err)
	}
	if buf.String() != line {
		t.Fatalf("second write %q differs from first %q", buf.String(), line)
	}
}

func TestManifestWriterCanonical(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := NewManifestWriter(&buf).Write(&atelier.Sample{
		ID: "s1", Source: "/bkt/a/<1>.jpg", Usage: "train", Labels: []string{"ignored"},
		Annotations: []atelier.Annotation{{Type: TypeObjectDetection, Name: "dog",
			AnnotationLoc: "obs://bkt/a/1.xml", AnnotationFormat: FormatPascalVOC,
			Property: map[string]any{"z": 1, "a": []any{1.5, "x"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"annotation":[{"annotation-format":"PASCAL VOC","annotation-loc":"s3://bkt/a/1.xml","name":"dog","property":{"a":[1.5,"x"],"z":1},"type":"modelarts/object_detection"}],"id":"s1","source":"s3://bkt/a/<1>.jpg","usage":"TRAIN"}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
}

func TestManifestWriterErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		s       *atelier.Sample
		wantErr string
	}{
		{"no source", &atelier.Sample{}, "source"},
		{"bad usage", &atelier.Sample{Source: "s3://bkt/x", Usage: "DEV"}, "usage"},
		{"no annotation type", &atelier.Sample{Source: "s3://bkt/x", Annotations: []atelier.Annotation{{Name: "a"}}}, "annotation[0].type"},
		{"bad loc", &atelier.Sample{Source: "s3://bkt/x", Annotations: []atelier.Annotation{{Type: "t", AnnotationLoc: "ftp://x"}}}, "annotation[0].annotation-loc"},
		{"unencodable property", &atelier.Sample{Source: "s3://bkt/x", Annotations: []atelier.Annotation{{Type: "t", Property: map[string]any{"f": func() {}}}}}, "unsupported type"},
		{"too long", &atelier.Sample{Source: "content://" + strings.Repeat("x", MaxLineBytes)}, "longer than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			err := NewManifestWriter(&buf).Write(tt.s)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if buf.Len() != 0 {
				t.Fatalf("wrote %d bytes on error", buf.Len())
			}
		})
	}
}

func TestManifestReaderLines(t *testing.T) {
	t.Parallel()
	long := `{"source":"content://` + strings.Repeat("y", MaxLineBytes+10) + `"}`
	in := strings.Join([]string{
		"\xef\xbb\xbf" + `{"source":"s3://bkt/1.jpg"}`, // 1, with a BOM
		"",                                   // 2
		`{"source":"s3://bkt/2.jpg"}` + "\r", // 3, CRLF
		`{"usage":"TRAIN"}`,                  // 4 bad
		"   \t",                              // 5 blank
		long,                                 // 6 too long
		`{"source":"s3://bkt/3.jpg"}`,        // 7
		`{"source":"s3://bkt/4.jpg","usage":"X"}`, // 8 bad
		`{"source":"s3://bkt/5.jpg"}`,             // 9, no final newline
	}, "\n")
	mr := NewManifestReader(strings.NewReader(in))
	var tally Tally
	var got []string
	for {
		s, err := mr.Next()
		if err == io.EOF {
			break
		}
		if err := tally.Record(err); err != nil {
			t.Fatal(err)
		}
		if s != nil {
			got = append(got, s.Source)
		}
	}
	want := []string{"obs://bkt/1.jpg", "obs://bkt/2.jpg", "obs://bkt/3.jpg", "obs://bkt/5.jpg"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sources = %q, want %q", got, want)
	}
	if tally.Took != 4 || tally.Rejected != 3 {
		t.Fatalf("took %d rejected %d, want 4 and 3", tally.Took, tally.Rejected)
	}
	var lines []int
	for _, e := range tally.Errors {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{4, 6, 8}) {
		t.Fatalf("bad lines = %v, want [4 6 8]", lines)
	}
	msgs := tally.Messages("V001.manifest")
	if msgs[0] != "V001.manifest:4: source is missing" || !strings.Contains(msgs[1], "longer than 1048576 bytes") {
		t.Fatalf("messages = %q", msgs)
	}
	err := tally.Err("V001.manifest")
	if atelier.ErrorCode(err) != atelier.CodeDatasetParse.ID || !strings.Contains(atelier.ErrorMessage(err), "took 4, rejected 3") {
		t.Fatalf("Err = %v", err)
	}
	if _, err := mr.Next(); err != io.EOF {
		t.Fatalf("Next after the end = %v, want io.EOF", err)
	}
}

func TestTallyBound(t *testing.T) {
	t.Parallel()
	var tally Tally
	for i := range 100 {
		if err := tally.Record(&LineError{Line: i + 1, Msg: "bad"}); err != nil {
			t.Fatal(err)
		}
	}
	if tally.Rejected != 100 || len(tally.Errors) != MaxReportedErrors || tally.Errors[19].Line != 20 {
		t.Fatalf("rejected %d, kept %d", tally.Rejected, len(tally.Errors))
	}
	fatal := errors.New("disk on fire")
	if err := tally.Record(fmt.Errorf("read: %w", fatal)); !errors.Is(err, fatal) {
		t.Fatalf("Record(fatal) = %v", err)
	}
	var none Tally
	if none.Err("x") != nil {
		t.Fatal("Err of a clean tally is not nil")
	}
}

type failingReader struct {
	r   io.Reader
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestManifestReaderIOError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	mr := NewManifestReader(&failingReader{r: strings.NewReader(`{"source":"s3://bkt/1"}` + "\n" + `{"source":"s3`), err: boom})
	if _, err := mr.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := mr.Next(); !errors.Is(err, boom) || IsLineError(err) {
			t.Fatalf("err = %v, want the fatal boom", err)
		}
	}
}

// TestManifestStreaming reads a 200,000-line manifest made on the fly through
// a pipe and checks the heap stays small: nothing is buffered but a line.
func TestManifestStreaming(t *testing.T) {
	const lines = 200_000
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriter(pw)
		mw := NewManifestWriter(bw)
		for i := range lines {
			s := &atelier.Sample{ID: fmt.Sprint(i), Source: fmt.Sprintf("s3://bkt/img/%07d.jpg", i), Usage: atelier.UsageTrain,
				Annotations: []atelier.Annotation{{Type: TypeImageClassification, Name: "cat", AnnotatedBy: "human"}}}
			if err := mw.Write(s); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.CloseWithError(bw.Flush())
	}()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak uint64
	mr := NewManifestReader(pr)
	n := 0
	for {
		s, err := mr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if s.ID != fmt.Sprint(n) {
			t.Fatalf("sample %d has id %q", n, s.ID)
		}
		n++
		if n%25_000 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	if n != lines {
		t.Fatalf("read %d samples, want %d", n, lines)
	}
	growth := int64(peak) - int64(base)
	t.Logf("heap growth %d KiB over %d lines", growth>>10, lines)
	if growth > 16<<20 {
		t.Fatalf("heap grew by %d MiB, want < 16 MiB", growth>>20)
	}
}

// TestManifestLongLineBounded feeds a 64 MiB line and checks it is rejected
// without being buffered.
func TestManifestLongLineBounded(t *testing.T) {
	r := io.MultiReader(
		strings.NewReader(`{"source":"content://`),
		io.LimitReader(repeatReader('z'), 64<<20),
		strings.NewReader("\"}\n"+`{"source":"s3://bkt/ok"}`+"\n"),
	)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	mr := NewManifestReader(r)
	_, err := mr.Next()
	var le *LineError
	if !errors.As(err, &le) || le.Line != 1 {
		t.Fatalf("err = %v, want a LineError on line 1", err)
	}
	s, err := mr.Next()
	if err != nil || s.Source != "obs://bkt/ok" {
		t.Fatalf("next = %v, %v", s, err)
	}
	runtime.ReadMemStats(&ms)
	if alloc := ms.TotalAlloc - before; alloc > 8<<20 {
		t.Fatalf("allocated %d MiB for a skipped line", alloc>>20)
	}
}

type repeatReader byte

func (c repeatReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

func FuzzManifest(f *testing.F) {
	for _, tt := range manifestTests {
		f.Add([]byte(tt.line))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		mr := NewManifestReader(bytes.NewReader(data))
		for range 10_000 {
			s, err := mr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var le *LineError
				if !errors.As(err, &le) || le.Line < 1 {
					t.Fatalf("err = %v, want a LineError with a line", err)
				}
				continue
			}
			mustRoundTrip(t, s)
		}
		t.Fatal("the reader did not end")
	})
}

func BenchmarkManifestRead(b *testing.B) {
	var buf bytes.Buffer
	mw := NewManifestWriter(&buf)
	const lines = 10_000
	for i := range lines {
		_ = mw.Write(&atelier.Sample{ID: fmt.Sprint(i), Source: fmt.Sprintf("s3://bkt/img/%07d.jpg", i), Usage: atelier.UsageTrain,
			Annotations: []atelier.Annotation{{Type: TypeImageClassification, Name: "cat", AnnotatedBy: "human", CreationTime: "2019-01-23 11:30:30"}}})
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		mr := NewManifestReader(bytes.NewReader(data))
		for {
			if _, err := mr.Next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)*lines/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkManifestWrite(b *testing.B) {
	s := &atelier.Sample{ID: "s1", Source: "obs://bkt/img/0000001.jpg", Usage: atelier.UsageTrain,
		Annotations: []atelier.Annotation{{Type: TypeImageClassification, Name: "cat", AnnotatedBy: "human", CreationTime: "2019-01-23 11:30:30"}}}
	mw := NewManifestWriter(io.Discard)
	for b.Loop() {
		if err := mw.Write(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
