// Package menu is the "menu" callflow module: an IVR. The menu document
// holds the prompts and timings; the options are the node's children ("0"–"9",
// "*", "#", "timeout", "max_retries", "_").
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package menu

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "menu"

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// ID is the menu document.
	ID string `json:"id" callflow:"required"`
	// InterdigitTimeout, in milliseconds, overrides the menu document's;
	// nil keeps the document's value.
	InterdigitTimeout *int `json:"interdigit_timeout"`
}

// Refs names the menu.
func (c *Config) Refs() []callflow.Ref {
	return []callflow.Ref{{Type: callflow.RefMenu, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	callflow.CheckDocID(errs, "id", c.ID)
	if c.InterdigitTimeout != nil {
		callflow.CheckRange(errs, "interdigit_timeout", *c.InterdigitTimeout, 1, 60000)
	}
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}
