package schema

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/validation"
)

// decode parses a JSON object, with float64 numbers or, when useNumber is
// set, json.Number.
func decode(t testing.TB, src string, useNumber bool) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(src))
	if useNumber {
		dec.UseNumber()
	}
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("test document %s: %v", src, err)
	}
	return doc
}

// pairs renders Errors as sorted "field:rule" strings.
func pairs(errs validation.Errors) []string {
	var out []string
	for f, rules := range errs {
		for r := range rules {
			out = append(out, f+":"+r)
		}
	}
	sort.Strings(out)
	return out
}

// expectExactly validates src against the named schema, once with float64
// numbers and once with json.Number, and requires exactly the given
// "field:rule" failures (none for a valid document).
func expectExactly(t *testing.T, name, src string, want ...string) validation.Errors {
	t.Helper()
	sort.Strings(want)
	var last validation.Errors
	for _, useNumber := range []bool{false, true} {
		doc := decode(t, src, useNumber)
		before := mustJSON(t, doc)
		errs := Validate(name, doc)
		if got := pairs(errs); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s (UseNumber=%v) %s:\n got  %v\n want %v", name, useNumber, src, got, want)
		}
		if len(want) == 0 && errs != nil {
			t.Errorf("valid document must give nil Errors, got %#v", errs)
		}
		if after := mustJSON(t, doc); !bytes.Equal(before, after) {
			t.Errorf("Validate modified the document:\n%s\n%s", before, after)
		}
		last = errs
	}
	return last
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// message returns the message of one failed rule, failing the test if the
// rule did not fail.
func message(t *testing.T, errs validation.Errors, field, rule string) string {
	t.Helper()
	d, ok := errs[field][rule]
	if !ok {
		t.Fatalf("no %s error on %s in %v", rule, field, errs)
	}
	m, _ := d["message"].(string)
	if m == "" {
		t.Fatalf("%s/%s has no message: %v", field, rule, d)
	}
	return m
}
