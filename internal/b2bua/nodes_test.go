package b2bua

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/store"
)

// TestTwoMediaNodes runs a second media node on the same bus: the edge
// spreads new calls over both, every call is owned and billed by the node
// that took it, and once one node stops, calls go to the other.
func TestTwoMediaNodes(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	route := RouterFunc(func(ctx context.Context, c callflow.Call) error {
		_, err := c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints("101")})
		return err
	})
	en.setRouter(route)
	log := testLogger()
	ports, err := media.NewPorts(netip.MustParseAddr("127.0.0.1"), testPorts, log)
	if err != nil {
		t.Fatal(err)
	}
	b := en.st.Buckets()
	m2, err := New(Config{NodeID: "media2", RTPIP: netip.MustParseAddr("127.0.0.1")}, Deps{Conn: en.srv.Conn, Buckets: b,
		Docs: en.st, Location: location.New(en.srv.JS, b.Registrations, en.clk), CDRs: cdr.NewWriter(en.srv.JS, log),
		Ports: ports, Router: route, Clock: en.clk, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m2.Stop(ctx)
	})
	alice, bob := en.registeredPair()
	// The edge reads heartbeats through a KV watcher: wait until it has
	// media2's, i.e. until a call lands there.
	nodes := map[string]int{}
	place := func() {
		t.Helper()
		d, bd := answerCall(en, alice, bob)
		e, err := b.Calls.Get(t.Context(), store.CallKey(d.callID))
		if err != nil {
			t.Fatal(err)
		}
		var rec Record
		if err := jsonUnmarshal(e.Value(), &rec); err != nil {
			t.Fatal(err)
		}
		nodes[rec.OwnerNode]++
		bob.hangUp(bd, alice)
	}
	for i := 0; i < 16 || nodes["media2"] == 0 || nodes["media1"] == 0; i++ {
		if i == 40 {
			t.Fatalf("calls did not spread over both nodes: %v", nodes)
		}
		place()
	}

	// media1 stops: its heartbeat goes, new calls go to media2.
	w, err := b.Nodes.Watch(t.Context(), store.NodeKey("media1"), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	en.b2b.Stop(ctx)
	cancel()
	waitFor(t, "media1's heartbeat to go", func() bool {
		select {
		case e := <-w.Updates():
			return e != nil && e.Operation() != jetstream.KeyValuePut
		default:
			return false
		}
	})
	clear(nodes)
	for range 4 {
		place()
	}
	if nodes["media2"] != 4 {
		t.Fatalf("after media1 stopped: %v", nodes)
	}
	waitFor(t, "media2's calls to finish", func() bool { return m2.LiveCalls() == 0 })
}
