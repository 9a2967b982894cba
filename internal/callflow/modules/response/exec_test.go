package response_test

import (
	"errors"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/response"
)

func TestExec(t *testing.T) {
	t.Run("responds and stops", func(t *testing.T) {
		call := &callflowtest.Call{}
		res, err := callflowtest.Exec(t, response.Name, `{"code":404,"message":"Nobody here"}`, call)
		if err != nil || !res.Stop {
			t.Fatalf("%+v %v", res, err)
		}
		if got := call.Responses(); len(got) != 1 || got[0] != (callflowtest.Response{Code: 404, Reason: "Nobody here"}) {
			t.Fatalf("responses %+v", got)
		}
	})
	t.Run("default is 486 with the standard phrase", func(t *testing.T) {
		call := &callflowtest.Call{}
		if _, err := callflowtest.Exec(t, response.Name, `{}`, call); err != nil {
			t.Fatal(err)
		}
		if got := call.Responses(); len(got) != 1 || got[0] != (callflowtest.Response{Code: 486}) {
			t.Fatalf("responses %+v", got)
		}
	})
	t.Run("caller already gone", func(t *testing.T) {
		call := &callflowtest.Call{RespondErr: callflow.ErrHungUp}
		if _, err := callflowtest.Exec(t, response.Name, `{}`, call); !errors.Is(err, callflow.ErrHungUp) {
			t.Fatalf("err %v", err)
		}
	})
}
