package callflow_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	_ "github.com/strowger/strowger/internal/callflow/modules/all"
	devicemod "github.com/strowger/strowger/internal/callflow/modules/device"
	usermod "github.com/strowger/strowger/internal/callflow/modules/user"
)

const (
	userID   = "0123456789abcdef0123456789abcdef"
	vmboxID  = "fedcba9876543210fedcba9876543210"
	deviceID = "00000000000000000000000000000001"
	mediaID  = "00000000000000000000000000000002"
)

// decode parses a JSON test input the way the API will: numbers kept exact.
func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("test input is not JSON: %v\n%s", err, s)
	}
	return v
}

func TestValidateFlow(t *testing.T) {
	cases := []struct {
		name string
		flow string
		errs []string
		refs []string
	}{
		{
			name: "kazoo example",
			flow: `{"module":"user","data":{"id":"` + userID + `","timeout":20},
				"children":{"_":{"module":"voicemail","data":{"id":"` + vmboxID + `"}},
				            "sip:486":{"module":"play","data":{"id":"` + mediaID + `"}}}}`,
			refs: []string{
				"user " + userID + " flow.data.id",
				"vmbox " + vmboxID + " flow.children._.data.id",
				"media " + mediaID + " flow.children.sip:486.data.id",
			},
		},
		{name: "unknown module", flow: `{"module":"teleport","data":{}}`, errs: []string{"flow.module enum"}},
		{name: "module missing", flow: `{"data":{}}`, errs: []string{"flow.module required"}},
		{name: "module not a string", flow: `{"module":7,"data":{}}`, errs: []string{"flow.module type"}},
		{name: "module empty", flow: `{"module":"","data":{}}`, errs: []string{"flow.module minLength"}},
		{name: "data missing", flow: `{"module":"hangup"}`, errs: []string{"flow.data required"}},
		{name: "data not an object", flow: `{"module":"hangup","data":[]}`, errs: []string{"flow.data type"}},
		{name: "data null", flow: `{"module":"hangup","data":null}`, errs: []string{"flow.data type"}},
		{name: "both missing", flow: `{}`, errs: []string{"flow.data required", "flow.module required"}},
		{name: "node not an object", flow: `"hangup"`, errs: []string{"flow type"}},
		{name: "flow missing", flow: `null`, errs: []string{"flow required"}},
		{name: "bad data named", flow: `{"module":"device","data":{"id":"` + deviceID + `","timeout":0}}`,
			errs: []string{"flow.data.timeout minimum"}},
		{name: "unknown data key", flow: `{"module":"hangup","data":{"reason":"x"}}`,
			errs: []string{"flow.data.reason additionalProperties"}},
		{name: "skip_module accepted", flow: `{"module":"hangup","data":{"skip_module":true}}`},
		{name: "skip_module not boolean", flow: `{"module":"hangup","data":{"skip_module":"yes"}}`,
			errs: []string{"flow.data.skip_module type"}},
		{name: "children not an object", flow: `{"module":"answer","data":{},"children":[]}`,
			errs: []string{"flow.children type"}},
		{name: "child not an object", flow: `{"module":"answer","data":{},"children":{"_":1}}`,
			errs: []string{"flow.children._ type"}},
		{name: "empty children", flow: `{"module":"answer","data":{},"children":{}}`},
		{name: "unknown node keys kept", flow: `{"module":"answer","data":{},"ui_metadata":{"x":1}}`},
		{name: "any branch name", flow: `{"module":"answer","data":{},"children":{"1":{"module":"hangup","data":{}},"timeout":{"module":"hangup","data":{}},"sip:404":{"module":"hangup","data":{}}}}`},
		{name: "sip code too high", flow: `{"module":"answer","data":{},"children":{"sip:700":{"module":"hangup","data":{}}}}`,
			errs: []string{"flow.children.sip:700 pattern"}},
		{name: "sip code too low", flow: `{"module":"answer","data":{},"children":{"sip:099":{"module":"hangup","data":{}}}}`,
			errs: []string{"flow.children.sip:099 pattern"}},
		{name: "sip code short", flow: `{"module":"answer","data":{},"children":{"sip:48":{"module":"hangup","data":{}}}}`,
			errs: []string{"flow.children.sip:48 pattern"}},
		{name: "sip code not digits", flow: `{"module":"answer","data":{},"children":{"sip:busy":{"module":"hangup","data":{}}}}`,
			errs: []string{"flow.children.sip:busy pattern"}},
		{name: "sip code long", flow: `{"module":"answer","data":{},"children":{"sip:4860":{"module":"hangup","data":{}}}}`,
			errs: []string{"flow.children.sip:4860 pattern"}},
		{name: "empty branch name", flow: `{"module":"answer","data":{},"children":{"":{"module":"hangup","data":{}}}}`,
			errs: []string{"flow.children. minLength"}},
		{
			name: "nested errors with full paths",
			flow: `{"module":"answer","data":{},"children":{"_":{"module":"ring_group","data":{
				"endpoints":[{"endpoint_type":"device","id":"` + deviceID + `"},{"endpoint_type":"phone","id":"NOPE","delay":-1}]},
				"children":{"sip:486":{"module":"device","data":{"timeout":"20"}},"_":{"module":"nope","data":{}}}}}}`,
			errs: []string{
				"flow.children._.children._.module enum",
				"flow.children._.children.sip:486.data.id required",
				"flow.children._.children.sip:486.data.timeout type",
				"flow.children._.data.endpoints.1.delay minimum",
				"flow.children._.data.endpoints.1.endpoint_type enum",
				"flow.children._.data.endpoints.1.id pattern",
			},
			refs: []string{},
		},
		{
			name: "refs from every level",
			flow: `{"module":"ring_group","data":{"endpoints":[{"endpoint_type":"user","id":"` + userID + `"},{"endpoint_type":"device","id":"` + deviceID + `"}]},
				"children":{"_":{"module":"callflow","data":{"id":"` + vmboxID + `"}}}}`,
			refs: []string{
				"user " + userID + " flow.data.endpoints.0.id",
				"device " + deviceID + " flow.data.endpoints.1.id",
				"callflow " + vmboxID + " flow.children._.data.id",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refs, errs := callflow.ValidateFlow(decode(t, tc.flow))
			got := callflowtest.Flatten(errs)
			want := append([]string{}, tc.errs...)
			sort.Strings(want)
			if !slices.Equal(got, want) {
				t.Fatalf("errors = %q, want %q\n%v", got, want, errs)
			}
			if tc.refs != nil {
				if got := callflowtest.FlattenRefs(refs); !slices.Equal(got, tc.refs) {
					t.Fatalf("refs = %q, want %q", got, tc.refs)
				}
			}
			// ParseFlow must agree with ValidateFlow on validity.
			node, perrs := callflow.ParseFlow(decode(t, tc.flow))
			if (node == nil) == errs.Empty() {
				t.Fatalf("ParseFlow node=%v with ValidateFlow errors %v", node, errs)
			}
			if got := callflowtest.Flatten(perrs); !slices.Equal(got, want) {
				t.Fatalf("ParseFlow errors = %q, want %q", got, want)
			}
		})
	}
}

