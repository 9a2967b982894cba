package callflow_test

import (
	"context"
	"errors"
	"testing"

	cf "github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/callflow"
	_ "github.com/strowger/strowger/internal/callflow/modules/hangup"
)

func TestExec(t *testing.T) {
	target, errs := cf.ParseFlow(map[string]any{"module": "hangup", "data": map[string]any{}})
	if !errs.Empty() {
		t.Fatal(errs)
	}
	t.Run("jumps", func(t *testing.T) {
		call := &callflowtest.Call{Flows: map[string]*cf.Node{id: target}}
		res, err := callflowtest.Exec(t, callflow.Name, `{"id":"`+id+`"}`, call)
		if err != nil || res.Jump != target || res.JumpID != id || res.Stop {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("missing target takes _", func(t *testing.T) {
		res, err := callflowtest.Exec(t, callflow.Name, `{"id":"`+id+`"}`, &callflowtest.Call{})
		if err != nil || res.Jump != nil || res.Branch != "_" {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("store failure", func(t *testing.T) {
		call := &failingFlows{Call: &callflowtest.Call{}}
		if _, err := callflowtest.Exec(t, callflow.Name, `{"id":"`+id+`"}`, call); err == nil || errors.Is(err, cf.ErrNotFound) {
			t.Fatalf("err %v", err)
		}
	})
}

// failingFlows fails every callflow load as a store outage would.
type failingFlows struct{ *callflowtest.Call }

func (failingFlows) Callflow(context.Context, string) (*cf.Node, error) {
	return nil, errors.New("kv unavailable")
}
