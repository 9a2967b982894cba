// Package answer is the "answer" callflow module: answer the call (200 OK),
// so that media flows before a later node plays or records. It takes no data
// besides skip_module.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package answer

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "answer"

// Config is the node's (empty) data.
type Config struct{}

// Refs is empty: answer names no document.
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
