package user_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/user"
)

const (
	d1 = "d0000000000000000000000000000001"
	d2 = "d0000000000000000000000000000002"
)

func TestExec(t *testing.T) {
	newCall := func(enabled bool, devices ...string) *callflowtest.Call {
		docs := map[string]map[string]any{callflowtest.DocKey("user", id): {"enabled": enabled}}
		for _, d := range devices {
			docs[callflowtest.DocKey("device", d)] = map[string]any{"owner_id": id}
		}
		return &callflowtest.Call{Docs: docs, Devices: map[string][]string{id: devices}}
	}
	t.Run("all devices in parallel", func(t *testing.T) {
		call := newCall(true, d1, d2)
		res, err := callflowtest.Exec(t, user.Name, `{"id":"`+id+`","timeout":25}`, call)
		if err != nil || !res.Stop {
			t.Fatalf("%+v %v", res, err)
		}
		b := call.Bridges()
		want := []callflow.Endpoint{{DeviceID: d1, Timeout: 25 * time.Second}, {DeviceID: d2, Timeout: 25 * time.Second}}
		if len(b) != 1 || b[0].Strategy != callflow.StrategySimultaneous || !slices.Equal(b[0].Endpoints, want) {
			t.Fatalf("bridge %+v", b)
		}
	})
	t.Run("single strategy and fail_on_single_reject", func(t *testing.T) {
		call := newCall(true, d1, d2)
		call.BridgeFunc = func(context.Context, callflow.BridgeRequest) (callflow.BridgeResult, error) {
			return callflow.BridgeResult{Outcome: callflow.Busy, Code: 603}, nil
		}
		res, err := callflowtest.Exec(t, user.Name, `{"id":"`+id+`","strategy":"single","fail_on_single_reject":true}`, call)
		if err != nil || res.Branch != "sip:603" || !slices.Equal(res.Fallbacks, []string{"sip:486"}) {
			t.Fatalf("%+v %v", res, err)
		}
		if b := call.Bridges()[0]; b.Strategy != callflow.StrategySingle || !b.FailOnSingleReject {
			t.Fatalf("bridge %+v", b)
		}
	})
	t.Run("user without devices", func(t *testing.T) {
		call := newCall(true)
		res, err := callflowtest.Exec(t, user.Name, `{"id":"`+id+`"}`, call)
		if err != nil || res.Branch != "_" || res.Bridge.Outcome != callflow.Unavailable || len(call.Bridges()) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("disabled user", func(t *testing.T) {
		call := newCall(false, d1)
		res, err := callflowtest.Exec(t, user.Name, `{"id":"`+id+`"}`, call)
		if err != nil || res.Branch != "_" || len(call.Bridges()) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("store failure", func(t *testing.T) {
		call := newCall(true, d1)
		call.DocErr = errors.New("kv down")
		if _, err := callflowtest.Exec(t, user.Name, `{"id":"`+id+`"}`, call); err == nil {
			t.Fatal("no error")
		}
	})
}
