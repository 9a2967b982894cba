// Package callflow is the "callflow" callflow module: continue the call in
// another callflow document of the same account.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package callflow

import (
	"encoding/json"

	cf "github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "callflow"

// Config is the node's data.
type Config struct {
	// ID is the callflow document to branch to.
	ID string `json:"id" callflow:"required"`
}

// Refs names the target callflow.
func (c *Config) Refs() []cf.Ref {
	return []cf.Ref{{Type: cf.RefCallflow, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { cf.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (cf.Config, validation.Errors) {
	c := &Config{}
	if errs := cf.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	cf.CheckDocID(errs, "id", c.ID)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}
