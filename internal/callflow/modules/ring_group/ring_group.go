// Package ringgroup (directory ring_group) is the "ring_group" callflow
// module: ring a list of devices, users and groups given inline in the node.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package ringgroup

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "ring_group"

// Config is the node's data: the endpoints and how to ring them.
type Config struct {
	callflow.Ring
}

// Refs names every endpoint's document.
func (c *Config) Refs() []callflow.Ref { return c.Ring.Refs() }

type module struct{}

func init() { callflow.Register(module{}) }

var _ callflow.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{Ring: callflow.DefaultRing()}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	// endpoints is required and non-empty: a ring group with nobody to ring
	// is a mistake the author should hear about on save.
	if c.Endpoints == nil {
		callflow.AddRequired(errs, "endpoints")
	} else {
		callflow.CheckMinItems(errs, "endpoints", len(c.Endpoints), 1)
	}
	c.Validate(errs)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

// Exec rings the endpoints (devices, users' devices, groups' members) with
// the node's strategy and branches on the outcome (callflow.BridgeOutcome);
// when none of them can ring it takes "_".
func (module) Exec(ctx context.Context, call callflow.Call, cfg callflow.Config) (callflow.Result, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return callflow.Result{}, fmt.Errorf("ring_group: config is %T", cfg)
	}
	return c.Ring.Exec(ctx, call, nil)
}
