package callflow_test

import (
	"encoding/json"
	"slices"
	"sort"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
)

type inner struct {
	Name  string `json:"name" callflow:"required"`
	Count int    `json:"count"`
}

type embedded struct {
	Extra string `json:"extra"`
}

type sample struct {
	embedded
	ID       string            `json:"id" callflow:"required"`
	Timeout  int               `json:"timeout"`
	Small    int8              `json:"small"`
	Ratio    float64           `json:"ratio"`
	On       bool              `json:"on"`
	Opt      *int              `json:"opt"`
	Items    []inner           `json:"items"`
	Headers  map[string]string `json:"headers"`
	Free     map[string]any    `json:"free"`
	Raw      json.RawMessage   `json:"raw"`
	Anything any               `json:"anything"`
	Hidden   string            `json:"-"`
}

func TestDecodeData(t *testing.T) {
	cases := []struct {
		name  string
		data  string
		errs  []string
		check func(t *testing.T, s *sample)
	}{
		{name: "defaults kept", data: `{"id":"a"}`, check: func(t *testing.T, s *sample) {
			if s.ID != "a" || s.Timeout != 20 || s.Opt != nil {
				t.Fatalf("%+v", s)
			}
		}},
		{name: "everything", data: `{"id":"a","timeout":5,"small":-3,"ratio":0.5,"on":true,"opt":null,"extra":"e",
			"items":[{"name":"x","count":2}],"headers":{"X-A":"1"},"free":{"deep":[1,{"a":null}]},"raw":[1,"two"],"anything":null}`,
			check: func(t *testing.T, s *sample) {
				if s.Timeout != 5 || s.Small != -3 || s.Ratio != 0.5 || !s.On || s.Extra != "e" ||
					len(s.Items) != 1 || s.Items[0].Count != 2 || s.Headers["X-A"] != "1" || string(s.Raw) != `[1,"two"]` {
					t.Fatalf("%+v", s)
				}
			}},
		{name: "skip_module accepted", data: `{"id":"a","skip_module":false}`},
		{name: "skip_module not boolean", data: `{"id":"a","skip_module":1}`, errs: []string{"skip_module type"}},
		{name: "empty input is an empty object", data: ``, errs: []string{"id required"}},
		{name: "not an object", data: `[1]`, errs: []string{" type"}},
		{name: "null", data: `null`, errs: []string{" type"}},
		{name: "invalid JSON", data: `{"id":`, errs: []string{" type"}},
		{name: "trailing data", data: `{"id":"a"} {}`, errs: []string{" type"}},
		{name: "every problem at once", data: `{"timeout":"20","small":300,"ratio":"x","on":"yes","bogus":1,"Hidden":"h",
			"items":[{"name":"x"},{"count":1.5,"zzz":true},3],"headers":{"X-A":1},"free":[],"ID":"upper"}`,
			errs: []string{
				"Hidden additionalProperties",
				"ID additionalProperties",
				"bogus additionalProperties",
				"free type",
				"headers.X-A type",
				"id required",
				"items.1.count type",
				"items.1.name required",
				"items.1.zzz additionalProperties",
				"items.2 type",
				"on type",
				"ratio type",
				"small type",
				"timeout type",
			}},
		{name: "null for a value field", data: `{"id":null,"timeout":null,"items":null}`,
			errs: []string{"id type", "items type", "timeout type"}},
		{name: "fraction is not an integer", data: `{"id":"a","timeout":20.5}`, errs: []string{"timeout type"}},
		{name: "exponent is not an integer", data: `{"id":"a","timeout":2e1}`, errs: []string{"timeout type"}},
		{name: "integer overflow", data: `{"id":"a","timeout":99999999999999999999}`, errs: []string{"timeout type"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &sample{Timeout: 20}
			errs := callflow.DecodeData(json.RawMessage(tc.data), s)
			got := callflowtest.Flatten(errs)
			want := append([]string{}, tc.errs...)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("errors = %q, want %q\n%v", got, want, errs)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

func TestDecodeDataPanicsOnNonStruct(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	var m map[string]any
	callflow.DecodeData(json.RawMessage(`{}`), &m)
}

func TestDecodeDataKeepsCallerData(t *testing.T) {
	data := json.RawMessage(`{"id":"a","skip_module":true}`)
	before := string(data)
	if errs := callflow.DecodeData(data, &sample{}); !errs.Empty() {
		t.Fatal(errs)
	}
	if string(data) != before {
		t.Fatalf("data changed to %s", data)
	}
}

func TestRingEndpointDefaults(t *testing.T) {
	r := callflow.DefaultRing()
	errs := callflow.DecodeData(json.RawMessage(`{"endpoints":[{"endpoint_type":"user","id":"x"},{"endpoint_type":"device","id":"y","timeout":5,"delay":2}]}`), &r)
	if !errs.Empty() {
		t.Fatal(errs)
	}
	if r.Endpoints[0].Timeout != 20 || r.Endpoints[1].Timeout != 5 || r.Endpoints[1].Delay != 2 ||
		r.Strategy != "simultaneous" || r.Repeats != 1 || !r.IgnoreForward {
		t.Fatalf("%+v", r)
	}
}
