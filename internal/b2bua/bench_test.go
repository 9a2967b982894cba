package b2bua

import (
	"runtime"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/edge"
)

func benchEnv(b *testing.B) (*env, *phone, *phone) {
	en := newEnvWith(b, nil, func(c *edge.Config) { c.AllowList = []string{"127.0.0.0/8"} })
	// As in production (node/media.go): callee bindings from the in-memory
	// mirror, not a KV scan per call.
	if err := en.b2b.d.Location.StartMirror(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(en.b2b.d.Location.StopMirror)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob := en.registeredPair()
	return en, alice, bob
}

// answerCall sets up one call from alice to bob up to the ACK.
func answerCall(en *env, alice, bob *phone) (*pdialog, *pdialog) {
	d := alice.call("101", alice.sdpBody(1, "", 0))
	_, bd, _ := bob.answer(alice, d, "bt")
	return d, bd
}

// BenchmarkCallSetup measures one whole call through a real edge and the
// B2BUA, one after the other: INVITE (with the 407 round) → 200 → ACK →
// BYE → 200, anchored media set up and torn down, two CDRs written.
func BenchmarkCallSetup(b *testing.B) {
	en, alice, bob := benchEnv(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, _ := answerCall(en, alice, bob)
		alice.hangUp(d, bob)
	}
	b.StopTimer()
	en.noLiveCalls()
}

// BenchmarkLiveCallFootprint reports the goroutines and heap one live,
// answered call holds on the node (edge and B2BUA, phones excluded).
func BenchmarkLiveCallFootprint(b *testing.B) {
	const calls = 100
	en, alice, bob := benchEnv(b)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		var ds []*pdialog
		for range calls {
			d, _ := answerCall(en, alice, bob)
			ds = append(ds, d)
		}
		waitFor(b, "calls to be live", func() bool { return en.b2b.LiveCalls() == calls })
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(runtime.NumGoroutine()-g0)/calls, "goroutines/call")
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/calls, "heap-B/call")
		for _, d := range ds {
			alice.hangUp(d, bob)
		}
		en.noLiveCalls()
	}
}
