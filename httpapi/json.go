package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/atelier-dev/atelier"
)

// decodeJSON reads r's body, at most MaxBodyBytes, into v. Unknown fields,
// trailing data and malformed JSON are ATL.GEN.0002 naming the problem; an
// over-long body is ATL.GEN.0003. An empty body is accepted only when
// allowEmpty is set, and then leaves v unchanged. A body without
// Content-Type is read as JSON; one whose Content-Type names another media
// type is refused (ATL.GEN.0002 naming the header).
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBodyBytes))
	if err == nil {
		if key, dup := duplicateKey(data); dup {
			return atelier.CodeInvalidJSON.Errorf("The request body names the key %q twice.", key).WithField(key)
		}
	}
	dec := json.NewDecoder(io.MultiReader(bytes.NewReader(data), errReader{err}))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		// Exactly one value: anything but whitespace after it is an error.
		if _, err2 := dec.Token(); err2 != io.EOF {
			if err2 != nil {
				err = err2
			} else {
				return atelier.CodeInvalidJSON.Errorf("The request body holds more than one JSON value.")
			}
		}
	}
	if err == nil {
		return nil
	}
	var (
		readErr   *atelier.Error // the body's own (deadlineBody)
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &readErr):
		return err
	case errors.As(err, &maxErr):
		return atelier.CodeBodyTooLarge.Errorf("The request body is larger than %d bytes.", maxErr.Limit)
	case errors.Is(err, io.EOF):
		if allowEmpty {
			return nil
		}
		return atelier.CodeInvalidJSON.Errorf("The request body is empty; a JSON object is expected.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return atelier.CodeInvalidJSON.Errorf("The request body ends in the middle of a JSON value.")
	case errors.As(err, &syntaxErr):
		return atelier.CodeInvalidJSON.Errorf("The request body is not valid JSON (at byte %d).", syntaxErr.Offset)
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return atelier.CodeInvalidJSON.Errorf("Field %q must be a JSON %s, not %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value).WithField(typeErr.Field)
		}
		return atelier.CodeInvalidJSON.Errorf("The request body must be a JSON object, not %s.", typeErr.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this one.
		name := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return atelier.CodeInvalidJSON.Errorf("The request body has the unknown field %s.", name).WithField(strings.Trim(name, `"`))
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		return err
	}
	return atelier.CodeInvalidJSON.Wrap(err, "The request body could not be read as JSON.")
}

// checkJSONContentType accepts an absent Content-Type, application/json and
// any application/*+json type, parameters (charset) aside. The seed marks the
// header required; Atelier takes a JSON body without it, since the body is
// checked as JSON anyway, and refuses a form or text type, which would
// otherwise fail later as "not valid JSON" without saying why.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return atelier.CodeInvalidJSON.Errorf("The request body must be JSON: send Content-Type: application/json (or no Content-Type), not %q.", ct).WithField("Content-Type")
}

// errReader returns err, or io.EOF when err is nil: the end of a body
// read in full, or how reading it failed.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, e.err
}

// maxJSONDepth is how deep duplicateKey looks: encoding/json's own limit.
const maxJSONDepth = 10000

var errTooDeep = errors.New("json: nested too deeply")

// duplicateKey returns the path (a.b[2].c) of the first key that appears
// twice in one object of data. encoding/json lets the last one win, so a
// body could say one thing to a proxy or a log and another to the server.
// Malformed data is no duplicate: the decoder reports it.
func duplicateKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(path string, depth int) (string, bool, error)
	walk = func(path string, depth int) (string, bool, error) {
		if depth > maxJSONDepth {
			return "", false, errTooDeep // the decoder refuses it too
		}
		tok, err := dec.Token()
		if err != nil {
			return "", false, err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", false, err
				}
				k, _ := kt.(string)
				kp := k
				if path != "" {
					kp = path + "." + k
				}
				if seen[k] {
					return kp, true, nil
				}
				seen[k] = true
				if p, dup, err := walk(kp, depth+1); dup || err != nil {
					return p, dup, err
				}
			}
			_, err = dec.Token() // '}'
			return "", false, err
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if p, dup, err := walk(fmt.Sprintf("%s[%d]", path, i), depth+1); dup || err != nil {
					return p, dup, err
				}
			}
			_, err = dec.Token() // ']'
			return "", false, err
		}
		return "", false, nil
	}
	for {
		p, dup, err := walk("", 0)
		if dup {
			return p, true
		}
		if err != nil {
			return "", false
		}
	}
}

// jsonKind names a Go kind the way a JSON user would.
func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	}
	return fmt.Sprintf("number (%s)", k)
}
