package callflow_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
)

const (
	dev1  = "d0000000000000000000000000000001"
	dev2  = "d0000000000000000000000000000002"
	dev3  = "d0000000000000000000000000000003"
	dev4  = "d0000000000000000000000000000004"
	devX  = "d00000000000000000000000000000ff" // disabled
	user1 = "a0000000000000000000000000000001"
	userX = "a00000000000000000000000000000ff" // disabled
	userD = "a00000000000000000000000000000dd" // do not disturb
	user2 = "a0000000000000000000000000000002" // one device in do not disturb
	devD  = "d00000000000000000000000000000dd" // do not disturb
	grp1  = "e0000000000000000000000000000001"
	grp2  = "e0000000000000000000000000000002" // contains a group
	gone  = "f0000000000000000000000000000000" // referenced, not stored
)

func directory() *callflowtest.Call {
	doc := func(enabled bool) map[string]any { return map[string]any{"enabled": enabled} }
	return &callflowtest.Call{
		Docs: map[string]map[string]any{
			callflowtest.DocKey("device", dev1): doc(true),
			callflowtest.DocKey("device", dev2): {}, // enabled by default
			callflowtest.DocKey("device", dev3): doc(true),
			callflowtest.DocKey("device", dev4): doc(true),
			callflowtest.DocKey("device", devX): doc(false),
			callflowtest.DocKey("user", user1):  doc(true),
			callflowtest.DocKey("user", userX):  doc(false),
			callflowtest.DocKey("user", userD):  {"do_not_disturb": map[string]any{"enabled": true}},
			callflowtest.DocKey("user", user2):  {"do_not_disturb": map[string]any{"enabled": false}},
			callflowtest.DocKey("device", devD): {"do_not_disturb": map[string]any{"enabled": true}},
			callflowtest.DocKey("group", grp1): {"name": "sales", "endpoints": map[string]any{
				dev4:  map[string]any{"type": "device"},
				user1: map[string]any{"type": "user", "weight": float64(2)},
				"bad": map[string]any{"type": "device"},
				dev1:  "not an object",
			}},
			callflowtest.DocKey("group", grp2): {"endpoints": map[string]any{grp1: map[string]any{"type": "group"}}},
		},
		Devices: map[string][]string{user1: {dev2, dev3}, userX: {dev1}, userD: {dev1}, user2: {devD, dev4}},
	}
}

func ep(id string, delay, timeout int) callflow.Endpoint {
	return callflow.Endpoint{DeviceID: id, Delay: time.Duration(delay) * time.Second, Timeout: time.Duration(timeout) * time.Second}
}

func ref(typ, id string, delay, timeout int) callflow.RingEndpoint {
	return callflow.RingEndpoint{EndpointType: typ, ID: id, Delay: delay, Timeout: timeout}
}

