package atelier_test

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/atelier-dev/atelier"
)

// objectPathCase is one case of testdata/objectpath_cases.json, which the
// Python SDK's tests read too (sdk/python/tests/test_paths.py), so that both
// grammars stay the same. The input is In (or the bytes InHex), then
// Repeat[0] repeated Repeat[1] times, then Tail. A case with Error must fail
// with exactly that message; the others must parse, and the fields given
// must match.
type objectPathCase struct {
	Name   string  `json:"name"`
	In     string  `json:"in"`
	InHex  string  `json:"in_hex"`
	Repeat []any   `json:"repeat"`
	Tail   string  `json:"tail"`
	Error  string  `json:"error"`
	Bucket *string `json:"bucket"`
	Key    *string `json:"key"`
	Dir    *bool   `json:"dir"`
	String *string `json:"string"`
}

func (c objectPathCase) input(t testing.TB) string {
	s := c.In
	if c.InHex != "" {
		b, err := hex.DecodeString(c.InHex)
		if err != nil {
			t.Fatalf("%s: in_hex: %v", c.Name, err)
		}
		s = string(b)
	}
	if len(c.Repeat) == 2 {
		s += strings.Repeat(c.Repeat[0].(string), int(c.Repeat[1].(float64)))
	}
	return s + c.Tail
}

func mustObjectPathCases(t testing.TB) []objectPathCase {
	t.Helper()
	b, err := os.ReadFile("testdata/objectpath_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []objectPathCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatalf("objectpath_cases.json: %v", err)
	}
	return cases
}

func TestParseObjectPath(t *testing.T) {
	t.Parallel()
	for _, c := range mustObjectPathCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			in := c.input(t)
			p, err := atelier.ParseObjectPath(in)
			if c.Error != "" {
				wantPathError(t, err, c.Error)
				if _, err := atelier.ParseObjectDir(in); atelier.ErrorMessage(err) != c.Error {
					t.Errorf("ParseObjectDir(%q) = %v; want %q", in, err, c.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseObjectPath(%q) = %v", in, err)
			}
			if c.Bucket != nil && p.Bucket != *c.Bucket || c.Key != nil && p.Key != *c.Key ||
				c.Dir != nil && p.IsDir() != *c.Dir || c.String != nil && p.String() != *c.String {
				t.Errorf("ParseObjectPath(%q) = %+v (dir %v, %q); want %+v", in, p, p.IsDir(), p.String(), c)
			}
			if again, err := atelier.ParseObjectPath(p.String()); err != nil || again != p {
				t.Errorf("ParseObjectPath(%q) = %+v, %v; want %+v", p.String(), again, err, p)
			}
			d, err := atelier.ParseObjectDir(in)
			switch {
			case p.IsDir() && (err != nil || d != p):
				t.Errorf("ParseObjectDir(%q) = %+v, %v; want %+v", in, d, err, p)
			case !p.IsDir():
				wantPathError(t, err, "The object path must end in / to name a directory.")
			}
		})
	}
}

// wantPathError fails unless err is an *atelier.Error with CodeInvalidParam,
// no field (the caller names it) and the message msg.
func wantPathError(t *testing.T, err error, msg string) {
	t.Helper()
	var ae *atelier.Error
	if !errors.As(err, &ae) || ae.Code != atelier.CodeInvalidParam.ID || ae.Field != "" || ae.Message != msg {
		t.Fatalf("error = %#v; want %s with message %q and no field", err, atelier.CodeInvalidParam.ID, msg)
	}
}

func TestHasObjectScheme(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"obs://b": true, "OBS://b": true, "s3://": true, "S3://x/y": true,
		"/b/k": false, "obs:/b": false, "obs": false, "": false, "./obs://b": false, "file://x": false,
	} {
		if got := atelier.HasObjectScheme(s); got != want {
			t.Errorf("HasObjectScheme(%q) = %v; want %v", s, got, want)
		}
	}
}

// FuzzParseObjectPath checks that nothing panics, that every accepted path
// survives String and the other two spellings unchanged, and that what is
// accepted keeps the object store's rules and the staging rules.
func FuzzParseObjectPath(f *testing.F) {
	for _, c := range mustObjectPathCases(f) {
		f.Add(c.input(f))
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := atelier.ParseObjectPath(s)
		if err != nil {
			var ae *atelier.Error
			if !errors.As(err, &ae) || ae.Code != atelier.CodeInvalidParam.ID || ae.Message == "" {
				t.Fatalf("ParseObjectPath(%q) error = %#v; want %s", s, err, atelier.CodeInvalidParam.ID)
			}
			return
		}
		for _, form := range []string{p.String(), "s3://" + p.Bucket + "/" + p.Key, "/" + p.Bucket + "/" + p.Key} {
			if again, err := atelier.ParseObjectPath(form); err != nil || again != p {
				t.Fatalf("ParseObjectPath(%q) = %+v; %q gives %+v, %v", s, p, form, again, err)
			}
		}
		if err := atelier.ValidateBucketName(p.Bucket); err != nil {
			t.Fatalf("ParseObjectPath(%q) took the bucket %q: %v", s, p.Bucket, err)
		}
		if p.Key == "" {
			return
		}
		if err := atelier.ValidateObjectKey(p.Key); err != nil {
			t.Fatalf("ParseObjectPath(%q) took the key %q: %v", s, p.Key, err)
		}
		if !utf8.ValidString(p.Key) || strings.ContainsFunc(p.Key, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Fatalf("ParseObjectPath(%q) took the key %q with a control character", s, p.Key)
		}
		for seg := range strings.SplitSeq(strings.TrimSuffix(p.Key, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("ParseObjectPath(%q) took the key %q with the segment %q", s, p.Key, seg)
			}
		}
	})
}
