// Package answer is the "answer" callflow module: answer the call (200 OK),
// so that media flows before a later node plays or records. It takes no data
// besides skip_module.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package answer

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "answer"

// Config is the node's (empty) data.
type Config = callflow.NoData

type module struct{}

func init() { callflow.Register(module{}) }

var _ callflow.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	return callflow.DecodeNoData(data)
}

// Exec answers the caller (nothing happens if it is answered already) and
// continues on "_".
func (module) Exec(ctx context.Context, call callflow.Call, _ callflow.Config) (callflow.Result, error) {
	if err := call.Answer(ctx); err != nil {
		return callflow.Result{}, fmt.Errorf("answering: %w", err)
	}
	return callflow.Result{Branch: callflow.DefaultChild}, nil
}
