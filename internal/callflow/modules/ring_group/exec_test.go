package ringgroup_test

import (
	"slices"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	ringgroup "github.com/strowger/strowger/internal/callflow/modules/ring_group"
)

func TestExec(t *testing.T) {
	const (
		d1 = "d0000000000000000000000000000001"
		d2 = "d0000000000000000000000000000002"
		u1 = "a0000000000000000000000000000001"
	)
	call := &callflowtest.Call{
		Docs: map[string]map[string]any{
			callflowtest.DocKey("device", d1): {},
			callflowtest.DocKey("device", d2): {},
			callflowtest.DocKey("user", u1):   {},
		},
		Devices: map[string][]string{u1: {d2, d1}},
	}
	res, err := callflowtest.Exec(t, ringgroup.Name, `{"strategy":"simultaneous","timeout":40,"repeats":2,"endpoints":[
		{"endpoint_type":"device","id":"`+d1+`","delay":0,"timeout":30},
		{"endpoint_type":"user","id":"`+u1+`","delay":10,"timeout":20}]}`, call)
	if err != nil || !res.Stop {
		t.Fatalf("%+v %v", res, err)
	}
	b := call.Bridges()
	want := []callflow.Endpoint{{DeviceID: d1, Timeout: 30 * time.Second}, {DeviceID: d2, Delay: 10 * time.Second, Timeout: 20 * time.Second}}
	if len(b) != 1 || !slices.Equal(b[0].Endpoints, want) || b[0].Timeout != 40*time.Second || b[0].Repeats != 2 {
		t.Fatalf("bridge %+v", b)
	}
}