func TestValidateFlowUnknownModuleDetail(t *testing.T) {
	_, errs := callflow.ValidateFlow(decode(t, `{"module":"teleport","data":{}}`))
	d := errs["flow.module"]["enum"]
	target, _ := d["target"].([]string)
	if d["message"] == nil || !slices.Contains(target, "voicemail") || d["cause"] != "teleport" {
		t.Fatalf("detail = %v", d)
	}
}

// chain builds a flow of n nested answer nodes, each the "_" child of the last.
func chain(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(`{"module":"answer","data":{}`)
		if i < n-1 {
			b.WriteString(`,"children":{"_":`)
		}
	}
	for i := 0; i < n; i++ {
		if i < n-1 {
			b.WriteString(`}`)
		}
		b.WriteString(`}`)
	}
	return b.String()
}

func TestDepthLimit(t *testing.T) {
	if _, errs := callflow.ValidateFlow(decode(t, chain(callflow.MaxDepth))); !errs.Empty() {
		t.Fatalf("%d levels rejected: %v", callflow.MaxDepth, errs)
	}
	_, errs := callflow.ValidateFlow(decode(t, chain(callflow.MaxDepth+1)))
	path := "flow" + strings.Repeat(".children._", callflow.MaxDepth)
	if got := callflowtest.Flatten(errs); !slices.Equal(got, []string{path + " maxDepth"}) {
		t.Fatalf("errors = %q, want maxDepth on %s", got, path)
	}
	// A body as deep as encoding/json allows still returns at once, on the
	// first level past the limit.
	_, errs = callflow.ValidateFlow(json.RawMessage(chain(4000)))
	if !errs.Has(path, "maxDepth") || len(errs) != 1 {
		t.Fatalf("deep bomb: %v", errs.Fields())
	}
}

