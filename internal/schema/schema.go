// Package schema validates REST documents against JSON Schemas and fills in
// their defaults, speaking Kazoo's crossbar validation dialect.
//
// Each REST resource (accounts, users, devices, callflows, vmboxes, menus,
// groups, temporal_rules, temporal_rules_sets, conferences, media, limits,
// api_auth, user_auth) has an embedded schema named after it, written with
// Kazoo's field names, types, limits, enums and defaults. Shared pieces
// (caller_id, call_forward, call_restriction, endpoint_media, callflow_node)
// are schemas of their own and may be referenced by file name, e.g.
// {"$ref": "caller_id.json"}. Top-level schemas never forbid unknown keys:
// clients store their own (ui_metadata, ...), and they are kept.
//
// Failures come back as validation.Errors, keyed by dotted field path then
// rule name (required, type, minLength, maxLength, minimum, maximum,
// minItems, maxItems, uniqueItems, pattern, enum, format,
// additionalProperties, ...), exactly as crossbar reports them.
//
// Callflow modules compile their own `data` schemas with Compile or
// MustCompile. Any package may import schema; it depends only on
// internal/validation and the jsonschema library.
package schema

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/strowger/strowger/internal/validation"
)

// baseURL is where the embedded schemas live for $ref resolution. The host is
// under the reserved .invalid TLD: nothing is ever fetched from it.
const baseURL = "https://strowger.invalid/schemas/"

//go:embed schemas/*.json
var embedded embed.FS

// Schema is a compiled JSON Schema. It is immutable and safe for concurrent
// use.
type Schema struct {
	name string
	js   *jsonschema.Schema
}

// registry holds the compiled embedded schemas, by name.
type registry struct {
	byName map[string]*Schema
}

// builtin compiles every embedded schema once, on first use. An embedded
// schema that does not compile is a programming error and panics; the
// package tests compile them all.
var builtin = sync.OnceValue(func() *registry {
	docs, err := loadEmbedded()
	if err != nil {
		panic(fmt.Sprintf("schema: loading embedded schemas: %v", err))
	}
	c := newCompiler(docs)
	r := &registry{byName: make(map[string]*Schema, len(docs))}
	for name := range docs {
		js, err := c.Compile(baseURL + name + ".json")
		if err != nil {
			panic(fmt.Sprintf("schema: compiling embedded schema %q: %v", name, err))
		}
		r.byName[name] = &Schema{name: name, js: js}
	}
	return r
})

// embeddedSources holds the raw bytes of each embedded schema, by name.
var embeddedSources = sync.OnceValues(func() (map[string][]byte, error) {
	out := map[string][]byte{}
	err := fs.WalkDir(embedded, "schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		out[strings.TrimSuffix(path.Base(p), ".json")] = b
		return nil
	})
	return out, err
})

// loadEmbedded decodes every embedded schema afresh, so that each compiler
// owns its documents.
func loadEmbedded() (map[string]any, error) {
	srcs, err := embeddedSources()
	if err != nil {
		return nil, err
	}
	docs := make(map[string]any, len(srcs))
	for name, b := range srcs {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s.json: %w", name, err)
		}
		docs[name] = doc
	}
	return docs, nil
}

// newCompiler returns a draft 2020-12 compiler that asserts formats and knows
// every embedded schema.
func newCompiler(docs map[string]any) *jsonschema.Compiler {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	names := make([]string, 0, len(docs))
	for name := range docs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// Names come from distinct file names, so AddResource cannot clash.
		if err := c.AddResource(baseURL+name+".json", docs[name]); err != nil {
			panic(fmt.Sprintf("schema: adding %s.json: %v", name, err))
		}
	}
	return c
}

// Names lists the embedded schemas, sorted: the REST resources and the
// shared sub-schemas.
func Names() []string {
	r := builtin()
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Has reports whether an embedded schema with that name exists.
func Has(name string) bool {
	_, ok := builtin().byName[name]
	return ok
}

// Get returns the embedded schema with that name, or nil.
func Get(name string) *Schema {
	return builtin().byName[name]
}

// Validate checks doc (decoded JSON: map[string]any, []any, string,
// float64 or json.Number, bool, nil) against the named embedded schema. It
// returns nil when doc is valid. An unknown name yields an error on field
// "schema" with rule "schema"; it never panics. doc is not modified.
func Validate(name string, doc map[string]any) validation.Errors {
	s := Get(name)
	if s == nil {
		errs := validation.Errors{}
		errs.Add("schema", "schema", fmt.Sprintf("Schema %q does not exist", name))
		return errs
	}
	return s.Validate(doc)
}

// ApplyDefaults fills the named schema's defaults into doc for absent
// properties; see (*Schema).ApplyDefaults. An unknown name or a nil doc is a
// no-op. It is meant for creates only: updates keep what the client sent.
func ApplyDefaults(name string, doc map[string]any) {
	if s := Get(name); s != nil {
		s.ApplyDefaults(doc)
	}
}

// Compile compiles a standalone schema, such as a callflow module's `data`
// schema. name identifies it in error messages and must be unique only for
// readability. The schema is read as draft 2020-12 unless it says otherwise,
// formats are asserted, and it may reference the embedded schemas by file
// name ({"$ref": "caller_id.json"}). Remote references are not fetched.
func Compile(name string, schemaJSON []byte) (*Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("schema %s: decoding: %w", name, err)
	}
	docs, err := loadEmbedded()
	if err != nil {
		return nil, fmt.Errorf("schema %s: loading embedded schemas: %w", name, err)
	}
	c := newCompiler(docs)
	// Beside the embedded schemas, so relative references reach them; the
	// suffix keeps it from shadowing one.
	loc := baseURL + url.PathEscape(name) + ".standalone.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	js, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("schema %s: compiling: %w", name, err)
	}
	return &Schema{name: name, js: js}, nil
}

// MustCompile is Compile that panics on error, for schemas fixed at build
// time (package-level variables of callflow modules).
func MustCompile(name string, schemaJSON []byte) *Schema {
	s, err := Compile(name, schemaJSON)
	if err != nil {
		panic(err)
	}
	return s
}

// Name returns the name the schema was compiled under.
func (s *Schema) Name() string { return s.name }

// Validate checks v (decoded JSON) against the schema and returns nil when it
// is valid. Field paths are relative to v's root; array items appear as their
// index ("numbers.0"). Numbers may be float64, json.Number or Go integers;
// values that are not JSON (channels, NaN, ...) are reported as type errors.
// v is not modified.
func (s *Schema) Validate(v any) validation.Errors {
	errs := validation.Errors{}
	nv := normalize(v, nil, errs)
	if err := s.js.Validate(nv); err != nil {
		addErrors(errs, err)
	}
	if errs.Empty() {
		return nil
	}
	return errs
}
