package b2bua

import (
	"context"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/dialplan"
)

// FlowRouter is the production Router: it finds the callflow of the dialed
// number in the caller's account (dialplan) and runs it (callflow.Run).
type FlowRouter struct {
	Plans *dialplan.Resolver
}

// Route implements Router. A dialed number nothing matches comes back as
// a *dialplan.NotFoundError, which the B2BUA answers with its SIPStatus
// (404).
func (r FlowRouter) Route(ctx context.Context, call callflow.Call) error {
	// Calls reach the media node only authenticated as one of the account's
	// devices, so no_match applies (Kazoo: only for the account's own devices).
	fromDevice := call.Caller().DeviceID != ""
	m, err := r.Plans.Find(ctx, call.Caller().AccountID, call.Dialed(), fromDevice)
	if err != nil {
		return fmt.Errorf("routing %q: %w", call.Dialed(), err)
	}
	if cs, ok := call.(interface{ SetCaptures([]string) }); ok {
		cs.SetCaptures(m.Captures)
	}
	call.Log().Debug("callflow found", "callflow", m.CallflowID, "match", m.Kind)
	return callflow.Run(ctx, call, m.Node)
}
