package answer_test

import (
	"errors"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/answer"
)

func TestExec(t *testing.T) {
	call := &callflowtest.Call{}
	res, err := callflowtest.Exec(t, answer.Name, `{}`, call)
	if err != nil || res.Stop || res.Branch != "_" || call.Answers() != 1 {
		t.Fatalf("%+v %v answers %d", res, err, call.Answers())
	}
	call = &callflowtest.Call{AnswerErr: callflow.ErrHungUp}
	if _, err := callflowtest.Exec(t, answer.Name, `{}`, call); !errors.Is(err, callflow.ErrHungUp) {
		t.Fatalf("err %v", err)
	}
}
