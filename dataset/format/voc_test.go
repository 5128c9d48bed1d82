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

const vocGood = `<?xml version="1.0" encoding="UTF-8"?>
<annotation>
  <folder>image-detection</folder>
  <filename>IMG_001.jpg</filename>
  <source><database>Unknown</database></source>
  <size><width>500</width><height>375</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>yunbao</name><pose>Unspecified</pose><truncated>0</truncated><difficult>1</difficult>
    <bndbox><xmin>10</xmin><ymin>20.5</ymin><xmax>500</xmax><ymax>375</ymax></bndbox>
  </object>
  <object>
    <name>cat</name><occluded>true</occluded>
    <bndbox><xmin> 0 </xmin><ymin>0</ymin><xmax>1.25</xmax><ymax>2</ymax></bndbox>
  </object>
</annotation>`

// vocWith returns a VOC file of a 100×50 image with the given objects.
func vocWith(objects ...string) string {
	return `<annotation><filename>a.jpg</filename><size><width>100</width><height>50</height><depth>3</depth></size>` +
		strings.Join(objects, "") + `</annotation>`
}

func box(name, xmin, ymin, xmax, ymax string) string {
	return `<object><name>` + name + `</name><bndbox><xmin>` + xmin + `</xmin><ymin>` + ymin +
		`</ymin><xmax>` + xmax + `</xmax><ymax>` + ymax + `</ymax></bndbox></object>`
}

var vocTests = []struct {
	name      string
	xml       string
	want      *VOC
	wantField string // VOCError.Field
	wantErr   string // substring
}{
	{name: "good", xml: vocGood, want: &VOC{Folder: "image-detection", Filename: "IMG_001.jpg", Size: VOCSize{500, 375, 3},
		Objects: []VOCObject{
			{Name: "yunbao", Pose: "Unspecified", Difficult: true, BndBox: VOCBox{10, 20.5, 500, 375}},
			{Name: "cat", Occluded: true, BndBox: VOCBox{0, 0, 1.25, 2}},
		}}},
	{name: "no objects", xml: vocWith(), want: &VOC{Filename: "a.jpg", Size: VOCSize{100, 50, 3}}},
	{name: "no depth", xml: `<annotation><size><width>1</width><height>1</height></size></annotation>`, want: &VOC{Size: VOCSize{1, 1, 0}}},
	{name: "malformed", xml: `<annotation><size>`, wantErr: "malformed XML"},
	{name: "mismatched tags", xml: `<annotation><size></annotation>`, wantErr: "malformed XML at line 1"},
	{name: "not xml", xml: `{"a":1}`, wantErr: "no <annotation>"},
	{name: "empty", xml: ``, wantErr: "no <annotation>"},
	{name: "wrong root", xml: `<html></html>`, wantErr: "want <annotation>"},
	{name: "two roots", xml: vocWith() + `<annotation/>`, wantErr: "more than one root"},
	{name: "missing size", xml: `<annotation><object><name>a</name></object></annotation>`, wantField: "size", wantErr: "missing"},
	{name: "missing width", xml: `<annotation><size><height>1</height></size></annotation>`, wantField: "size.width"},
	{name: "zero height", xml: `<annotation><size><width>1</width><height>0</height></size></annotation>`, wantField: "size.height"},
	{name: "fractional width", xml: `<annotation><size><width>1.5</width><height>1</height></size></annotation>`, wantField: "size.width"},
	{name: "missing name", xml: vocWith(box("a", "1", "1", "2", "2"), box("", "1", "1", "2", "2")), wantField: "object[1].name"},
	{name: "missing bndbox", xml: vocWith(`<object><name>a</name></object>`), wantField: "object[0].bndbox", wantErr: "missing"},
	{name: "two bndboxes", xml: vocWith(`<object><name>a</name><bndbox></bndbox><bndbox></bndbox></object>`), wantField: "object[0].bndbox", wantErr: "more than one"},
	{name: "missing ymax", xml: vocWith(`<object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax></bndbox></object>`), wantField: "object[0].bndbox.ymax"},
	{name: "not a number", xml: vocWith(box("a", "one", "1", "2", "2")), wantField: "object[0].bndbox.xmin", wantErr: `"one" is not a number`},
	{name: "NaN", xml: vocWith(box("a", "1", "NaN", "2", "2")), wantField: "object[0].bndbox.ymin"},
	{name: "xmin >= xmax", xml: vocWith(box("a", "5", "1", "5", "2")), wantField: "object[0].bndbox.xmin", wantErr: "not less than xmax 5"},
	{name: "ymin > ymax", xml: vocWith(box("a", "1", "9", "5", "2")), wantField: "object[0].bndbox.ymin"},
	{name: "xmax outside width", xml: vocWith(box("a", "1", "1", "100.5", "2")), wantField: "object[0].bndbox.xmax", wantErr: "outside the image"},
	{name: "ymax outside height", xml: vocWith(box("a", "1", "1", "2", "51")), wantField: "object[0].bndbox.ymax", wantErr: "0..50"},
	{name: "negative xmin", xml: vocWith(box("a", "-1", "1", "2", "2")), wantField: "object[0].bndbox.xmin"},
	{name: "bad difficult", xml: vocWith(`<object><name>a</name><difficult>2</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></object>`), wantField: "object[0].difficult"},
	{name: "too deep", xml: `<annotation>` + strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40) + `</annotation>`, wantErr: "deeper than"},
	{name: "undeclared entity", xml: `<annotation>&xxe;</annotation>`, wantErr: "malformed XML"},
	{name: "doctype entity not expanded", xml: `<!DOCTYPE a [<!ENTITY x "y">]><annotation><filename>&x;</filename></annotation>`, wantErr: "malformed XML"},
}

