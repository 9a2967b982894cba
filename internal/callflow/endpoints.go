package callflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"
)

// This file turns the references of ringing modules (device, user, group,
// ring_group) into a bridge: ResolveEndpoints expands references into
// devices, BridgeEndpoints rings them and BridgeOutcome maps what happened
// to the engine's branches.

// ResolveEndpoints expands device, user and group references into the
// devices to ring, in order, each device once (its first occurrence wins).
//
//   - device: the device itself, unless it is missing, disabled
//     ("enabled": false) or in do-not-disturb ("do_not_disturb":
//     {"enabled": true});
//   - user: every device of the user (Call.UserDevices) that is not
//     missing, disabled or in do-not-disturb, each with the reference's
//     delay and timeout, unless the user itself is missing, disabled or in
//     do-not-disturb;
//   - group: the members of the groups document ({"endpoints":{"<id>":
//     {"type":"device"|"user"}}}) in id order, each with the reference's
//     delay and timeout; a member that is itself a group is ignored, so
//     groups cannot recurse.
//
// A reference to a missing document (deleted since the callflow was saved,
// or of another account) is skipped: the other endpoints still ring. Any
// other read failure is returned.
func ResolveEndpoints(ctx context.Context, call Call, refs []RingEndpoint) ([]Endpoint, error) {
	r := resolver{call: call, seen: map[string]bool{}}
	for _, ref := range refs {
		if err := r.add(ctx, ref, true); err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

type resolver struct {
	call Call
	seen map[string]bool
	out  []Endpoint
}

func (r *resolver) add(ctx context.Context, ref RingEndpoint, groupsAllowed bool) error {
	log := r.call.Log()
	switch ref.EndpointType {
	case RefDevice:
		doc, err := r.doc(ctx, RefDevice, ref.ID)
		if doc == nil || err != nil {
			return err
		}
		r.device(ref.ID, ref)
	case RefUser:
		doc, err := r.doc(ctx, RefUser, ref.ID)
		if doc == nil || err != nil {
			return err
		}
		devices, err := r.call.UserDevices(ctx, ref.ID)
		if err != nil {
			return fmt.Errorf("listing devices of user %s: %w", ref.ID, err)
		}
		for _, d := range devices {
			// Each device's own enabled and do_not_disturb apply too.
			if dev, err := r.doc(ctx, RefDevice, d); err != nil {
				return err
			} else if dev != nil {
				r.device(d, ref)
			}
		}
	case RefGroup:
		if !groupsAllowed {
			log.Warn("ignoring a group inside a group", "group_id", ref.ID)
			return nil
		}
		doc, err := r.doc(ctx, RefGroup, ref.ID)
		if doc == nil || err != nil {
			return err
		}
		for _, m := range GroupMembers(doc) {
			m.Delay, m.Timeout = ref.Delay, ref.Timeout
			if err := r.add(ctx, m, false); err != nil {
				return err
			}
		}
	default:
		log.Warn("ignoring an endpoint of unknown type", "endpoint_type", ref.EndpointType, "id", ref.ID)
	}
	return nil
}

// doc reads a referenced document; (nil, nil) means skip it.
func (r *resolver) doc(ctx context.Context, typ, id string) (map[string]any, error) {
	doc, err := r.call.Doc(ctx, typ, id)
	if errors.Is(err, ErrNotFound) {
		r.call.Log().Warn("ringing: referenced document not found", "type", typ, "id", id)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", typ, id, err)
	}
	if enabled, ok := doc["enabled"].(bool); ok && !enabled {
		r.call.Log().Debug("ringing: skipping disabled endpoint", "type", typ, "id", id)
		return nil, nil
	}
	if DoNotDisturb(doc) {
		r.call.Log().Debug("ringing: skipping endpoint in do-not-disturb", "type", typ, "id", id)
		return nil, nil
	}
	return doc, nil
}

func (r *resolver) device(id string, ref RingEndpoint) {
	if r.seen[id] {
		return
	}
	r.seen[id] = true
	r.out = append(r.out, Endpoint{
		DeviceID: id,
		Delay:    time.Duration(ref.Delay) * time.Second,
		Timeout:  time.Duration(ref.Timeout) * time.Second,
	})
}

// DoNotDisturb reports whether a device or user document has Kazoo's
// {"do_not_disturb": {"enabled": true}}: such an endpoint is not rung (a
// user's setting silences all of the user's devices).
func DoNotDisturb(doc map[string]any) bool {
	dnd, _ := doc["do_not_disturb"].(map[string]any)
	on, _ := dnd["enabled"].(bool)
	return on
}

// GroupMembers reads the members of a groups document (Kazoo's
// {"endpoints":{"<id>":{"type":"user"|"device","weight":N}}}), in id order
// so that a single-strategy ring is deterministic. Entries that are not
// objects, have no type or a malformed id are left out.
func GroupMembers(doc map[string]any) []RingEndpoint {
	eps, _ := doc["endpoints"].(map[string]any)
	out := make([]RingEndpoint, 0, len(eps))
	for id, v := range eps {
		m, ok := v.(map[string]any)
		if !ok || !IsDocID(id) {
			continue
		}
		typ, _ := m["type"].(string)
		if typ == "" {
			continue
		}
		e := RingEndpoint{EndpointType: typ, ID: id, Timeout: DefaultRingTimeout}
		if w, ok := intValue(m["weight"]); ok {
			e.Weight = &w
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// intValue reads a JSON number decoded either as float64 or json.Number.
func intValue(v any) (int, bool) {
	switch n := v.(type) {
	case float64:
		return int(n), true
	case json.Number:
		i, err := strconv.Atoi(string(n))
		return i, err == nil
	case int:
		return n, true
	}
	return 0, false
}

// BridgeEndpoints resolves refs, asks the call to bridge them with req (its
// Endpoints are replaced) and maps the outcome with BridgeOutcome. With
// nothing to ring it does not bridge and reports Unavailable.
func BridgeEndpoints(ctx context.Context, call Call, refs []RingEndpoint, req BridgeRequest) (Result, error) {
	eps, err := ResolveEndpoints(ctx, call, refs)
	if err != nil {
		return Result{}, err
	}
	if len(eps) == 0 {
		call.Log().Info("nothing to ring", "endpoints", len(refs))
		return BridgeOutcome(BridgeResult{Outcome: Unavailable})
	}
	req.Endpoints = eps
	if req.Repeats < 1 {
		req.Repeats = 1
	}
	res, err := call.Bridge(ctx, req)
	if err != nil {
		if errors.Is(err, ErrHungUp) {
			return Result{Bridge: &BridgeResult{Outcome: CallerGone}}, err
		}
		return Result{}, fmt.Errorf("bridging: %w", err)
	}
	return BridgeOutcome(res)
}

// BridgeOutcome maps a bridge result to the engine's next step:
//   - Answered: Stop (the bridged call is over);
//   - CallerGone: Stop with ErrHungUp;
//   - otherwise the "sip:<code>" child for the callees' status, then for
//     Busy "sip:486", then "_": a busy callee takes "sip:486" even when it
//     declined with 600 or 603, unless that code has its own child.
//
// The result always carries the BridgeResult for the engine.
func BridgeOutcome(res BridgeResult) (Result, error) {
	r := Result{Bridge: &res}
	switch res.Outcome {
	case Answered:
		r.Stop = true
		return r, nil
	case CallerGone:
		r.Stop = true
		return r, ErrHungUp
	}
	if res.Code >= 100 && res.Code <= 699 {
		r.Branch = "sip:" + strconv.Itoa(res.Code)
	}
	if res.Outcome == Busy && r.Branch != "sip:486" {
		if r.Branch == "" {
			r.Branch = "sip:486"
		} else {
			r.Fallbacks = []string{"sip:486"}
		}
	}
	if r.Branch == "" {
		r.Branch = DefaultChild
	}
	return r, nil
}

// Exec rings r's endpoints, plus extra ones ahead of them (the members of a
// group document), as the ring_group and group modules do.
//
// simultaneous rings every endpoint at once (each after its delay) for at
// most r.Timeout; single rings them in order, each for its own timeout;
// weighted_random is single in an order drawn at random by weight (Kazoo's
// semantics), so heavier endpoints tend to ring first.
func (r *Ring) Exec(ctx context.Context, call Call, extra []RingEndpoint) (Result, error) {
	refs := make([]RingEndpoint, 0, len(extra)+len(r.Endpoints))
	refs = append(refs, extra...)
	refs = append(refs, r.Endpoints...)
	req := BridgeRequest{
		Strategy:           r.Strategy,
		Repeats:            r.Repeats,
		FailOnSingleReject: r.FailOnSingleReject,
	}
	switch r.Strategy {
	case StrategySingle:
	case StrategyWeightedRandom:
		weightedShuffle(refs)
		req.Strategy = StrategySingle
	default:
		req.Strategy = StrategySimultaneous
		req.Timeout = time.Duration(r.Timeout) * time.Second
	}
	return BridgeEndpoints(ctx, call, refs, req)
}

// weightedShuffle orders refs by repeated draws without replacement, each
// remaining endpoint drawn with probability weight/sum (weight 1 if unset).
func weightedShuffle(refs []RingEndpoint) {
	weight := func(e RingEndpoint) int {
		if e.Weight == nil || *e.Weight < 1 {
			return 1
		}
		return *e.Weight
	}
	for i := 0; i < len(refs)-1; i++ {
		sum := 0
		for _, e := range refs[i:] {
			sum += weight(e)
		}
		pick := rand.IntN(sum)
		for j := i; j < len(refs); j++ {
			if pick -= weight(refs[j]); pick < 0 {
				refs[i], refs[j] = refs[j], refs[i]
				break
			}
		}
	}
}
