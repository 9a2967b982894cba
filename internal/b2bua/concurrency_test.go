package b2bua

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/edge"
	"github.com/strowger/strowger/internal/store"
)

// TestConcurrentCalls runs independent calls at once, each with RTP both
// ways, to show calls share no state (run with -race).
func TestConcurrentCalls(t *testing.T) {
	t.Parallel()
	const n = 10
	en := newEnvWith(t, nil, func(c *edge.Config) { c.AllowList = []string{"127.0.0.0/8"} })
	for i := range 2 * n {
		ext := fmt.Sprintf("%d", 2000+i)
		did := store.NewID()
		en.devs[ext], en.pass[ext] = did, "pw-"+ext
		en.create(store.TypeDevice, did, map[string]any{"name": "d" + ext, "enabled": true,
			"sip": map[string]any{"username": ext, "password": "pw-" + ext, "method": "password"}})
	}
	en.setRouter(func(ctx context.Context, c callflow.Call) error {
		_, err := c.Bridge(ctx, callflow.BridgeRequest{Endpoints: en.endpoints(c.Dialed())})
		return err
	})
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		caller, callee := en.phone(fmt.Sprintf("%d", 2000+i)), en.phone(fmt.Sprintf("%d", 2000+n+i))
		caller.register()
		callee.register()
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A phone helper's t.Fatal marks the test failed and ends
			// this goroutine (deferred Done still runs); runPair's own
			// checks panic and are reported here.
			defer func() {
				if r := recover(); r != nil {
					errs <- fmt.Sprint(r)
				}
			}()
			runPair(t, caller, callee, byte(i))
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	en.noLiveCalls()
	en.cdrs(2 * n)
}

func runPair(t *testing.T, caller, callee *phone, fill byte) {
	d := caller.call(callee.ext, caller.sdpBody(1, "", 0))
	inv, cd, ok := callee.answer(caller, d, "ct")
	a, b := sdpPeer(t, ok.Body()), sdpPeer(t, inv.Body())
	caller.sendRTP(a, 0, 0x100+uint32(fill), 1, 5, fill)
	if src := callee.recvRTP(0, fill); src != b {
		panic(fmt.Sprintf("pair %d: RTP from %s, want %s", fill, src, b))
	}
	callee.sendRTP(b, 0, 0x200+uint32(fill), 1, 5, fill+100)
	if src := caller.recvRTP(0, fill+100); src != a {
		panic(fmt.Sprintf("pair %d: RTP back from %s, want %s", fill, src, a))
	}
	callee.hangUp(cd, caller)
}
