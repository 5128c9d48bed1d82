package jsonschema

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Name string `json:"name"`
}

type node struct {
	Value    int     `json:"value"`
	Children []*node `json:"children,omitempty"`
}

type base struct {
	ID string `json:"id"`
}

type sample struct {
	base
	Title   string            `json:"title"`
	Count   int64             `json:"count,omitempty"`
	Ratio   float64           `json:"ratio"`
	OK      bool              `json:"ok"`
	When    time.Time         `json:"when"`
	Maybe   *inner            `json:"maybe"`
	Tags    []string          `json:"tags"`
	Attrs   map[string]string `json:"attrs,omitempty"`
	Any     any               `json:"any"`
	Raw     json.RawMessage   `json:"raw,omitempty"`
	Big     int64             `json:"big,string"`
	Skipped string            `json:"-"`
	Inline  struct {
		A int `json:"a"`
	} `json:"inline"`
	Tree   node `json:"tree"`
	hidden int
}

// schemaDoc renders the schema of v with its definitions as an OpenAPI-like
// root, decoded again as a validator sees it.
func schemaDoc(t *testing.T, v any) (root, schema any) {
	t.Helper()
	g := NewGenerator()
	s := g.Of(v)
	b, err := json.Marshal(map[string]any{"schema": s, "components": map[string]any{"schemas": g.Defs}})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, doc["schema"]
}

func TestGeneratedSchemaFitsMarshalledValues(t *testing.T) {
	root, schema := schemaDoc(t, sample{})
	for _, v := range []sample{
		{},
		{base: base{ID: "x"}, Title: "t", Count: 3, When: time.Now(), Maybe: &inner{Name: "n"}, Tags: []string{"a"},
			Attrs: map[string]string{"k": "v"}, Any: []int{1}, Raw: json.RawMessage(`{"z":1}`), Big: 1 << 60,
			Tree: node{Value: 1, Children: []*node{{Value: 2}, nil}}},
	} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(root, schema, b); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}

func TestValidateRefuses(t *testing.T) {
	root, schema := schemaDoc(t, sample{})
	good := `"id":"x","title":"t","ratio":1,"ok":true,"when":"2026-01-01T00:00:00Z","maybe":null,"tags":null,"any":null,"big":"1","inline":{"a":1},"tree":{"value":1}`
	if err := Validate(root, schema, []byte("{"+good+"}")); err != nil {
		t.Fatalf("good document: %v", err)
	}
	for _, tt := range []struct{ doc, want string }{
		{`[]`, "want an object"},
		{strings.Replace(`{`+good+`}`, `"id":"x",`, ``, 1), `required field "id"`},
		{`{` + good + `,"extra":1}`, `"extra" is not in the schema`},
		{strings.Replace(`{`+good+`}`, `"ok":true`, `"ok":"yes"`, 1), "$.ok: want a boolean"},
		{strings.Replace(`{`+good+`}`, `"title":"t"`, `"title":null`, 1), "$.title: null"},
		{strings.Replace(`{`+good+`}`, `"maybe":null`, `"maybe":{"name":1}`, 1), "$.maybe.name: want a string"},
		{strings.Replace(`{`+good+`}`, `"tags":null`, `"tags":["a",2]`, 1), "$.tags[1]"},
		{strings.Replace(`{`+good+`}`, `"tree":{"value":1}`, `"tree":{"value":1,"children":[{"value":1.5}]}`, 1), "$.tree.children[0].value: want an integer"},
		{strings.Replace(`{`+good+`}`, `"inline":{"a":1}`, `"inline":{}`, 1), `$.inline: the required field "a"`},
	} {
		err := Validate(root, schema, []byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%s) = %v, want an error with %q", tt.doc, err, tt.want)
		}
	}
}

type other struct{ X int }

func TestNameCollisions(t *testing.T) {
	g := NewGenerator()
	type inner struct{ Y int } // same name as the package-level inner, another type
	a, b := g.Of(struct {
		A inner
		B other
	}{}), g.Of(struct{ C inner }{})
	if a == nil || b == nil || len(g.Defs) != 2 {
		t.Fatalf("defs = %v", g.Defs)
	}
}

func TestDecodingSchemaRequiresNothing(t *testing.T) {
	g := NewGenerator()
	in := g.Decoder("Input")
	b, err := json.Marshal(map[string]any{"out": g.Of(inner{}), "in": in.Of(inner{}), "components": map[string]any{"schemas": g.Defs}})
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Defs["inner"]; !ok {
		t.Fatalf("defs = %v", g.Defs)
	}
	if _, ok := g.Defs["innerInput"]; !ok {
		t.Fatalf("defs = %v", g.Defs)
	}
	for _, doc := range []string{`{}`, `{"name":null}`, `{"name":"x"}`} {
		if err := Validate(root, root["in"], []byte(doc)); err != nil {
			t.Errorf("decoding schema refuses %s: %v", doc, err)
		}
	}
	if err := Validate(root, root["in"], []byte(`{"other":1}`)); err == nil {
		t.Error("decoding schema takes an unknown field")
	}
	if err := Validate(root, root["out"], []byte(`{}`)); err == nil {
		t.Error("answer schema takes a missing required field")
	}
}
