package format

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/atelier-dev/atelier"
)

// Bounds on a PASCAL VOC file.
const (
	MaxVOCBytes   = 10 << 20 // 10 MiB
	MaxVOCDepth   = 32       // element nesting
	MaxVOCObjects = 10000
)

// Annotation types and VOC property keys.
const (
	TypeImageClassification = "modelarts/image_classification"
	TypeAudioClassification = "modelarts/audio_classification"
	TypeTextClassification  = "modelarts/text_classification"
	TypeObjectDetection     = "modelarts/object_detection"
	FormatPascalVOC         = "PASCAL VOC"

	PropShape     = "@modelarts:shape"
	PropFeature   = "@modelarts:feature"
	PropDifficult = "@modelarts:difficult"
	ShapeBndBox   = "bndbox"
)

// VOC is a PASCAL VOC annotation file ("ModelArts PASCAL VOC 1.0"): the
// image it annotates and its labelled boxes. A VOC is plain data, safe for
// concurrent reads.
type VOC struct {
	Folder   string
	Filename string
	Size     VOCSize
	Objects  []VOCObject
}

// VOCSize is the size of the annotated image, in pixels.
type VOCSize struct {
	Width, Height, Depth int
}

// VOCObject is one labelled object of a VOC file.
type VOCObject struct {
	Name                           string
	Pose                           string
	Truncated, Occluded, Difficult bool
	BndBox                         VOCBox
}

// VOCBox is an object's bounding box, in pixels; coordinates may be
// fractional.
type VOCBox struct {
	XMin, YMin, XMax, YMax float64
}

// VOCError is a problem with a VOC file. Field names the element, as
// "size.width" or "object[2].bndbox.xmin" (objects counted from 0).
type VOCError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *VOCError) Error() string {
	if e.Field == "" {
		return "voc: " + e.Msg
	}
	return "voc: " + e.Field + ": " + e.Msg
}

func vocErr(field, format string, args ...any) *VOCError {
	return &VOCError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// vocObject is an object while being parsed: which fields were seen.
type vocObject struct {
	VOCObject
	hasBox   bool
	seen     map[string]bool
	rawBox   [4]string
	rawFlags [3]string
}

// ParseVOC reads and checks a PASCAL VOC XML file: its root element is
// <annotation>, <size> holds a positive <width> and <height> (and
// optionally a <depth>), and each <object> has a <name> and one <bndbox>
// whose xmin < xmax and ymin < ymax lie within 0..width and 0..height.
// <truncated>, <occluded> and <difficult> are 0 or 1 (or false/true), absent
// meaning 0. Unknown elements (<source>, <segmented>, other shapes) are
// ignored. The file may be at most MaxVOCBytes long and nest MaxVOCDepth
// elements deep. Errors are *VOCError naming the element, or wrap
// ErrTooLong.
func ParseVOC(r io.Reader) (*VOC, error) {
	cr := &countingReader{r: r, max: MaxVOCBytes}
	d := xml.NewDecoder(cr)
	var (
		stack  []string
		text   strings.Builder
		v      VOC
		objs   []*vocObject
		cur    *vocObject
		root   bool
		size   = map[string]string{}
		inSize bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if cr.over {
				return nil, fmt.Errorf("voc: the file is longer than %d bytes: %w", MaxVOCBytes, ErrTooLong)
			}
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, vocErr("", "malformed XML at line %d: %s", se.Line, se.Msg)
			}
			return nil, fmt.Errorf("voc: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			if len(stack) == 0 {
				if root {
					return nil, vocErr("", "more than one root element")
				}
				if name != "annotation" {
					return nil, vocErr("", "the root element is <%s>, want <annotation>", name)
				}
				root = true
			}
			stack = append(stack, name)
			if len(stack) > MaxVOCDepth {
				return nil, vocErr("", "elements nest deeper than %d", MaxVOCDepth)
			}
			text.Reset()
			switch path := strings.Join(stack, "/"); path {
			case "annotation/object":
				if len(objs) >= MaxVOCObjects {
					return nil, vocErr("object", "more than %d objects", MaxVOCObjects)
				}
				cur = &vocObject{seen: map[string]bool{}}
				objs = append(objs, cur)
			case "annotation/object/bndbox":
				if cur.hasBox {
					return nil, vocErr(fmt.Sprintf("object[%d].bndbox", len(objs)-1), "more than one bndbox")
				}
				cur.hasBox = true
			case "annotation/size":
				inSize = true
			}
		case xml.CharData:
			if text.Len() < 4096 {
				text.Write(t)
			}
		case xml.EndElement:
			path := strings.Join(stack, "/")
			val := strings.TrimSpace(text.String())
			text.Reset()
			stack = stack[:len(stack)-1]
			switch path {
			case "annotation/folder":
				v.Folder = val
			case "annotation/filename":
				v.Filename = val
			case "annotation/size/width", "annotation/size/height", "annotation/size/depth":
				size[path[len("annotation/size/"):]] = val
			case "annotation/object/name":
				cur.Name = val
				cur.seen["name"] = true
			case "annotation/object/pose":
				cur.Pose = val
			case "annotation/object/truncated":
				cur.rawFlags[0] = val
			case "annotation/object/occluded":
				cur.rawFlags[1] = val
			case "annotation/object/difficult":
				cur.rawFlags[2] = val
			case "annotation/object/bndbox/xmin":
				cur.rawBox[0] = val
				cur.seen["xmin"] = true
			case "annotation/object/bndbox/ymin":
				cur.rawBox[1] = val
				cur.seen["ymin"] = true
			case "annotation/object/bndbox/xmax":
				cur.rawBox[2] = val
				cur.seen["xmax"] = true
			case "annotation/object/bndbox/ymax":
				cur.rawBox[3] = val
				cur.seen["ymax"] = true
			}
		}
	}
	if !root {
		return nil, vocErr("", "the file holds no <annotation> element")
	}
	if !inSize {
		return nil, vocErr("size", "missing")
	}
	var err error
	if v.Size.Width, err = vocDim(size, "width", true); err != nil {
		return nil, err
	}
	if v.Size.Height, err = vocDim(size, "height", true); err != nil {
		return nil, err
	}
	if v.Size.Depth, err = vocDim(size, "depth", false); err != nil {
		return nil, err
	}
	for i, o := range objs {
		if err := o.finish(i, v.Size); err != nil {
			return nil, err
		}
		v.Objects = append(v.Objects, o.VOCObject)
	}
	return &v, nil
}

