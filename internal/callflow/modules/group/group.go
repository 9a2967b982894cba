// Package group is the "group" callflow module: ring the members of a groups
// document, with the same ringing options as ring_group.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package group

import (
	"encoding/json"

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
