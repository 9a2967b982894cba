package callflow

import (
	"encoding/json"
	"strconv"

	"github.com/strowger/strowger/internal/validation"
)

// Ring is the part of a node's data that says how to ring a set of
// endpoints: the ring_group module's data, and the options the group module
// adds to its group document. It lives here rather than in one module because
// modules import only this package, and because the engine's bridge step will
// take the same description.
type Ring struct {
	Endpoints          []RingEndpoint `json:"endpoints"`
	Strategy           string         `json:"strategy"`
	Timeout            int            `json:"timeout"`
	Repeats            int            `json:"repeats"`
	Ringback           string         `json:"ringback"`
	Ringtones          *Ringtones     `json:"ringtones"`
	IgnoreForward      bool           `json:"ignore_forward"`
	FailOnSingleReject bool           `json:"fail_on_single_reject"`
	Name               string         `json:"name"`
}

// RingEndpoint is one entry of Ring.Endpoints.
type RingEndpoint struct {
	EndpointType string `json:"endpoint_type" callflow:"required"`
	ID           string `json:"id" callflow:"required"`
	Delay        int    `json:"delay"`
	Timeout      int    `json:"timeout"`
	// Weight is used by the weighted_random strategy; nil means equal weight.
	Weight *int `json:"weight"`
}

// Ringtones are Alert-Info values for internal and external calls.
type Ringtones struct {
	Internal string `json:"internal"`
	External string `json:"external"`
}

// Ring strategies (Kazoo's names).
const (
	StrategySimultaneous   = "simultaneous"
	StrategySingle         = "single"
	StrategyWeightedRandom = "weighted_random"
)

// Defaults and bounds shared by the ringing modules, in seconds.
const (
	DefaultRingTimeout = 20
	MaxRingTimeout     = 3600
)

// DefaultRing returns Kazoo's defaults: all endpoints at once for 20 s, one
// pass, call forwarding of the endpoints ignored.
func DefaultRing() Ring {
	return Ring{
		Strategy:      StrategySimultaneous,
		Timeout:       DefaultRingTimeout,
		Repeats:       1,
		IgnoreForward: true,
	}
}

// UnmarshalJSON applies the per-endpoint defaults before decoding, because
// the elements of a JSON array cannot be pre-filled by the caller.
func (e *RingEndpoint) UnmarshalJSON(b []byte) error {
	type plain RingEndpoint
	p := plain{Timeout: DefaultRingTimeout}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*e = RingEndpoint(p)
	return nil
}

// Validate records every rule r breaks; fields are relative to data.
func (r *Ring) Validate(errs validation.Errors) {
	CheckEnum(errs, "strategy", r.Strategy, StrategySimultaneous, StrategySingle, StrategyWeightedRandom)
	CheckRange(errs, "timeout", r.Timeout, 1, MaxRingTimeout)
	CheckMin(errs, "repeats", r.Repeats, 1)
	CheckMaxLength(errs, "name", r.Name, 128)
	if HasControl(r.Ringback) {
		errs.Add("ringback", "pattern", "Value must not contain control characters")
	}
	if r.Ringtones != nil {
		for f, v := range map[string]string{"ringtones.internal": r.Ringtones.Internal, "ringtones.external": r.Ringtones.External} {
			// Ringtones become Alert-Info headers.
			if HasControl(v) {
				errs.Add(f, "pattern", "Value must not contain control characters")
			}
		}
	}
	for i, e := range r.Endpoints {
		p := "endpoints." + strconv.Itoa(i)
		CheckEnum(errs, p+".endpoint_type", e.EndpointType, RefDevice, RefUser, RefGroup)
		CheckDocID(errs, p+".id", e.ID)
		CheckMin(errs, p+".delay", e.Delay, 0)
		CheckRange(errs, p+".timeout", e.Timeout, 1, MaxRingTimeout)
		if e.Weight != nil {
			CheckRange(errs, p+".weight", *e.Weight, 1, 100)
		}
	}
}

// Refs lists the endpoints' documents; the endpoint type is the document type.
func (r *Ring) Refs() []Ref {
	refs := make([]Ref, 0, len(r.Endpoints))
	for i, e := range r.Endpoints {
		refs = append(refs, Ref{Type: e.EndpointType, ID: e.ID, Field: "endpoints." + strconv.Itoa(i) + ".id"})
	}
	return refs
}
