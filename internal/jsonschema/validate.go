package jsonschema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Validate checks the JSON document doc against schema. root is the
// document $refs point into (an OpenAPI document, decoded into
// map[string]any); references are JSON pointers starting with "#/". The
// error names the first place that does not fit, as a JSON path ($.a[0].b).
func Validate(root, schema any, doc []byte) error {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("$: not JSON: %w", err)
	}
	return validate(root, schema, v, "$", 0)
}

// ValidateValue is Validate for a document already decoded (with
// json.Number or float64 numbers).
func ValidateValue(root, schema, v any) error { return validate(root, schema, v, "$", 0) }

func validate(root, schema, v any, at string, depth int) error {
	if depth > 64 {
		return fmt.Errorf("%s: schema nested too deep (a $ref loop?)", at)
	}
	s, ok := schema.(map[string]any)
	if !ok {
		if b, isBool := schema.(bool); isBool && !b {
			return fmt.Errorf("%s: no value is allowed here", at)
		}
		return nil
	}
	if ref, ok := s["$ref"].(string); ok {
		target, err := resolve(root, ref)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		return validate(root, target, v, at, depth+1)
	}
	if v == nil {
		if s["nullable"] == true {
			return nil
		}
		if _, typed := s["type"]; typed {
			return fmt.Errorf("%s: null is not allowed", at)
		}
		// An untyped schema allows null unless an allOf member refuses it.
	}
	if all, ok := s["allOf"].([]any); ok {
		for _, sub := range all {
			if err := validate(root, sub, v, at, depth+1); err != nil {
				return err
			}
		}
	}
	if enum, ok := s["enum"].([]any); ok && v != nil && !slices.ContainsFunc(enum, func(e any) bool { return fmt.Sprint(e) == fmt.Sprint(v) }) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	typ, _ := s["type"].(string)
	switch typ {
	case "":
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, have %s", at, kind(v))
		}
		return validateObject(root, s, obj, at, depth)
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, have %s", at, kind(v))
		}
		for i, e := range arr {
			if err := validate(root, s["items"], e, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil {
				return err
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string, have %s", at, kind(v))
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, have %s", at, kind(v))
		}
	case "number", "integer":
		f, ok := number(v)
		if !ok {
			return fmt.Errorf("%s: want a %s, have %s", at, typ, kind(v))
		}
		if typ == "integer" && f != math.Trunc(f) {
			return fmt.Errorf("%s: want an integer, have %v", at, v)
		}
	default:
		return fmt.Errorf("%s: unknown schema type %q", at, typ)
	}
	return nil
}

func validateObject(root any, s, obj map[string]any, at string, depth int) error {
	props, _ := s["properties"].(map[string]any)
	if req, ok := s["required"].([]any); ok {
		for _, r := range req {
			if _, ok := obj[fmt.Sprint(r)]; !ok {
				return fmt.Errorf("%s: the required field %q is missing", at, r)
			}
		}
	} else if req, ok := s["required"].([]string); ok {
		for _, r := range req {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: the required field %q is missing", at, r)
			}
		}
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		sub := at + "." + k
		if ps, ok := props[k]; ok {
			if err := validate(root, ps, obj[k], sub, depth+1); err != nil {
				return err
			}
			continue
		}
		switch ap := s["additionalProperties"].(type) {
		case bool:
			if !ap {
				return fmt.Errorf("%s: the field %q is not in the schema", at, k)
			}
		case map[string]any:
			if err := validate(root, ap, obj[k], sub, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolve follows a "#/a/b" JSON pointer in root.
func resolve(root any, ref string) (any, error) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("reference %q is not local", ref)
	}
	cur := root
	for seg := range strings.SplitSeq(p, "/") {
		seg = strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("reference %q does not resolve", ref)
		}
		if cur, ok = m[seg]; !ok {
			return nil, fmt.Errorf("reference %q does not resolve", ref)
		}
	}
	return cur, nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}
