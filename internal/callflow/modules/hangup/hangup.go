// Package hangup is the "hangup" callflow module: end the call. It takes no
// data besides skip_module.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package hangup

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "hangup"

// Cause is the hangup cause the module ends calls with.
const Cause = "NORMAL_CLEARING"

// Config is the node's (empty) data.
type Config = callflow.NoData

type module struct{}

func init() { callflow.Register(module{}) }

var _ callflow.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	return callflow.DecodeNoData(data)
}

// Exec ends the call (an unanswered caller gets the B2BUA's answer for
// NORMAL_CLEARING) and stops the flow.
func (module) Exec(ctx context.Context, call callflow.Call, _ callflow.Config) (callflow.Result, error) {
	if err := call.Hangup(ctx, Cause); err != nil {
		return callflow.Result{}, fmt.Errorf("hanging up: %w", err)
	}
	return callflow.Result{Stop: true}, nil
}
