package schema

import (
	"encoding/json"
	"strconv"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// maxCreatedDepth bounds how deep defaults may create objects inside
// objects they created, so a schema whose default re-creates itself
// ({"properties":{"a":{"$ref":"#","default":{}}}}) cannot loop.
const maxCreatedDepth = 16

// maxRefHops bounds how many $ref (and allOf) links are followed without
// descending into the document, so a schema that refers to itself cannot
// loop.
const maxRefHops = 32

// ApplyDefaults fills schema `default`s into v for absent properties. It
// walks the properties of v that are present and are objects (or arrays of
// objects, or map values under additionalProperties) and fills their absent
// properties too. A nested object is created only when the schema gives it a
// default (such as {}); once created, its own properties' defaults are filled
// in as well. Values the client gave are never overwritten, and values of the
// wrong type are left for Validate to report.
//
// Defaults are deep copies, so documents never share them. Numbers are
// inserted as float64, as encoding/json decodes them by default. ApplyDefaults
// does not look into anyOf/oneOf/if branches, whose defaults are ambiguous.
func (s *Schema) ApplyDefaults(v map[string]any) {
	if v == nil {
		return
	}
	fillObject(s.js, v, 0, 0)
}

// fillObject applies the defaults of sch (an object schema) to obj. created
// counts the enclosing objects that were themselves created from defaults.
func fillObject(sch *jsonschema.Schema, obj map[string]any, hops, created int) {
	if sch == nil || hops > maxRefHops {
		return
	}
	fillObject(sch.Ref, obj, hops+1, created)
	for _, sub := range sch.AllOf {
		fillObject(sub, obj, hops+1, created)
	}
	for name, prop := range sch.Properties {
		cur, present := obj[name]
		inner := created
		if !present {
			if created >= maxCreatedDepth {
				continue
			}
			d, ok := defaultOf(prop)
			if !ok {
				continue
			}
			cur = d
			obj[name] = d
			inner++
		}
		fillValue(prop, cur, inner)
	}
	if add, ok := sch.AdditionalProperties.(*jsonschema.Schema); ok {
		for name, cur := range obj {
			if _, known := sch.Properties[name]; known {
				continue
			}
			fillValue(add, cur, created)
		}
	}
}

// fillValue descends into a present value: objects get their defaults,
// arrays have each object item filled.
func fillValue(sch *jsonschema.Schema, v any, created int) {
	if sch == nil {
		return
	}
	switch x := v.(type) {
	case map[string]any:
		fillObject(sch, x, 0, created)
	case []any:
		items := itemsOf(sch)
		if items == nil {
			return
		}
		for _, e := range x {
			fillValue(items, e, created)
		}
	}
}

// itemsOf finds the schema applying to every array item, through $ref.
func itemsOf(sch *jsonschema.Schema) *jsonschema.Schema {
	for hops := 0; sch != nil && hops <= maxRefHops; hops++ {
		if sch.Items2020 != nil {
			return sch.Items2020
		}
		if it, ok := sch.Items.(*jsonschema.Schema); ok {
			return it
		}
		sch = sch.Ref
	}
	return nil
}

// defaultOf returns a copy of the default of sch, looking through $ref when
// sch has none of its own.
func defaultOf(sch *jsonschema.Schema) (any, bool) {
	for hops := 0; sch != nil && hops <= maxRefHops; hops++ {
		if sch.Default != nil {
			return copyJSON(*sch.Default), true
		}
		sch = sch.Ref
	}
	return nil, false
}

// copyJSON deep-copies a decoded JSON value, turning json.Number into
// float64.
func copyJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = copyJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = copyJSON(e)
		}
		return out
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return x
		}
		return f
	default:
		return x
	}
}
