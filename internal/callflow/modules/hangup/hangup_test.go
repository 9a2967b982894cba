package hangup_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/hangup"
)

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(hangup.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "empty", Data: `{}`, Refs: []string{}},
		{Name: "no data at all", Data: ``, Refs: []string{}},
		{Name: "skipped", Data: `{"skip_module":true}`},
		{Name: "skip_module not boolean", Data: `{"skip_module":"true"}`, Errs: []string{"skip_module type"}},
		{Name: "any field is unknown", Data: `{"id":"x","timeout":1}`,
			Errs: []string{"id additionalProperties", "timeout additionalProperties"}},
		{Name: "not an object", Data: `[]`, Errs: []string{" type"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", hangup.Name) }
