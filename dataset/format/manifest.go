package format

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/atelier-dev/atelier"
)

// A manifest is a ModelArts manifest: JSON Lines, one sample per line:
//
//	{"source":"s3://bucket/img/1.jpg","usage":"TRAIN","id":"…",
//	 "annotation":[{"type":"modelarts/image_classification","name":"cat",
//	   "annotated-by":"human","creation-time":"2019-01-23 11:30:30"}]}
//
// "source" is required: an object (s3://bucket/key, obs://bucket/key or
// /bucket/key) or, for text datasets, the text itself after "content://"
// ("content://I like this film"). "usage" is TRAIN, EVAL, TEST, INFERENCE
// (any case) or absent. "annotation" entries carry "type" (required),
// "name", "property" (any JSON object), "annotated-by", "creation-time",
// and, for annotations kept in a file such as a PASCAL VOC XML,
// "annotation-loc" (an object location) and "annotation-format". Unknown
// fields are ignored; blank lines are skipped.

// ManifestReader reads the samples of a manifest, one line at a time. A
// ManifestReader is not safe for concurrent use.
type ManifestReader struct {
	lr *lineReader
}

// NewManifestReader returns a reader of the manifest in r.
func NewManifestReader(r io.Reader) *ManifestReader {
	return &ManifestReader{lr: newLineReader(r)}
}

// Line is the number of the line last read.
func (mr *ManifestReader) Line() int { return mr.lr.line }

// Next returns the sample of the next non-blank line, or io.EOF at the end.
// A bad line gives a *LineError and the next call reads on. In the sample,
// an object source and annotation locations are in the ObjectURI form
// (obs://bucket/key), a content:// source is kept as it is, usage is upper
// case, and Labels holds the distinct annotation names in order.
func (mr *ManifestReader) Next() (*atelier.Sample, error) {
	for {
		b, n, err := mr.lr.next()
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		s, err := ParseManifestLine(b)
		if err != nil {
			return nil, &LineError{Line: n, Msg: err.Error()}
		}
		return s, nil
	}
}

// manifestLine is a line as read. Fields are pointers or raw where their
// absence or type must be told apart.
type manifestLine struct {
	Source     *string              `json:"source"`
	Usage      string               `json:"usage"`
	ID         string               `json:"id"`
	Annotation []atelier.Annotation `json:"annotation"`
}

// ParseManifestLine parses one manifest line into a sample, with the rules
// of ManifestReader.Next. The error names the offending field.
func ParseManifestLine(b []byte) (*atelier.Sample, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, errors.New("the line is not a JSON object")
	}
	var ml manifestLine
	if err := json.Unmarshal(b, &ml); err != nil {
		return nil, jsonError(err)
	}
	if ml.Source == nil || *ml.Source == "" {
		return nil, errors.New("source is missing")
	}
	src, err := normaliseSource(*ml.Source)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	usage, err := normaliseUsage(ml.Usage)
	if err != nil {
		return nil, err
	}
	s := &atelier.Sample{ID: ml.ID, Source: src, Usage: usage}
	if len(ml.Annotation) > 0 {
		s.Annotations = ml.Annotation
		for i := range s.Annotations {
			if err := normaliseAnnotation(&s.Annotations[i], i); err != nil {
				return nil, err
			}
		}
	}
	s.Labels = labelNames(s.Annotations)
	return s, nil
}

func normaliseSource(src string) (string, error) {
	if text, ok := ContentText(src); ok {
		return SchemeContent + text, nil
	}
	b, k, err := ParseSource(src)
	if err != nil {
		return "", err
	}
	return ObjectURI(b, k), nil
}

func normaliseUsage(u string) (string, error) {
	if u == "" {
		return "", nil
	}
	up := u
	if isASCII(u) { // so that "traın" (dotless i) is not TRAIN
		up = strings.ToUpper(u)
	}
	switch up {
	case atelier.UsageTrain, atelier.UsageEval, atelier.UsageTest, atelier.UsageInference:
		return up, nil
	}
	return "", fmt.Errorf("usage %q is not one of TRAIN, EVAL, TEST, INFERENCE", u)
}

func normaliseAnnotation(a *atelier.Annotation, i int) error {
	if a.Type == "" {
		return fmt.Errorf("annotation[%d].type is missing", i)
	}
	if a.AnnotationLoc != "" {
		b, k, err := ParseSource(a.AnnotationLoc)
		if err != nil {
			return fmt.Errorf("annotation[%d].annotation-loc: %w", i, err)
		}
		a.AnnotationLoc = ObjectURI(b, k)
	}
	if len(a.Property) == 0 {
		a.Property = nil
	}
	return nil
}

