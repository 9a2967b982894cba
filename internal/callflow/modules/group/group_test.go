package group_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/group"
)

const (
	g = "aaaabbbbccccddddeeeeffff00001111"
	d = "3b8a6f1e2d4c4e5fa0b1c2d3e4f50617"
)

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(group.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "defaults", Data: `{"id":"` + g + `"}`, Refs: []string{"group " + g + " id"},
			Check: func(t *testing.T, c callflow.Config) {
				r := c.(*group.Config)
				if r.ID != g || r.Strategy != "simultaneous" || r.Timeout != 20 || r.Repeats != 1 || !r.IgnoreForward || r.Endpoints != nil {
					t.Fatalf("%+v", r)
				}
			}},
		{Name: "with inline endpoints", Data: `{"id":"` + g + `","endpoints":[{"endpoint_type":"device","id":"` + d + `"}],"strategy":"single"}`,
			Refs: []string{"group " + g + " id", "device " + d + " endpoints.0.id"}},
		{Name: "id missing", Data: `{"timeout":30}`, Errs: []string{"id required"}},
		{Name: "id bad", Data: `{"id":"group-1"}`, Errs: []string{"id pattern"}},
		{Name: "ring options checked", Data: `{"id":"` + g + `","timeout":0,"repeats":-1,"strategy":"all"}`,
			Errs: []string{"repeats minimum", "strategy enum", "timeout minimum"}},
		{Name: "bad inline endpoint", Data: `{"id":"` + g + `","endpoints":[{"endpoint_type":"device"}]}`,
			Errs: []string{"endpoints.0.id required"}},
		{Name: "unknown key", Data: `{"id":"` + g + `","members":[]}`, Errs: []string{"members additionalProperties"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", group.Name) }