func TestParseVOC(t *testing.T) {
	for _, tt := range vocTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseVOC(strings.NewReader(tt.xml))
			if tt.want != nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want one about %q %q", tt.wantField, tt.wantErr)
			}
			var ve *VOCError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %T %v, want a *VOCError", err, err)
			}
			if ve.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v (field %q), want field %q and %q", err, ve.Field, tt.wantField, tt.wantErr)
			}
		})
	}
}

func TestParseVOCSizeBound(t *testing.T) {
	t.Parallel()
	head := `<annotation><size><width>1</width><height>1</height></size><!--`
	// A file of exactly MaxVOCBytes is read; one byte more is refused.
	for _, extra := range []int{0, 1} {
		pad := MaxVOCBytes - len(head) - len(`--></annotation>`) + extra
		r := io.MultiReader(strings.NewReader(head), io.LimitReader(repeatReader('x'), int64(pad)), strings.NewReader(`--></annotation>`))
		_, err := ParseVOC(r)
		if extra == 0 && err != nil {
			t.Fatalf("a file of %d bytes: %v", MaxVOCBytes, err)
		}
		if extra == 1 && !errors.Is(err, ErrTooLong) {
			t.Fatalf("a file of %d bytes: err = %v, want ErrTooLong", MaxVOCBytes+1, err)
		}
	}
}

func TestVOCAnnotations(t *testing.T) {
	t.Parallel()
	v, err := ParseVOC(strings.NewReader(vocGood))
	if err != nil {
		t.Fatal(err)
	}
	got := v.Annotations()
	want := []atelier.Annotation{
		{Type: TypeObjectDetection, Name: "yunbao", Property: map[string]any{
			PropShape: ShapeBndBox, PropFeature: []any{[]any{10.0, 20.5}, []any{500.0, 375.0}}, PropDifficult: true}},
		{Type: TypeObjectDetection, Name: "cat", Property: map[string]any{
			PropShape: ShapeBndBox, PropFeature: []any{[]any{0.0, 0.0}, []any{1.25, 2.0}}, PropDifficult: false}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
	// The annotations survive a manifest round trip unchanged.
	mustRoundTrip(t, &atelier.Sample{Source: "obs://bkt/IMG_001.jpg", Annotations: got, Labels: []string{"yunbao", "cat"}})
}

func FuzzVOC(f *testing.F) {
	for _, tt := range vocTests {
		f.Add([]byte(tt.xml))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVOC(bytes.NewReader(data))
		if err != nil {
			return
		}
		for i, o := range v.Objects {
			b := o.BndBox
			if o.Name == "" || !(0 <= b.XMin && b.XMin < b.XMax && b.XMax <= float64(v.Size.Width)) ||
				!(0 <= b.YMin && b.YMin < b.YMax && b.YMax <= float64(v.Size.Height)) {
				t.Fatalf("object %d %+v passed the checks in %+v", i, o, v.Size)
			}
		}
		as := v.Annotations()
		if len(as) != len(v.Objects) {
			t.Fatalf("%d annotations for %d objects", len(as), len(v.Objects))
		}
		if len(as) > 0 && len(as) < 100 {
			mustRoundTrip(t, &atelier.Sample{Source: "obs://bkt/x.jpg", Annotations: as, Labels: labelNames(as)})
		}
	})
}
