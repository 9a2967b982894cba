package group_test

import (
	"slices"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/group"
)

func TestExec(t *testing.T) {
	const (
		d1 = "d0000000000000000000000000000001"
		d2 = "d0000000000000000000000000000002"
	)
	call := func() *callflowtest.Call {
		return &callflowtest.Call{Docs: map[string]map[string]any{
			callflowtest.DocKey("device", d1): {},
			callflowtest.DocKey("device", d2): {},
			callflowtest.DocKey("device", d):  {},
			callflowtest.DocKey("group", g): {"name": "sales", "endpoints": map[string]any{
				d2: map[string]any{"type": "device"}, d1: map[string]any{"type": "device"}}},
		}}
	}
	t.Run("members then inline endpoints", func(t *testing.T) {
		c := call()
		res, err := callflowtest.Exec(t, group.Name, `{"id":"`+g+`","strategy":"single","timeout":15,
			"endpoints":[{"endpoint_type":"device","id":"`+d+`","timeout":5}]}`, c)
		if err != nil || !res.Stop {
			t.Fatalf("%+v %v", res, err)
		}
		want := []callflow.Endpoint{{DeviceID: d1, Timeout: 15 * time.Second}, {DeviceID: d2, Timeout: 15 * time.Second},
			{DeviceID: d, Timeout: 5 * time.Second}}
		if b := c.Bridges(); len(b) != 1 || b[0].Strategy != callflow.StrategySingle || !slices.Equal(b[0].Endpoints, want) {
			t.Fatalf("bridge %+v", b)
		}
	})
	t.Run("missing group document rings nothing", func(t *testing.T) {
		c := call()
		delete(c.Docs, callflowtest.DocKey("group", g))
		res, err := callflowtest.Exec(t, group.Name, `{"id":"`+g+`"}`, c)
		if err != nil || res.Branch != "_" || len(c.Bridges()) != 0 {
			t.Fatalf("%+v %v", res, err)
		}
	})
}
