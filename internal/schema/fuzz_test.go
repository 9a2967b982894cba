package schema

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzValidate feeds arbitrary JSON to every schema, decoded both with
// float64 and json.Number numbers. Validate must never panic nor modify the
// document, must give the same verdict for both decodings, and filling in
// defaults must never make a document fail a rule it passed before.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(`{"name":"Desk","sip":{"username":"alice","password":"secret"}}`))
	f.Add([]byte(`{"numbers":["1000"],"flow":{"module":"user","data":{},"children":{"_":{"module":"voicemail","data":{}}}}}`))
	f.Add([]byte(`{"calls":1e999999999,"twoway_trunks":-1e400}`))
	f.Add([]byte(`{"credentials":"ab"}`))
	names := Names()
	f.Fuzz(func(t *testing.T, data []byte) {
		docs := make([]map[string]any, 0, 2)
		for _, useNumber := range []bool{false, true} {
			dec := json.NewDecoder(bytes.NewReader(data))
			if useNumber {
				dec.UseNumber()
			}
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil || doc == nil {
				return
			}
			docs = append(docs, doc)
		}
		for _, name := range names {
			var verdicts [2]bool
			for i, doc := range docs {
				before, err := json.Marshal(doc)
				if err != nil {
					return
				}
				errs := Validate(name, doc)
				verdicts[i] = errs == nil
				if after, _ := json.Marshal(doc); !bytes.Equal(before, after) {
					t.Fatalf("%s: Validate modified the document", name)
				}
				ApplyDefaults(name, doc)
				for field, rules := range Validate(name, doc) {
					for rule := range rules {
						if !errs.Has(field, rule) {
							t.Fatalf("%s: defaults introduced %s:%s in %s", name, field, rule, before)
						}
					}
				}
			}
			if verdicts[0] != verdicts[1] {
				t.Fatalf("%s: float64 and json.Number decodings disagree on %s", name, data)
			}
		}
	})
}
