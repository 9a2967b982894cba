package schema

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestCompileStandalone(t *testing.T) {
	s, err := Compile("callflows.user", []byte(`{
		"type":"object",
		"required":["id"],
		"additionalProperties":false,
		"properties":{
			"id":{"type":"string","minLength":1},
			"timeout":{"type":"integer","minimum":1,"exclusiveMaximum":3600,"default":20},
			"strategy":{"type":"string","enum":["simultaneous","single"],"default":"simultaneous"},
			"caller_id":{"$ref":"caller_id.json"},
			"step":{"type":"number","multipleOf":0.5},
			"kind":{"const":"user"},
			"skip_module":{"type":"boolean"}
		}}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name() != "callflows.user" {
		t.Errorf("Name() = %q", s.Name())
	}
	cases := []struct {
		doc  string
		want []string
	}{
		{`{"id":"u1"}`, nil},
		{`{"id":"u1","timeout":3599,"strategy":"single","step":1.5,"kind":"user","caller_id":{"internal":{"name":"A"}}}`, nil},
		{`{}`, []string{"id:required"}},
		{`{"id":"u1","bogus":1,"other":2}`, []string{"bogus:additionalProperties", "other:additionalProperties"}},
		{`{"id":"u1","timeout":3600}`, []string{"timeout:maximum"}},
		{`{"id":"u1","timeout":0}`, []string{"timeout:minimum"}},
		{`{"id":"u1","step":0.3}`, []string{"step:divisibleBy"}},
		{`{"id":"u1","kind":"device"}`, []string{"kind:enum"}},
		{`{"id":"u1","caller_id":{"external":{"number":"` + strings.Repeat("1", 40) + `"}}}`, []string{"caller_id.external.number:maxLength"}},
	}
	for _, tc := range cases {
		for _, useNumber := range []bool{false, true} {
			doc := decode(t, tc.doc, useNumber)
			got := strings.Join(pairs(s.Validate(doc)), " ")
			if got != strings.Join(tc.want, " ") {
				t.Errorf("%s (UseNumber=%v): got %q want %v", tc.doc, useNumber, got, tc.want)
			}
		}
	}
	errs := s.Validate(map[string]any{"id": "u1", "zz": true})
	if got := message(t, errs, "zz", "additionalProperties"); !strings.Contains(got, "schema-defined") {
		t.Errorf("additionalProperties message %q", got)
	}
	doc := map[string]any{"id": "u1"}
	s.ApplyDefaults(doc)
	if doc["timeout"] != 20.0 || doc["strategy"] != "simultaneous" {
		t.Errorf("defaults not applied: %v", doc)
	}
}

func TestCompileNonObjectRoot(t *testing.T) {
	s := MustCompile("list", []byte(`{"type":"array","minItems":1,"maxItems":2,"items":{"type":"string"}}`))
	if errs := s.Validate([]any{"a"}); errs != nil {
		t.Fatalf("valid list: %v", errs)
	}
	errs := s.Validate([]any{})
	if !errs.Has("", "minItems") || !strings.Contains(message(t, errs, "", "minItems"), "1 item") {
		t.Errorf("minItems: %v", errs)
	}
	errs = s.Validate([]any{"a", "b", 3.0})
	if !errs.Has("", "maxItems") || !errs.Has("2", "type") {
		t.Errorf("maxItems/type: %v", errs)
	}
	if errs := s.Validate("x"); !errs.Has("", "type") {
		t.Errorf("root type: %v", errs)
	}
}

func TestCompileErrors(t *testing.T) {
	if _, err := Compile("bad-json", []byte(`{"type":`)); err == nil {
		t.Error("undecodable schema compiled")
	}
	if _, err := Compile("bad-type", []byte(`{"type":"strange"}`)); err == nil {
		t.Error("schema with an unknown type compiled")
	}
	if _, err := Compile("bad-pattern", []byte(`{"pattern":"("}`)); err == nil {
		t.Error("schema with a broken pattern compiled")
	}
	if _, err := Compile("bad-ref", []byte(`{"$ref":"no_such_schema.json"}`)); err == nil {
		t.Error("schema with a dangling $ref compiled")
	}
	defer func() {
		if recover() == nil {
			t.Error("MustCompile did not panic on a bad schema")
		}
	}()
	MustCompile("bad", []byte(`[`))
}

func TestAlternatives(t *testing.T) {
	s := MustCompile("alt", []byte(`{
		"type":"object",
		"properties":{
			"target":{"oneOf":[
				{"type":"string","minLength":3},
				{"type":"object","required":["number"],"properties":{"number":{"type":"string"}}}
			]},
			"both":{"oneOf":[{"type":"integer"},{"type":"number"}]},
			"neg":{"not":{"type":"string"}}
		}}`))
	errs := s.Validate(map[string]any{"target": map[string]any{}})
	if !errs.Has("target.number", "required") || len(errs) != 1 {
		t.Errorf("closest branch not reported: %v", errs)
	}
	errs = s.Validate(map[string]any{"target": "ab"})
	if !errs.Has("target", "minLength") || len(errs) != 1 {
		t.Errorf("closest branch not reported: %v", errs)
	}
	errs = s.Validate(map[string]any{"both": 1.0})
	if !errs.Has("both", "not_one_schema_valid") {
		t.Errorf("oneOf matching twice: %v", errs)
	}
	errs = s.Validate(map[string]any{"neg": "s"})
	if !errs.Has("neg", "invalid") {
		t.Errorf("not: %v", errs)
	}
}

func TestNumbers(t *testing.T) {
	cases := []struct {
		desc string
		val  any
		want string // "" for valid, else the rule on "calls"
	}{
		{"float64", 5.0, ""},
		{"json.Number", json.Number("5"), ""},
		{"json.Number 1.0 is an integer", json.Number("1.0"), ""},
		{"json.Number exponent", json.Number("2e3"), ""},
		{"int", 7, ""},
		{"int64", int64(-1), ""},
		{"uint8", uint8(3), ""},
		{"below minimum", json.Number("-2"), "minimum"},
		{"fraction", json.Number("0.5"), "type"},
		{"huge exponent", json.Number("1e999999999"), ""},
		{"huge negative", json.Number("-1e999999999"), "minimum"},
		{"tiny", json.Number("1e-999999999"), ""},
		{"not a number", json.Number("abc"), "type"},
		{"NaN", math.NaN(), "type"},
		{"Inf", math.Inf(1), "type"},
		{"Go struct", struct{}{}, "type"},
		{"typed slice", []string{"a"}, "type"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			errs := Validate("limits", map[string]any{"calls": tc.val})
			if tc.want == "" {
				if errs != nil {
					t.Fatalf("%v: %v", tc.val, errs)
				}
				return
			}
			if !errs.Has("calls", tc.want) {
				t.Fatalf("%v: want calls:%s, got %v", tc.val, tc.want, errs)
			}
		})
	}
	// The limit reported for a huge number is the schema's, not the input.
	s := MustCompile("max", []byte(`{"type":"object","properties":{"n":{"type":"number","maximum":100}}}`))
	if errs := s.Validate(map[string]any{"n": json.Number("1e400")}); !errs.Has("n", "maximum") {
		t.Fatalf("1e400 passed maximum 100: %v", errs)
	}
}

func TestConcurrentUse(t *testing.T) {
	done := make(chan struct{})
	for i := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for j := range 50 {
				doc := map[string]any{"name": "D", "sip": map[string]any{"username": "u"}}
				if j%2 == i%2 {
					ApplyDefaults("devices", doc)
				}
				if errs := Validate("devices", doc); !errs.Has("sip.username", "minLength") {
					t.Errorf("unexpected %v", errs)
					return
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
}
