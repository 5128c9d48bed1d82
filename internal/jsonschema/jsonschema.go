// Package jsonschema derives the JSON Schemas of Go types as encoding/json
// writes and reads them, in the dialect of OpenAPI 3.0 (nullable, $ref into
// a components map), and validates JSON documents against such schemas.
//
// It covers what encoding/json does with struct tags: field names,
// "-", omitempty and omitzero (a field that may be left out is not
// required), ",string", embedded structs (their fields are promoted), and
// types with their own MarshalJSON (time.Time is a date-time string;
// json.RawMessage and other marshalers are any value). A nil pointer,
// slice or map is written as null, so those are nullable. Named struct types
// become components referenced by $ref; anonymous ones are inlined.
//
// The validator knows the keywords the generator writes ($ref, allOf,
// nullable, type, properties, required, additionalProperties, items, enum)
// and ignores the others. It is meant for tests that hold real answers
// against the published schemas.
//
// The package imports only the standard library.
package jsonschema

import (
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"time"
)

// RefPrefix is where references point: the components of an OpenAPI 3.0
// document.
const RefPrefix = "#/components/schemas/"

// Generator derives schemas and collects the named ones. A Generator is not
// safe for concurrent use.
type Generator struct {
	// Defs holds the schema of each named struct type met, by its
	// component name.
	Defs map[string]any
	// Decoding makes schemas of what encoding/json accepts when it
	// decodes into the types, rather than of what it writes: no field is
	// required (a missing one stays zero), and null is allowed anywhere
	// (it leaves the field as it was). Unknown fields stay refused, as
	// the server decodes with DisallowUnknownFields.
	Decoding bool
	// Suffix is appended to component names that do not already end
	// with it, so that the request and answer schemas of one type can
	// share a components map.
	Suffix string
	names  map[reflect.Type]string
}

// NewGenerator returns a Generator with no definitions.
func NewGenerator() *Generator {
	return &Generator{Defs: map[string]any{}, names: map[reflect.Type]string{}}
}

// Decoder returns a Generator of Decoding schemas that adds its
// definitions, named with suffix, to g's.
func (g *Generator) Decoder(suffix string) *Generator {
	return &Generator{Defs: g.Defs, Decoding: true, Suffix: suffix, names: map[reflect.Type]string{}}
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	rawType       = reflect.TypeFor[json.RawMessage]()
	marshalerType = reflect.TypeFor[json.Marshaler]()
	textType      = reflect.TypeFor[encoding.TextMarshaler]()
)

// Of returns the schema of v's type (v is a value of the type, e.g.
// atelier.Dataset{} or []string{}); nil gives nil.
func (g *Generator) Of(v any) map[string]any {
	if v == nil {
		return nil
	}
	return g.Schema(reflect.TypeOf(v))
}

// Schema returns the schema of t.
func (g *Generator) Schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t.Kind() == reflect.Pointer:
		return nullable(g.Schema(t.Elem()))
	case t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType):
		return map[string]any{}
	case t.Implements(textType) || reflect.PointerTo(t).Implements(textType):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte", "nullable": true}
		}
		return map[string]any{"type": "array", "items": g.Schema(t.Elem()), "nullable": true}
	case reflect.Array:
		return map[string]any{"type": "array", "items": g.Schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.Schema(t.Elem()), "nullable": true}
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t)
		}
		return map[string]any{"$ref": RefPrefix + g.define(t)}
	}
	return map[string]any{} // interfaces: any JSON value
}

// define registers the named struct type t and returns its component name.
func (g *Generator) define(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	base := strings.TrimSuffix(t.Name(), g.Suffix)
	name := sanitize(base + g.Suffix)
	if _, taken := g.Defs[name]; taken {
		pkg := t.PkgPath()
		name = sanitize(pkg[strings.LastIndexByte(pkg, '/')+1:] + "." + base + g.Suffix)
		for i := 2; ; i++ {
			if _, taken := g.Defs[name]; !taken {
				break
			}
			name = sanitize(pkg[strings.LastIndexByte(pkg, '/')+1:]+"."+base+g.Suffix) + strings.Repeat("_", i-1)
		}
	}
	g.names[t] = name
	g.Defs[name] = map[string]any{} // a placeholder, for recursive types
	g.Defs[name] = g.object(t)
	return name
}

// sanitize keeps a component name to the characters OpenAPI allows.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// object returns the schema of the struct type t: its JSON fields, the
// ones always written required, no others allowed.
func (g *Generator) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required, map[string]bool{})
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// fields adds t's JSON fields to props, promoting those of embedded
// structs; a name already taken by a shallower field stays with it.
func (g *Generator) fields(t reflect.Type, props map[string]any, required *[]string, seen map[string]bool) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		s := g.Schema(ft)
		if hasOpt(opts, "string") {
			s = map[string]any{"type": "string"}
		}
		if g.Decoding {
			s = nullable(s)
		}
		props[name] = s
		if !g.Decoding && !hasOpt(opts, "omitempty") && !hasOpt(opts, "omitzero") {
			*required = append(*required, name)
		}
	}
	for _, et := range embedded {
		g.fields(et, props, required, seen)
	}
}

func hasOpt(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// nullable returns s allowing null too. A $ref cannot take siblings in
// OpenAPI 3.0, so a reference is wrapped in allOf.
func nullable(s map[string]any) map[string]any {
	if len(s) == 0 {
		return s // any value, null included
	}
	if _, ok := s["$ref"]; ok {
		return map[string]any{"allOf": []any{s}, "nullable": true}
	}
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		out[k] = v
	}
	out["nullable"] = true
	return out
}
