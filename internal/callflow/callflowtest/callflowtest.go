// Package callflowtest holds test helpers shared by the callflow module
// packages: a table runner for Decode and the docs-as-tests check of a
// module's README. Only _test.go files may import it.
package callflowtest

import (
	"bytes"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Case is one row of a module's Decode table.
type Case struct {
	Name string
	// Data is the node's data as JSON.
	Data string
	// Errs is the exact set of failures expected, each "field rule"
	// (e.g. "timeout minimum"); empty means the data must be valid.
	Errs []string
	// Refs, when not nil, is the exact list of refs expected from a valid
	// config, each "type id field".
	Refs []string
	// Check, when set, inspects the decoded config of a valid case.
	Check func(t *testing.T, cfg callflow.Config)
}

// Run decodes every case with m and compares the outcome.
func Run(t *testing.T, m callflow.Module, cases []Case) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cfg, errs := m.Decode(json.RawMessage(tc.Data))
			got := Flatten(errs)
			want := append([]string(nil), tc.Errs...)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("errors = %q, want %q (details %v)", got, want, errs)
			}
			if len(want) > 0 {
				if cfg != nil {
					t.Fatalf("config %+v returned with errors", cfg)
				}
				return
			}
			if cfg == nil {
				t.Fatal("nil config without errors")
			}
			if tc.Refs != nil {
				if got := FlattenRefs(cfg.Refs()); !slices.Equal(got, tc.Refs) {
					t.Fatalf("refs = %q, want %q", got, tc.Refs)
				}
			}
			if tc.Check != nil {
				tc.Check(t, cfg)
			}
		})
	}
}

// Flatten turns errors into sorted "field rule" strings, and checks that
// every detail carries a message, as Kazoo clients expect.
func Flatten(errs validation.Errors) []string {
	out := []string{}
	for field, rules := range errs {
		for rule, d := range rules {
			if _, ok := d["message"].(string); !ok {
				out = append(out, field+" "+rule+" (no message)")
				continue
			}
			out = append(out, field+" "+rule)
		}
	}
	sort.Strings(out)
	return out
}

// FlattenRefs turns refs into "type id field" strings, in order.
func FlattenRefs(refs []callflow.Ref) []string {
	out := []string{}
	for _, r := range refs {
		out = append(out, r.Type+" "+r.ID+" "+r.Field)
	}
	return out
}

var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

// Examples returns the ```json blocks of a markdown file.
func Examples(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var out []string
	for _, m := range jsonBlock.FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// CheckREADME decodes and validates every JSON example of a module's
// README (docs as tests). An example is either a flow node, validated with
// callflow.ValidateFlow (its modules must all be registered in the test
// binary), or a bare data object, decoded with the module. Each example must
// be valid and the README must have at least one naming module.
func CheckREADME(t *testing.T, path, module string) {
	t.Helper()
	examples := Examples(t, path)
	if len(examples) == 0 {
		t.Fatalf("%s has no JSON example", path)
	}
	m, ok := callflow.Lookup(module)
	if !ok {
		t.Fatalf("module %q not registered", module)
	}
	sawNode := false
	for i, ex := range examples {
		dec := json.NewDecoder(strings.NewReader(ex))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("example %d is not JSON: %v\n%s", i, err, ex)
		}
		obj, _ := v.(map[string]any)
		if _, isNode := obj["module"]; isNode {
			if obj["module"] != module {
				t.Errorf("example %d is for module %v, want %q", i, obj["module"], module)
			}
			sawNode = true
			if _, errs := callflow.ParseFlow(v); !errs.Empty() {
				t.Errorf("example %d does not validate: %v\n%s", i, errs, ex)
			}
			continue
		}
		if _, errs := m.Decode(json.RawMessage(bytes.TrimSpace([]byte(ex)))); !errs.Empty() {
			t.Errorf("data example %d does not validate: %v\n%s", i, errs, ex)
		}
	}
	if !sawNode {
		t.Errorf("%s has no example of a whole %q node", path, module)
	}
}
