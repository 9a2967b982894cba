// Package hangup is the "hangup" callflow module: end the call. It takes no
// data besides skip_module.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package hangup

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "hangup"

// Config is the node's (empty) data.
type Config struct{}

// Refs is empty: hangup names no document.
func (*Config) Refs() []callflow.Ref { return nil }

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	return c, nil
}
