package callflow

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// This file is the execution contract between the callflow engine (this
// package and its modules) and the media role's B2BUA, which implements
// Call. Modules see a call only through Call: no SIP, NATS or KV.

// Executor is implemented by modules that can run on a live call. A module
// that is registered (so the API validates it) but has no Executor makes
// the engine take the node's "_" branch, as a failed module would.
type Executor interface {
	// Exec runs the node's decoded config on call. It blocks until the
	// module is done with the call (e.g. a bridge ended) and says what the
	// engine does next. An error is a failure of the platform (a store read
	// failed), not of the call: the engine logs it and takes "_".
	Exec(ctx context.Context, call Call, cfg Config) (Result, error)
}

// Result tells the engine where to go after a module ran.
type Result struct {
	// Branch is the child key to follow ("_", "sip:486", a menu digit...).
	// When that child is absent the engine follows "_"; when "_" is absent
	// too the call is ended (the B2BUA answers a caller that has not been
	// answered yet with a failure code that matches the last outcome).
	Branch string
	// Stop ends execution: the call is over (bridged and hung up, answered
	// with a final code, hung up by a module).
	Stop bool
	// Jump, when set, replaces the rest of the tree: execution continues at
	// its root (the callflow module).
	Jump *Node

	// Fields below were added with the engine; zero values keep the
	// meaning above.

	// Fallbacks are further child keys tried in order when Branch is
	// absent, before "_" (a 603 from a callee: Branch "sip:603", Fallbacks
	// ["sip:486"]).
	Fallbacks []string
	// JumpID is the id of the callflow Jump leads to, recorded in the
	// position path so another node can resume the call.
	JumpID string
	// Bridge is the outcome of the module's bridge attempt, nil when it did
	// not bridge. The engine keeps the last one so the B2BUA can answer the
	// caller with a matching status when the flow ends (FlowEnded).
	Bridge *BridgeResult
}

// Endpoint is one device to ring, resolved from device, user and group
// references by the module before it asks the call to bridge.
type Endpoint struct {
	// DeviceID is the device document to ring (its registrations are the
	// B2BUA's business).
	DeviceID string
	// Delay before ringing this endpoint, and how long it rings.
	Delay   time.Duration
	Timeout time.Duration
}

// BridgeRequest asks the call to ring endpoints and connect the caller to
// the first that answers.
type BridgeRequest struct {
	Endpoints []Endpoint
	// Strategy is StrategySimultaneous (all at once, each after its Delay)
	// or StrategySingle (one after the other in order, each for its
	// Timeout).
	Strategy string
	// Timeout bounds the whole attempt (0: the longest endpoint window).
	Timeout time.Duration
	// Repeats is how many times the whole list is tried (≥ 1).
	Repeats int
	// FailOnSingleReject ends the attempt when any endpoint rejects it.
	FailOnSingleReject bool
	// CanCallSelf keeps the caller's own device in the list; without it the
	// B2BUA drops the device the call comes from.
	CanCallSelf bool
	// SuppressCLID withholds the caller's identity from the callees.
	SuppressCLID bool
	// CustomSIPHeaders are added to the outbound INVITEs.
	CustomSIPHeaders map[string]string
}

// Outcome of a bridge attempt.
type Outcome int

const (
	// Answered: an endpoint answered and the bridged call has ended.
	Answered Outcome = iota
	// NoAnswer: everything rang until its timeout.
	NoAnswer
	// Busy: the endpoints declined (486/600/603).
	Busy
	// Unavailable: no endpoint could be rung (nothing registered, all
	// disabled, all excluded).
	Unavailable
	// Failed: the endpoints answered with other failures.
	Failed
	// CallerGone: the caller hung up (CANCEL or BYE) during the attempt.
	CallerGone
)

// String names the outcome for logs and hangup causes.
func (o Outcome) String() string {
	switch o {
	case Answered:
		return "answered"
	case NoAnswer:
		return "no_answer"
	case Busy:
		return "busy"
	case Unavailable:
		return "unavailable"
	case Failed:
		return "failed"
	case CallerGone:
		return "caller_gone"
	}
	return "unknown"
}

// BridgeResult is what a bridge attempt came to.
type BridgeResult struct {
	Outcome Outcome
	// Code is the most significant final SIP status from the callees
	// (RFC 3261 §16.7 choice: 6xx, else the lowest class), 0 when none
	// answered at all.
	Code int
}

// Caller is who placed the call, as the edge authenticated it.
type Caller struct {
	AccountID string
	// DeviceID is the authorizing device, OwnerID its user ("" if none).
	DeviceID string
	OwnerID  string
}

// Call is a live call as a module sees it. Implementations are safe for
// use by one executing flow at a time; every blocking method returns when
// ctx is done or the caller hangs up (then with CallerGone or ErrHungUp).
type Call interface {
	// ID is the caller leg's Call-ID.
	ID() string
	// Caller is the authenticated origin of the call.
	Caller() Caller
	// Dialed is the number or name the caller dialed (the Request-URI
	// user), and Captures the groups of the pattern that matched it.
	Dialed() string
	Captures() []string
	// Log is scoped to the call.
	Log() *slog.Logger

	// Doc reads a document of the call's account: ErrNotFound when absent,
	// or of another account (tenant isolation is the Call's job).
	Doc(ctx context.Context, typ, id string) (map[string]any, error)
	// UserDevices lists the enabled devices owned by a user of the account.
	UserDevices(ctx context.Context, userID string) ([]string, error)
	// Callflow loads and parses another callflow of the account (the
	// callflow module's jump).
	Callflow(ctx context.Context, id string) (*Node, error)

	// Bridge rings and, on answer, connects; it returns when the bridged
	// call has ended or the attempt failed.
	Bridge(ctx context.Context, req BridgeRequest) (BridgeResult, error)
	// Answer answers the caller (200 OK with media anchored) if not done.
	Answer(ctx context.Context) error
	// Respond ends an unanswered call with a final SIP status (reason ""
	// means the standard phrase); on an answered call it hangs up.
	Respond(ctx context.Context, code int, reason string) error
	// Hangup ends the call with a cause (Kazoo's hangup causes, e.g.
	// "NORMAL_CLEARING").
	Hangup(ctx context.Context, cause string) error
	// SetPosition records the engine's position (a path of child keys from
	// the root) in the call's checkpoint, so another node could resume.
	SetPosition(path []string)
}

// ErrNotFound is returned by Call.Doc and Call.Callflow for a document that
// is not in the call's account.
var ErrNotFound = errors.New("callflow: document not found")

// ErrHungUp is returned by Call methods once the caller has hung up.
var ErrHungUp = errors.New("callflow: caller hung up")
