// Package group is the "group" callflow module: ring the members of a groups
// document, with the same ringing options as ring_group.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package group

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "group"

// Config is the node's data: the group document and how to ring it.
// Endpoints, when given, are rung in addition to the group's members.
type Config struct {
	// ID is the groups document whose endpoints ring.
	ID string `json:"id" callflow:"required"`
	callflow.Ring
}

// Refs names the group, then any inline endpoints.
func (c *Config) Refs() []callflow.Ref {
	return append([]callflow.Ref{{Type: callflow.RefGroup, ID: c.ID, Field: "id"}}, c.Ring.Refs()...)
}

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
	callflow.CheckDocID(errs, "id", c.ID)
	c.Validate(errs)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

// Exec rings the members of the groups document (each with the node's
// timeout), then the node's inline endpoints, with the node's strategy, and
// branches on the outcome (callflow.BridgeOutcome). A missing group rings
// only the inline endpoints; with nothing to ring it takes "_".
func (module) Exec(ctx context.Context, call callflow.Call, cfg callflow.Config) (callflow.Result, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return callflow.Result{}, fmt.Errorf("group: config is %T", cfg)
	}
	group := callflow.RingEndpoint{EndpointType: callflow.RefGroup, ID: c.ID, Timeout: c.Timeout}
	return c.Ring.Exec(ctx, call, []callflow.RingEndpoint{group})
}