func TestResolveEndpoints(t *testing.T) {
	cases := []struct {
		name string
		refs []callflow.RingEndpoint
		want []callflow.Endpoint
	}{
		{"device", []callflow.RingEndpoint{ref("device", dev1, 2, 30)}, []callflow.Endpoint{ep(dev1, 2, 30)}},
		{"disabled and missing devices are skipped",
			[]callflow.RingEndpoint{ref("device", devX, 0, 20), ref("device", gone, 0, 20), ref("device", dev2, 0, 20)},
			[]callflow.Endpoint{ep(dev2, 0, 20)}},
		{"user rings all devices with the user's delay and timeout",
			[]callflow.RingEndpoint{ref("user", user1, 5, 15)},
			[]callflow.Endpoint{ep(dev2, 5, 15), ep(dev3, 5, 15)}},
		{"disabled user rings nothing", []callflow.RingEndpoint{ref("user", userX, 0, 20)}, nil},
		{"device in do-not-disturb is skipped",
			[]callflow.RingEndpoint{ref("device", devD, 0, 20), ref("device", dev1, 0, 20)},
			[]callflow.Endpoint{ep(dev1, 0, 20)}},
		{"user in do-not-disturb rings nothing", []callflow.RingEndpoint{ref("user", userD, 0, 20)}, nil},
		{"a user's device in do-not-disturb is left out",
			[]callflow.RingEndpoint{ref("user", user2, 0, 20)},
			[]callflow.Endpoint{ep(dev4, 0, 20)}},
		{"group members in id order, bad entries left out",
			[]callflow.RingEndpoint{ref("group", grp1, 1, 25)},
			[]callflow.Endpoint{ep(dev2, 1, 25), ep(dev3, 1, 25), ep(dev4, 1, 25)}},
		{"a group in a group is ignored", []callflow.RingEndpoint{ref("group", grp2, 0, 20)}, nil},
		{"each device once, first occurrence wins",
			[]callflow.RingEndpoint{ref("device", dev3, 9, 9), ref("user", user1, 0, 20), ref("group", grp1, 0, 20)},
			[]callflow.Endpoint{ep(dev3, 9, 9), ep(dev2, 0, 20), ep(dev4, 0, 20)}},
		{"unknown endpoint type is ignored", []callflow.RingEndpoint{ref("fax", dev1, 0, 20)}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := callflow.ResolveEndpoints(context.Background(), directory(), tc.refs)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	t.Run("store failure is an error", func(t *testing.T) {
		c := directory()
		c.DocErr = errors.New("kv timeout")
		if _, err := callflow.ResolveEndpoints(context.Background(), c, []callflow.RingEndpoint{ref("device", dev1, 0, 20)}); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestBridgeOutcome(t *testing.T) {
	cases := []struct {
		res       callflow.BridgeResult
		branch    string
		fallbacks []string
		stop      bool
		hungUp    bool
	}{
		{callflow.BridgeResult{Outcome: callflow.Answered, Code: 200}, "", nil, true, false},
		{callflow.BridgeResult{Outcome: callflow.CallerGone}, "", nil, true, true},
		{callflow.BridgeResult{Outcome: callflow.Busy, Code: 486}, "sip:486", nil, false, false},
		{callflow.BridgeResult{Outcome: callflow.Busy}, "sip:486", nil, false, false},
		{callflow.BridgeResult{Outcome: callflow.Busy, Code: 603}, "sip:603", []string{"sip:486"}, false, false},
		{callflow.BridgeResult{Outcome: callflow.NoAnswer}, "_", nil, false, false},
		{callflow.BridgeResult{Outcome: callflow.NoAnswer, Code: 480}, "sip:480", nil, false, false},
		{callflow.BridgeResult{Outcome: callflow.Unavailable}, "_", nil, false, false},
		{callflow.BridgeResult{Outcome: callflow.Failed, Code: 404}, "sip:404", nil, false, false},
		{callflow.BridgeResult{Outcome: callflow.Failed, Code: 999}, "_", nil, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.res.Outcome.String(), func(t *testing.T) {
			r, err := callflow.BridgeOutcome(tc.res)
			if r.Branch != tc.branch || !slices.Equal(r.Fallbacks, tc.fallbacks) || r.Stop != tc.stop ||
				errors.Is(err, callflow.ErrHungUp) != tc.hungUp || r.Bridge == nil || *r.Bridge != tc.res {
				t.Fatalf("%+v -> %+v, %v", tc.res, r, err)
			}
		})
	}
}

func TestRingExec(t *testing.T) {
	w := func(n int) *int { return &n }
	t.Run("simultaneous bounds the attempt by the ring timeout", func(t *testing.T) {
		c := directory()
		r := callflow.DefaultRing()
		r.Timeout, r.Repeats, r.FailOnSingleReject = 45, 2, true
		r.Endpoints = []callflow.RingEndpoint{ref("device", dev1, 0, 20), ref("user", user1, 3, 10)}
		res, err := r.Exec(context.Background(), c, nil)
		if err != nil || !res.Stop {
			t.Fatalf("%+v %v", res, err)
		}
		b := c.Bridges()
		if len(b) != 1 || b[0].Strategy != callflow.StrategySimultaneous || b[0].Timeout != 45*time.Second ||
			b[0].Repeats != 2 || !b[0].FailOnSingleReject ||
			!slices.Equal(b[0].Endpoints, []callflow.Endpoint{ep(dev1, 0, 20), ep(dev2, 3, 10), ep(dev3, 3, 10)}) {
			t.Fatalf("bridge %+v", b)
		}
	})
	t.Run("single keeps the order and per-endpoint timeouts", func(t *testing.T) {
		c := directory()
		r := callflow.DefaultRing()
		r.Strategy = callflow.StrategySingle
		r.Endpoints = []callflow.RingEndpoint{ref("device", dev3, 0, 5), ref("device", dev1, 0, 7)}
		if _, err := r.Exec(context.Background(), c, nil); err != nil {
			t.Fatal(err)
		}
		b := c.Bridges()[0]
		if b.Strategy != callflow.StrategySingle || b.Timeout != 0 || !slices.Equal(b.Endpoints, []callflow.Endpoint{ep(dev3, 0, 5), ep(dev1, 0, 7)}) {
			t.Fatalf("bridge %+v", b)
		}
	})
	t.Run("weighted_random rings one at a time, heavier first more often", func(t *testing.T) {
		heavyFirst := 0
		const rounds = 400
		for range rounds {
			c := directory()
			r := callflow.DefaultRing()
			r.Strategy = callflow.StrategyWeightedRandom
			light, heavy := ref("device", dev1, 0, 20), ref("device", dev2, 0, 20)
			light.Weight, heavy.Weight = w(1), w(99)
			r.Endpoints = []callflow.RingEndpoint{light, heavy}
			if _, err := r.Exec(context.Background(), c, nil); err != nil {
				t.Fatal(err)
			}
			b := c.Bridges()[0]
			if b.Strategy != callflow.StrategySingle || len(b.Endpoints) != 2 {
				t.Fatalf("bridge %+v", b)
			}
			if b.Endpoints[0].DeviceID == dev2 {
				heavyFirst++
			}
		}
		// P(heavy first) = 0.99; 350 of 400 is ~20 standard deviations
		// below the mean, so this only fails if weights are ignored.
		if heavyFirst < 350 {
			t.Fatalf("heavy endpoint first %d/%d times", heavyFirst, rounds)
		}
	})
	t.Run("nothing to ring takes _ without bridging", func(t *testing.T) {
		c := directory()
		r := callflow.DefaultRing()
		r.Endpoints = []callflow.RingEndpoint{ref("device", devX, 0, 20), ref("user", gone, 0, 20)}
		res, err := r.Exec(context.Background(), c, nil)
		if err != nil || res.Branch != "_" || res.Bridge == nil || res.Bridge.Outcome != callflow.Unavailable || len(c.Bridges()) != 0 {
			t.Fatalf("%+v %v bridges %d", res, err, len(c.Bridges()))
		}
	})
	t.Run("bridge failure is an error", func(t *testing.T) {
		c := directory()
		c.BridgeFunc = func(context.Context, callflow.BridgeRequest) (callflow.BridgeResult, error) {
			return callflow.BridgeResult{}, errors.New("no edge reachable")
		}
		r := callflow.DefaultRing()
		r.Endpoints = []callflow.RingEndpoint{ref("device", dev1, 0, 20)}
		if _, err := r.Exec(context.Background(), c, nil); err == nil || errors.Is(err, callflow.ErrHungUp) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("caller hangs up during the bridge", func(t *testing.T) {
		c := directory()
		c.BridgeFunc = func(context.Context, callflow.BridgeRequest) (callflow.BridgeResult, error) {
			return callflow.BridgeResult{}, callflow.ErrHungUp
		}
		r := callflow.DefaultRing()
		r.Endpoints = []callflow.RingEndpoint{ref("device", dev1, 0, 20)}
		res, err := r.Exec(context.Background(), c, nil)
		if !errors.Is(err, callflow.ErrHungUp) || res.Bridge == nil || res.Bridge.Outcome != callflow.CallerGone {
			t.Fatalf("%+v %v", res, err)
		}
	})
}
