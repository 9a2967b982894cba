package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/b2bua"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/dialplan"
	"github.com/strowger/strowger/internal/location"
	"github.com/strowger/strowger/internal/media"
)

// startMedia starts the media role: the B2BUA on this node's SIP subject,
// with RTP on --rtp-ip/--rtp-ports and calls routed by the dialplan and
// the callflow engine. On stop it ends its calls (BYE) before the edge and
// the bus go away.
func (n *Node) startMedia(ctx context.Context, js jetstream.JetStream) error {
	log := n.log.With("role", "media")
	rng := media.PortRange{Low: n.cfg.RTPPortLow, High: n.cfg.RTPPortHigh}
	ports, err := media.NewPorts(n.cfg.RTPIP, rng, log)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	plans, err := dialplan.New(n.st, n.nc, log.With("component", "dialplan"), dialplan.Options{Clock: n.clock})
	if err != nil {
		return fmt.Errorf("media: dialplan: %w", err)
	}
	// The B2BUA looks up the callee's bindings on every call: from an
	// in-memory mirror of the bucket, as the edge does, not a scan of the
	// whole bucket per call (the largest cost per call in bench/calls.sh).
	loc := location.New(js, n.st.Buckets().Registrations, n.clock)
	if err := loc.StartMirror(ctx); err != nil {
		_ = plans.Close()
		return fmt.Errorf("media: %w", err)
	}
	engine, err := media.ParseEngine(n.cfg.RTPEngine)
	if err != nil {
		_ = plans.Close()
		return fmt.Errorf("media: %w", err)
	}
	stopSweep := n.sweepLocation(loc)
	s, err := b2bua.New(b2bua.Config{NodeID: n.cfg.NodeName + "-media", RTPIP: n.cfg.RTPIP, RTPTimeout: n.rtpTimeout(),
		MaxSetupCalls: offIfZero(n.cfg.MaxSetupCalls), MinFreePortPairs: offIfZero(n.cfg.MinFreeRTPPairs),
		MaxCalls: n.cfg.MaxCalls, RTPEngine: engine},
		b2bua.Deps{Conn: n.nc, Buckets: n.st.Buckets(), Docs: n.st,
			Location: loc,
			CDRs:     cdr.NewWriter(js, log.With("component", "cdr")), Ports: ports,
			Router: b2bua.FlowRouter{Plans: plans}, Clock: n.clock, Logger: log})
	if err != nil {
		stopSweep()
		_ = plans.Close()
		return err
	}
	if err := s.Start(ctx); err != nil {
		stopSweep()
		_ = plans.Close()
		return fmt.Errorf("starting media: %w", err)
	}
	n.stops = append(n.stops, func(ctx context.Context) {
		s.Stop(ctx)
		stopSweep()
		_ = plans.Close()
	})
	return nil
}

// sweepLocation frees expired bindings from loc's mirror every minute on
// the node's clock; the returned func stops the sweeper and the mirror.
func (n *Node) sweepLocation(loc *location.Store) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := n.clock.NewTimer(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C():
				loc.Sweep()
				t.Reset(time.Minute)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			<-done
			loc.StopMirror()
		})
	}
}

// offIfZero maps a flag's 0 (no bound) to the B2BUA's "disabled"
// (negative; its 0 means the default).
func offIfZero(v int) int {
	if v == 0 {
		return -1
	}
	return v
}

// rtpTimeout maps --rtp-timeout 0 (off) to the B2BUA's "disabled".
func (n *Node) rtpTimeout() time.Duration {
	if n.cfg.RTPTimeout == 0 {
		return -1
	}
	return n.cfg.RTPTimeout
}
