package callflow_test

import (
	"testing"

	cf "github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/callflow"
)

const id = "c0ffeec0ffeec0ffeec0ffeec0ffee00"

func TestDecode(t *testing.T) {
	m, _ := cf.Lookup(callflow.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "valid", Data: `{"id":"` + id + `"}`, Refs: []string{"callflow " + id + " id"},
			Check: func(t *testing.T, c cf.Config) {
				if c.(*callflow.Config).ID != id {
					t.Fatalf("%+v", c)
				}
			}},
		{Name: "skipped", Data: `{"id":"` + id + `","skip_module":true}`},
		{Name: "id missing", Data: `{}`, Errs: []string{"id required"}},
		{Name: "id null", Data: `{"id":null}`, Errs: []string{"id type"}},
		{Name: "id with a path", Data: `{"id":"../` + id[:29] + `"}`, Errs: []string{"id pattern"}},
		{Name: "unknown key", Data: `{"id":"` + id + `","numbers":["1000"]}`, Errs: []string{"numbers additionalProperties"}},
		{Name: "data not an object", Data: `"` + id + `"`, Errs: []string{" type"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", callflow.Name) }
