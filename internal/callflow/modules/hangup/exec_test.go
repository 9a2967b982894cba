package hangup_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/hangup"
)

func TestExec(t *testing.T) {
	call := &callflowtest.Call{}
	res, err := callflowtest.Exec(t, hangup.Name, `{}`, call)
	if err != nil || !res.Stop || !slices.Equal(call.Hangups(), []string{"NORMAL_CLEARING"}) {
		t.Fatalf("%+v %v hangups %q", res, err, call.Hangups())
	}
	call = &callflowtest.Call{HangupErr: errors.New("dialog gone")}
	if _, err := callflowtest.Exec(t, hangup.Name, `{}`, call); err == nil {
		t.Fatal("no error")
	}
}
