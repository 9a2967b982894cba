package callflow_test

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
)

// FuzzValidateFlow feeds arbitrary JSON to ValidateFlow and ParseFlow: they
// must never panic, must agree on validity, and must return refs with well
// formed ids only for valid nodes. The seed corpus is in
// testdata/fuzz/FuzzValidateFlow.
func FuzzValidateFlow(f *testing.F) {
	f.Add([]byte(`{"module":"user","data":{"id":"0123456789abcdef0123456789abcdef"},"children":{"_":{"module":"hangup","data":{}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return
		}
		_, trailing := dec.Token()
		single := trailing == io.EOF
		refs, errs := callflow.ValidateFlow(v)
		node, perrs := callflow.ParseFlow(v)
		if errs.Empty() != perrs.Empty() || (node == nil) != !perrs.Empty() {
			t.Fatalf("ValidateFlow errs %v, ParseFlow node %v errs %v", errs, node, perrs)
		}
		for _, r := range refs {
			if r.Type == "" || r.Field == "" || !callflow.IsDocID(r.ID) {
				t.Fatalf("bad ref %+v", r)
			}
		}
		// The raw form must give the same answer as the decoded one (raw
		// input with data after the first value is rejected as a whole).
		if _, rerrs := callflow.ValidateFlow(json.RawMessage(body)); rerrs.Empty() != (errs.Empty() && single) {
			t.Fatalf("raw errs %v, decoded errs %v", rerrs, errs)
		}
	})
}