func vocDim(size map[string]string, name string, required bool) (int, error) {
	field := "size." + name
	s, ok := size[name]
	if !ok || s == "" {
		if required {
			return 0, vocErr(field, "missing")
		}
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 1<<20 || (required && n == 0) {
		return 0, vocErr(field, "%q is not a positive whole number of pixels", s)
	}
	return n, nil
}

var boxFields = [4]string{"xmin", "ymin", "xmax", "ymax"}
var flagFields = [3]string{"truncated", "occluded", "difficult"}

func (o *vocObject) finish(i int, size VOCSize) error {
	pre := fmt.Sprintf("object[%d].", i)
	if o.Name == "" {
		return vocErr(pre+"name", "missing")
	}
	for j, raw := range o.rawFlags {
		var b bool
		switch strings.ToLower(raw) {
		case "", "0", "false":
		case "1", "true":
			b = true
		default:
			return vocErr(pre+flagFields[j], "%q is not 0 or 1", raw)
		}
		switch j {
		case 0:
			o.Truncated = b
		case 1:
			o.Occluded = b
		case 2:
			o.Difficult = b
		}
	}
	if !o.hasBox {
		return vocErr(pre+"bndbox", "missing")
	}
	var c [4]float64
	for j, raw := range o.rawBox {
		f := pre + "bndbox." + boxFields[j]
		if !o.seen[boxFields[j]] || raw == "" {
			return vocErr(f, "missing")
		}
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return vocErr(f, "%q is not a number", raw)
		}
		c[j] = x
	}
	o.BndBox = VOCBox{XMin: c[0], YMin: c[1], XMax: c[2], YMax: c[3]}
	w, h := float64(size.Width), float64(size.Height)
	for j, x := range c {
		limit, dim := w, "width"
		if j%2 == 1 {
			limit, dim = h, "height"
		}
		if x < 0 || x > limit {
			return vocErr(pre+"bndbox."+boxFields[j], "%g is outside the image (0..%g, the %s)", x, limit, dim)
		}
	}
	if c[0] >= c[2] {
		return vocErr(pre+"bndbox.xmin", "%g is not less than xmax %g", c[0], c[2])
	}
	if c[1] >= c[3] {
		return vocErr(pre+"bndbox.ymin", "%g is not less than ymax %g", c[1], c[3])
	}
	return nil
}

// Annotations returns one TypeObjectDetection annotation per object, named
// after the object, with the properties
//
//	{"@modelarts:shape": "bndbox",
//	 "@modelarts:feature": [[xmin, ymin], [xmax, ymax]],
//	 "@modelarts:difficult": false}
//
// The feature is a []any of two []any of two float64, the shape that
// decoding the same property from JSON gives, so annotations compare equal
// after a manifest round trip. AnnotatedBy and CreationTime are left to the
// caller.
func (v *VOC) Annotations() []atelier.Annotation {
	out := make([]atelier.Annotation, 0, len(v.Objects))
	for _, o := range v.Objects {
		b := o.BndBox
		out = append(out, atelier.Annotation{
			Type: TypeObjectDetection,
			Name: o.Name,
			Property: map[string]any{
				PropShape:     ShapeBndBox,
				PropFeature:   []any{[]any{b.XMin, b.YMin}, []any{b.XMax, b.YMax}},
				PropDifficult: o.Difficult,
			},
		})
	}
	return out
}

// countingReader reads at most max bytes from r; reading past them fails.
type countingReader struct {
	r    io.Reader
	n    int64
	max  int64
	over bool
}

var errVOCTooLong = errors.New("voc file too long")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n >= c.max {
		// One byte more tells a file of exactly max bytes from a longer one.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			c.over = true
			return 0, errVOCTooLong
		}
		return 0, err
	}
	if rem := c.max - c.n; int64(len(p)) > rem {
		p = p[:rem]
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
