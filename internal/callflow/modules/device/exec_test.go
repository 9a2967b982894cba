package device_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/device"
)

func TestExec(t *testing.T) {
	outcome := func(o callflow.Outcome, code int) func(context.Context, callflow.BridgeRequest) (callflow.BridgeResult, error) {
		return func(context.Context, callflow.BridgeRequest) (callflow.BridgeResult, error) {
			return callflow.BridgeResult{Outcome: o, Code: code}, nil
		}
	}
	cases := []struct {
		name    string
		enabled any // the device's "enabled"; nil: no device document
		bridge  func(context.Context, callflow.BridgeRequest) (callflow.BridgeResult, error)
		branch  string
		stop    bool
		bridged bool
	}{
		{"answered", true, nil, "", true, true},
		{"busy", true, outcome(callflow.Busy, 486), "sip:486", false, true},
		{"no answer", true, outcome(callflow.NoAnswer, 0), "_", false, true},
		{"not registered", true, outcome(callflow.Unavailable, 0), "_", false, true},
		{"disabled device is not rung", false, nil, "_", false, false},
		{"deleted device is not rung", nil, nil, "_", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			call := &callflowtest.Call{Docs: map[string]map[string]any{}, BridgeFunc: tc.bridge}
			if tc.enabled != nil {
				call.Docs[callflowtest.DocKey("device", id)] = map[string]any{"enabled": tc.enabled}
			}
			res, err := callflowtest.Exec(t, device.Name, `{"id":"`+id+`","timeout":30,"delay":2,"can_call_self":true,
				"suppress_clid":true,"custom_sip_headers":{"X-Tier":"gold"}}`, call)
			if err != nil || res.Branch != tc.branch || res.Stop != tc.stop || res.Bridge == nil {
				t.Fatalf("%+v %v", res, err)
			}
			b := call.Bridges()
			if !tc.bridged {
				if len(b) != 0 {
					t.Fatalf("bridged %+v", b)
				}
				return
			}
			want := []callflow.Endpoint{{DeviceID: id, Delay: 2 * time.Second, Timeout: 30 * time.Second}}
			if len(b) != 1 || !slices.Equal(b[0].Endpoints, want) || !b[0].CanCallSelf || !b[0].SuppressCLID ||
				b[0].CustomSIPHeaders["X-Tier"] != "gold" || b[0].Repeats != 1 {
				t.Fatalf("bridge %+v", b)
			}
		})
	}
}
