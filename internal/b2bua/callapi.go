package b2bua

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/media"
	"github.com/strowger/strowger/internal/sdp"
	"github.com/strowger/strowger/internal/sipbus"
	"github.com/strowger/strowger/internal/store"
)

var _ callflow.Call = (*call)(nil)

type sipbusFlow = sipbus.Flow

func joinHostPort(host string, port int) string {
	if host == "" {
		return ""
	}
	if port == 0 {
		port = 5060
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// ID implements callflow.Call.
func (c *call) ID() string { return c.id }

// Caller implements callflow.Call.
func (c *call) Caller() callflow.Caller { return c.caller }

// Dialed implements callflow.Call.
func (c *call) Dialed() string { return c.dialed }

// Captures implements callflow.Call.
func (c *call) Captures() []string { return c.captures }

// SetCaptures records the groups of the dialplan pattern that matched; the
// router calls it before running the callflow.
func (c *call) SetCaptures(caps []string) { c.captures = slices.Clone(caps) }

// Log implements callflow.Call.
func (c *call) Log() *slog.Logger { return c.log }

// Doc implements callflow.Call: documents of the caller's account only.
func (c *call) Doc(ctx context.Context, typ, id string) (map[string]any, error) {
	d, err := c.s.d.Docs.Get(ctx, c.caller.AccountID, typ, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, callflow.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", typ, id, err)
	}
	// A copy: documents come from the node's shared cache (doccache.go).
	return cloneDoc(d).Body, nil
}

// UserDevices implements callflow.Call.
func (c *call) UserDevices(ctx context.Context, userID string) ([]string, error) {
	ds, err := c.s.d.Docs.List(ctx, c.caller.AccountID, store.TypeDevice)
	if err != nil {
		return nil, fmt.Errorf("listing devices: %w", err)
	}
	var out []string
	for _, d := range ds {
		if d.Body["owner_id"] == userID && d.Body["enabled"] != false {
			out = append(out, d.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Callflow implements callflow.Call.
func (c *call) Callflow(ctx context.Context, id string) (*callflow.Node, error) {
	body, err := c.Doc(ctx, store.TypeCallflow, id)
	if err != nil {
		return nil, err
	}
	n, errs := callflow.ParseFlow(body["flow"])
	if len(errs) > 0 {
		return nil, fmt.Errorf("callflow %s does not parse: %v", id, errs)
	}
	return n, nil
}

// SetPosition implements callflow.Call.
func (c *call) SetPosition(path []string) {
	p := slices.Clone(path)
	c.post(func(c *call) {
		c.position = p
		c.saveState()
	})
}

// Answer implements callflow.Call: 200 OK with our anchored SDP. The
// caller's codecs are narrowed to one audio codec (and telephone-event) so
// a later bridge can offer the callee exactly what the caller sends.
func (c *call) Answer(ctx context.Context) error {
	var err error
	if e := c.do(ctx, func(c *call) { err = c.answerCaller() }); e != nil {
		return e
	}
	return err
}

func (c *call) answerCaller() error {
	if c.a.ended || c.callerGone {
		return callflow.ErrHungUp
	}
	if c.answered {
		return nil
	}
	if c.portsA == nil || c.portsB == nil {
		return errMediaGone
	}
	if c.negA == nil {
		return c.answerLateCaller() // a late offer: we offer in the 200
	}
	neg := *c.negA
	neg.Codecs, neg.RecvCodecs = nil, nil
	audio := false
	for i, cd := range c.negA.Codecs {
		if cd.IsAudio() && audio {
			continue
		}
		audio = audio || cd.IsAudio()
		neg.Codecs = append(neg.Codecs, cd)
		neg.RecvCodecs = append(neg.RecvCodecs, c.negA.RecvCodecs[i])
	}
	answer, err := sdp.Answer(c.localA(c.originA), c.offerA, &neg)
	if err != nil {
		return fmt.Errorf("building answer: %w", err)
	}
	c.negA, c.a.neg, c.sdpA = &neg, &neg, answer
	if c.relay == nil {
		relay, err := media.NewRelay(c.relayConfig(), media.Leg{Ports: c.portsA, Spec: media.SpecFromSDP(&neg, c.originA)},
			media.Leg{Ports: c.portsB, Spec: media.LegSpec{}})
		if err != nil {
			c.portsA, c.portsB = nil, nil
			return err
		}
		c.relay = relay
	}
	now := c.s.clk.Now()
	c.answered, c.answeredAt = true, now
	c.a.answered, c.a.answeredAt = true, now
	c.answerInvite(200, "", answer)
	c.publishLeg(c.a, "CHANNEL_ANSWER")
	c.saveState()
	return nil
}

// Respond implements callflow.Call.
func (c *call) Respond(ctx context.Context, code int, reason string) error {
	if code < 300 || code > 699 {
		if code >= 200 && code < 300 {
			return c.Answer(ctx)
		}
		return fmt.Errorf("b2bua: respond with %d: not a final failure status", code)
	}
	return c.do(ctx, func(c *call) {
		if c.answered {
			c.hangupAll(causeOf(code))
			return
		}
		c.finalToCaller(code, reason)
	})
}

// Hangup implements callflow.Call.
func (c *call) Hangup(ctx context.Context, cause string) error {
	if cause == "" {
		cause = "NORMAL_CLEARING"
	}
	return c.do(ctx, func(c *call) { c.hangupAll(cause) })
}
