package callflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/strowger/strowger/internal/validation"
)

// SkipModuleKey is the `data` key every module accepts: when true, the engine
// skips the node and follows its "_" child.
const SkipModuleKey = "skip_module"

// DecodeData strictly decodes a node's `data` object into v, a non-nil pointer
// to a struct that the caller has pre-filled with its defaults (absent keys
// keep them). It is the shared first step of every module's Decode.
//
// encoding/json alone reports only the first problem and without the path of
// array elements, so DecodeData first walks the JSON against v's type and
// reports every unknown key (additionalProperties), wrong type (type) and
// missing field tagged `callflow:"required"` (required), each on its full
// path relative to data; only a clean document is then unmarshalled (with
// DisallowUnknownFields as a second guard). `skip_module` is accepted at the
// top level and must be a boolean. Empty input decodes as {}.
//
// Type rules follow the Go field types: bool → boolean, string → string,
// integers → integer (no fraction, within range), floats → number, slices →
// array, maps with string keys and structs → object, pointers → the
// pointee or null, interfaces and json.RawMessage → anything. A JSON null is a
// type error except for pointer, interface and RawMessage fields. Nested
// structs may implement json.Unmarshaler to apply their own defaults, as long
// as they decode the same shape as their fields.
func DecodeData(data json.RawMessage, v any) validation.Errors {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("callflow: DecodeData needs a non-nil pointer to a struct, got %T", v))
	}
	errs := validation.Errors{}
	if len(bytes.TrimSpace(data)) == 0 {
		data = json.RawMessage("{}")
	}
	raw, err := parseJSON(data)
	if err != nil {
		errs.Add("", "type", "Value is not valid JSON: "+err.Error(), "target", "object")
		return errs
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		AddType(errs, "", "object")
		return errs
	}
	if s, present := obj[SkipModuleKey]; present {
		if _, isBool := s.(bool); !isBool {
			AddType(errs, SkipModuleKey, "boolean")
		}
		// Copy rather than delete so the caller's data is never altered.
		rest := make(map[string]any, len(obj)-1)
		for k, val := range obj {
			if k != SkipModuleKey {
				rest[k] = val
			}
		}
		obj = rest
	}
	checkValue(errs, "", obj, rv.Elem().Type())
	if !errs.Empty() {
		return errs
	}
	clean, err := json.Marshal(obj)
	if err != nil {
		errs.Add("", "type", "Value cannot be encoded: "+err.Error(), "target", "object")
		return errs
	}
	dec := json.NewDecoder(bytes.NewReader(clean))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		// The walk above accepts only what unmarshals, so this is a guard
		// against a config type the walk does not understand.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			AddType(errs, te.Field, jsonTypeName(te.Type))
		} else {
			errs.Add("", "invalid", err.Error())
		}
	}
	return errs
}

// parseJSON decodes one JSON value, keeping numbers exact.
func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

var (
	rawMessageType = reflect.TypeFor[json.RawMessage]()
	numberType     = reflect.TypeFor[json.Number]()
)

// checkValue reports, on path, every way val (decoded with UseNumber) fails
// to fit type t.
func checkValue(errs validation.Errors, path string, val any, t reflect.Type) {
	if t == rawMessageType || t.Kind() == reflect.Interface {
		return
	}
	if t.Kind() == reflect.Pointer {
		if val == nil {
			return
		}
		checkValue(errs, path, val, t.Elem())
		return
	}
	if val == nil {
		AddType(errs, path, jsonTypeName(t))
		return
	}
	switch t.Kind() {
	case reflect.Bool:
		if _, ok := val.(bool); !ok {
			AddType(errs, path, "boolean")
		}
	case reflect.String:
		if t == numberType {
			if _, ok := val.(json.Number); !ok {
				AddType(errs, path, "number")
			}
			return
		}
		if _, ok := val.(string); !ok {
			AddType(errs, path, "string")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := val.(json.Number)
		if !ok {
			AddType(errs, path, "integer")
			return
		}
		i, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || reflect.Zero(t).OverflowInt(i) {
			AddType(errs, path, "integer")
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := val.(json.Number)
		if !ok {
			AddType(errs, path, "integer")
			return
		}
		if strings.HasPrefix(string(n), "-") {
			CheckMin(errs, path, -1, 0)
			return
		}
		u, err := strconv.ParseUint(string(n), 10, 64)
		if err != nil || reflect.Zero(t).OverflowUint(u) {
			AddType(errs, path, "integer")
		}
	case reflect.Float32, reflect.Float64:
		n, ok := val.(json.Number)
		if !ok {
			AddType(errs, path, "number")
			return
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || reflect.Zero(t).OverflowFloat(f) {
			AddType(errs, path, "number")
		}
	case reflect.Slice, reflect.Array:
		list, ok := val.([]any)
		if !ok {
			AddType(errs, path, "array")
			return
		}
		if t.Kind() == reflect.Array && len(list) > t.Len() {
			errs.Add(path, "maxItems", fmt.Sprintf("The list is more than %d items", t.Len()),
				"target", t.Len())
			return
		}
		for i, item := range list {
			checkValue(errs, validation.Join(path, strconv.Itoa(i)), item, t.Elem())
		}
	case reflect.Map:
		obj, ok := val.(map[string]any)
		if !ok || t.Key().Kind() != reflect.String {
			AddType(errs, path, "object")
			return
		}
		for _, k := range sortedKeys(obj) {
			checkValue(errs, validation.Join(path, k), obj[k], t.Elem())
		}
	case reflect.Struct:
		obj, ok := val.(map[string]any)
		if !ok {
			AddType(errs, path, "object")
			return
		}
		fields := fieldsOf(t)
		for _, k := range sortedKeys(obj) {
			ft, known := fields.byName[k]
			if !known {
				AddUnknown(errs, validation.Join(path, k))
				continue
			}
			checkValue(errs, validation.Join(path, k), obj[k], ft)
		}
		for _, name := range fields.required {
			if _, present := obj[name]; !present {
				AddRequired(errs, validation.Join(path, name))
			}
		}
	default:
		// Channels, funcs and complex numbers have no JSON form; a config
		// type holding one is a programming error that Unmarshal reports.
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonTypeName is the JSON Schema type a Go type decodes from.
func jsonTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "boolean"
	case reflect.String:
		if t == numberType {
			return "number"
		}
		return "string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}

// structFields is the JSON view of a struct type: its keys and which of them
// are tagged `callflow:"required"`.
type structFields struct {
	byName   map[string]reflect.Type
	required []string
}

// fieldCache memoises fieldsOf: config types are few and fixed, and
// reflecting over them on every save would be wasted work.
var fieldCache sync.Map // reflect.Type → *structFields

func fieldsOf(t reflect.Type) *structFields {
	if c, ok := fieldCache.Load(t); ok {
		return c.(*structFields)
	}
	sf := &structFields{byName: map[string]reflect.Type{}}
	collectFields(sf, t, 0)
	sort.Strings(sf.required)
	c, _ := fieldCache.LoadOrStore(t, sf)
	return c.(*structFields)
}

// collectFields follows encoding/json's naming: the json tag name, else the
// Go field name; "-" skipped; untagged embedded structs flattened (which is
// how group reuses ring_group's options).
func collectFields(sf *structFields, t reflect.Type, depth int) {
	if depth > 8 {
		panic(fmt.Sprintf("callflow: struct embedding too deep in %s", t))
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				collectFields(sf, et, depth+1)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		sf.byName[name] = f.Type
		if f.Tag.Get("callflow") == "required" {
			sf.required = append(sf.required, name)
		}
	}
}