func TestNodeLimit(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"module":"answer","data":{},"children":{`)
	for i := 0; i < callflow.MaxNodes+10; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%05d":{"module":"hangup","data":{}}`, i)
	}
	b.WriteString(`}}`)
	_, errs := callflow.ValidateFlow(json.RawMessage(b.String()))
	// The root is node 1, so the first child over budget is k(MaxNodes-1).
	path := fmt.Sprintf("flow.children.k%05d", callflow.MaxNodes-1)
	if got := callflowtest.Flatten(errs); !slices.Equal(got, []string{path + " maxNodes"}) {
		t.Fatalf("errors = %q, want maxNodes on %s", got, path)
	}
}

func TestValidateFlowRawInput(t *testing.T) {
	refs, errs := callflow.ValidateFlow(json.RawMessage(`{"module":"user","data":{"id":"` + userID + `"}}`))
	if !errs.Empty() || len(refs) != 1 {
		t.Fatalf("refs %v errs %v", refs, errs)
	}
	_, errs = callflow.ValidateFlow(json.RawMessage(`{"module":`))
	if !errs.Has("flow", "type") {
		t.Fatalf("bad JSON: %v", errs)
	}
	// Values decoded without UseNumber (float64) are accepted too.
	var v any
	if err := json.Unmarshal([]byte(`{"module":"device","data":{"id":"`+deviceID+`","timeout":30}}`), &v); err != nil {
		t.Fatal(err)
	}
	if _, errs := callflow.ValidateFlow(v); !errs.Empty() {
		t.Fatalf("float64 input: %v", errs)
	}
}

func TestParseFlow(t *testing.T) {
	node, errs := callflow.ParseFlow(decode(t, `{"module":"user","data":{"id":"`+userID+`"},
		"children":{"_":{"module":"voicemail","data":{"id":"`+vmboxID+`","skip_module":true}},
		            "sip:486":{"module":"hangup","data":{}}}}`))
	if !errs.Empty() {
		t.Fatal(errs)
	}
	if node.Module != "user" || node.Skip || len(node.Children) != 2 {
		t.Fatalf("root = %+v", node)
	}
	u, ok := node.Config.(*usermod.Config)
	if !ok || u.ID != userID || u.Timeout != 20 || u.Strategy != "simultaneous" {
		t.Fatalf("root config = %#v", node.Config)
	}
	vm := node.Children[callflow.DefaultChild]
	if vm == nil || vm.Module != "voicemail" || !vm.Skip || vm.Children != nil {
		t.Fatalf("_ child = %+v", vm)
	}
	if h := node.Children["sip:486"]; h == nil || h.Module != "hangup" || h.Skip {
		t.Fatalf("sip:486 child = %+v", h)
	}
	if _, ok := node.Children["_"].Config.(*devicemod.Config); ok {
		t.Fatal("voicemail node decoded as device")
	}
}

func TestParseFlowRejects(t *testing.T) {
	node, errs := callflow.ParseFlow(decode(t, `{"module":"user","data":{"id":"`+userID+`"},"children":{"_":{"module":"hangup","data":{"x":1}}}}`))
	if node != nil || !errs.Has("flow.children._.data.x", "additionalProperties") {
		t.Fatalf("node %v errs %v", node, errs)
	}
}
