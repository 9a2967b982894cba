package temporalroute_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	temporalroute "github.com/strowger/strowger/internal/callflow/modules/temporal_route"
)

const (
	r1  = "7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a"
	r2  = "7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b7b"
	set = "5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e"
)

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(temporalroute.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "empty", Data: `{}`, Refs: []string{},
			Check: func(t *testing.T, c callflow.Config) {
				if c.(*temporalroute.Config).Location != nil {
					t.Fatal("location without timezone")
				}
			}},
		{Name: "rules and set", Data: `{"rules":["` + r1 + `","` + r2 + `"],"rule_set":"` + set + `","timezone":"Europe/Paris"}`,
			Refs: []string{"temporal_rule " + r1 + " rules.0", "temporal_rule " + r2 + " rules.1", "temporal_rules_set " + set + " rule_set"},
			Check: func(t *testing.T, c callflow.Config) {
				if loc := c.(*temporalroute.Config).Location; loc == nil || loc.String() != "Europe/Paris" {
					t.Fatalf("location = %v", loc)
				}
			}},
		{Name: "UTC", Data: `{"timezone":"UTC"}`},
		{Name: "override", Data: `{"action":"disable","rules":["` + r1 + `"],"interdigit_timeout":2000}`},
		{Name: "unknown zone", Data: `{"timezone":"Mars/Olympus_Mons"}`, Errs: []string{"timezone enum"}},
		{Name: "host zone refused", Data: `{"timezone":"Local"}`, Errs: []string{"timezone enum"}},
		{Name: "path as zone", Data: `{"timezone":"../../../etc/passwd"}`, Errs: []string{"timezone enum"}},
		{Name: "bad rule ids", Data: `{"rules":["` + r1 + `","weekdays"],"rule_set":"x"}`,
			Errs: []string{"rule_set pattern", "rules.1 pattern"}},
		{Name: "rules not a list", Data: `{"rules":"` + r1 + `"}`, Errs: []string{"rules type"}},
		{Name: "rule not a string", Data: `{"rules":[1]}`, Errs: []string{"rules.0 type"}},
		{Name: "bad action", Data: `{"action":"toggle"}`, Errs: []string{"action enum"}},
		{Name: "bad interdigit", Data: `{"interdigit_timeout":-1}`, Errs: []string{"interdigit_timeout minimum"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", temporalroute.Name) }
