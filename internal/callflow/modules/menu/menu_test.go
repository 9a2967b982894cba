package menu_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/menu"
)

const id = "9e9e9e9e9e9e9e9e9e9e9e9e9e9e9e9e"

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(menu.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "document timing", Data: `{"id":"` + id + `"}`, Refs: []string{"menu " + id + " id"},
			Check: func(t *testing.T, c callflow.Config) {
				if c.(*menu.Config).InterdigitTimeout != nil {
					t.Fatal("interdigit_timeout set without being given")
				}
			}},
		{Name: "override", Data: `{"id":"` + id + `","interdigit_timeout":1500}`,
			Check: func(t *testing.T, c callflow.Config) {
				if p := c.(*menu.Config).InterdigitTimeout; p == nil || *p != 1500 {
					t.Fatalf("interdigit_timeout = %v", p)
				}
			}},
		{Name: "null override means unset", Data: `{"id":"` + id + `","interdigit_timeout":null}`},
		{Name: "id missing", Data: `{"interdigit_timeout":1500}`, Errs: []string{"id required"}},
		{Name: "id bad", Data: `{"id":"main-menu"}`, Errs: []string{"id pattern"}},
		{Name: "zero timeout", Data: `{"id":"` + id + `","interdigit_timeout":0}`, Errs: []string{"interdigit_timeout minimum"}},
		{Name: "options belong in children", Data: `{"id":"` + id + `","options":{"1":"x"}}`, Errs: []string{"options additionalProperties"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", menu.Name) }