func labelNames(as []atelier.Annotation) []string {
	var out []string
	for _, a := range as {
		if a.Name != "" && !contains(out, a.Name) {
			out = append(out, a.Name)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// jsonError turns a decoding error into a message naming the field.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := te.Field
		if f == "" {
			return fmt.Errorf("the line is a JSON %s, want an object", te.Value)
		}
		return fmt.Errorf("%s: a JSON %s is not allowed here", f, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return fmt.Errorf("invalid JSON: %s", err.Error())
}

// ManifestWriter writes samples as manifest lines. Each Write makes exactly
// one call to the underlying writer; wrap a file in a bufio.Writer for
// speed. A ManifestWriter is not safe for concurrent use.
type ManifestWriter struct {
	w   io.Writer
	buf bytes.Buffer
	enc *json.Encoder
	n   int64
}

// NewManifestWriter returns a writer of manifest lines to w.
func NewManifestWriter(w io.Writer) *ManifestWriter {
	mw := &ManifestWriter{w: w}
	mw.enc = json.NewEncoder(&mw.buf)
	mw.enc.SetEscapeHTML(false)
	return mw
}

// Count is the number of lines written.
func (mw *ManifestWriter) Count() int64 { return mw.n }

// The struct fields of outLine and outAnnotation are in key order, so that
// with encoding/json sorting map keys a line is canonical: the same sample
// always gives the same bytes.
type outLine struct {
	Annotation []outAnnotation `json:"annotation,omitempty"`
	ID         string          `json:"id,omitempty"`
	Source     string          `json:"source"`
	Usage      string          `json:"usage,omitempty"`
}

type outAnnotation struct {
	AnnotatedBy      string         `json:"annotated-by,omitempty"`
	AnnotationFormat string         `json:"annotation-format,omitempty"`
	AnnotationLoc    string         `json:"annotation-loc,omitempty"`
	CreationTime     string         `json:"creation-time,omitempty"`
	Name             string         `json:"name,omitempty"`
	Property         map[string]any `json:"property,omitempty"`
	Type             string         `json:"type"`
}

// Write writes s as one canonical manifest line: keys sorted, object
// locations as s3://bucket/key, content:// sources as they are, HTML
// characters unescaped. Labels, DatasetID and the times are not written (the
// labels follow from the annotations). It returns an error naming the field
// when s could not be read back: a bad source, usage or annotation type, a
// property JSON cannot encode, or a line over MaxLineBytes.
func (mw *ManifestWriter) Write(s *atelier.Sample) error {
	ol := outLine{ID: s.ID}
	if text, ok := ContentText(s.Source); ok {
		ol.Source = SchemeContent + text
	} else {
		b, k, err := ParseSource(s.Source)
		if err != nil {
			return fmt.Errorf("write manifest line: source: %w", err)
		}
		ol.Source = ManifestURI(b, k)
	}
	u, err := normaliseUsage(s.Usage)
	if err != nil {
		return fmt.Errorf("write manifest line: %w", err)
	}
	ol.Usage = u
	for i, a := range s.Annotations {
		if a.Type == "" {
			return fmt.Errorf("write manifest line: annotation[%d].type is missing", i)
		}
		oa := outAnnotation{
			AnnotatedBy: a.AnnotatedBy, AnnotationFormat: a.AnnotationFormat,
			CreationTime: a.CreationTime, Name: a.Name, Property: a.Property, Type: a.Type,
		}
		if a.AnnotationLoc != "" {
			b, k, err := ParseSource(a.AnnotationLoc)
			if err != nil {
				return fmt.Errorf("write manifest line: annotation[%d].annotation-loc: %w", i, err)
			}
			oa.AnnotationLoc = ManifestURI(b, k)
		}
		ol.Annotation = append(ol.Annotation, oa)
	}
	mw.buf.Reset()
	if err := mw.enc.Encode(&ol); err != nil {
		return fmt.Errorf("write manifest line: %w", err)
	}
	if mw.buf.Len()-1 > MaxLineBytes {
		return fmt.Errorf("write manifest line: the line is longer than %d bytes: %w", MaxLineBytes, ErrTooLong)
	}
	if _, err := mw.w.Write(mw.buf.Bytes()); err != nil {
		return fmt.Errorf("write manifest line: %w", err)
	}
	mw.n++
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
