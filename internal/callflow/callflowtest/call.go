package callflowtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
)

// Call is a scripted callflow.Call for engine and module tests: documents,
// user devices and callflows come from maps, bridges from BridgeFunc, and
// every action is recorded. Fill the exported fields before use; read the
// records with the accessor methods (safe while a flow runs).
type Call struct {
	CallID     string
	From       callflow.Caller
	Number     string
	Groups     []string
	Logger     *slog.Logger
	Docs       map[string]map[string]any // key: type + "/" + id
	Devices    map[string][]string       // user id → device ids
	Flows      map[string]*callflow.Node // callflow id → tree
	DocErr     error                     // returned by every Doc call when set
	BridgeFunc func(ctx context.Context, req callflow.BridgeRequest) (callflow.BridgeResult, error)
	// RespondErr, AnswerErr, HangupErr are returned by those methods.
	RespondErr, AnswerErr, HangupErr error

	mu        sync.Mutex
	bridges   []callflow.BridgeRequest
	answers   int
	responses []Response
	hangups   []string
	positions [][]string
}

// Response is one recorded Respond.
type Response struct {
	Code   int
	Reason string
}

var _ callflow.Call = (*Call)(nil)

// The methods below implement callflow.Call on the scripted data, or read
// what was recorded.

// DocKey is the key of Call.Docs.
func DocKey(typ, id string) string { return typ + "/" + id }

func (c *Call) ID() string              { return c.CallID }
func (c *Call) Caller() callflow.Caller { return c.From }
func (c *Call) Dialed() string          { return c.Number }
func (c *Call) Captures() []string      { return c.Groups }
func (c *Call) SetPosition(p []string) {
	c.mu.Lock()
	c.positions = append(c.positions, p)
	c.mu.Unlock()
}
func (c *Call) Positions() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.positions...)
}
func (c *Call) Answers() int { c.mu.Lock(); defer c.mu.Unlock(); return c.answers }
func (c *Call) Responses() []Response {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Response(nil), c.responses...)
}
func (c *Call) Hangups() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.hangups...)
}
func (c *Call) Bridges() []callflow.BridgeRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]callflow.BridgeRequest(nil), c.bridges...)
}

// Log returns Logger, or a logger that discards.
func (c *Call) Log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Logger
}

func (c *Call) Doc(ctx context.Context, typ, id string) (map[string]any, error) {
	if c.DocErr != nil {
		return nil, c.DocErr
	}
	d, ok := c.Docs[DocKey(typ, id)]
	if !ok {
		return nil, callflow.ErrNotFound
	}
	return d, nil
}

func (c *Call) UserDevices(ctx context.Context, userID string) ([]string, error) {
	return c.Devices[userID], nil
}

func (c *Call) Callflow(ctx context.Context, id string) (*callflow.Node, error) {
	n, ok := c.Flows[id]
	if !ok {
		return nil, callflow.ErrNotFound
	}
	return n, nil
}

// Bridge records req and returns BridgeFunc's answer (Answered without one).
func (c *Call) Bridge(ctx context.Context, req callflow.BridgeRequest) (callflow.BridgeResult, error) {
	c.mu.Lock()
	c.bridges = append(c.bridges, req)
	c.mu.Unlock()
	if c.BridgeFunc == nil {
		return callflow.BridgeResult{Outcome: callflow.Answered, Code: 200}, nil
	}
	return c.BridgeFunc(ctx, req)
}

func (c *Call) Answer(ctx context.Context) error {
	c.mu.Lock()
	c.answers++
	c.mu.Unlock()
	return c.AnswerErr
}

func (c *Call) Respond(ctx context.Context, code int, reason string) error {
	c.mu.Lock()
	c.responses = append(c.responses, Response{code, reason})
	c.mu.Unlock()
	return c.RespondErr
}

func (c *Call) Hangup(ctx context.Context, cause string) error {
	c.mu.Lock()
	c.hangups = append(c.hangups, cause)
	c.mu.Unlock()
	return c.HangupErr
}

// Exec decodes data with the named module and runs it on call, failing the
// test when the data does not validate or the module cannot execute.
func Exec(t testing.TB, module, data string, call callflow.Call) (callflow.Result, error) {
	t.Helper()
	m, ok := callflow.Lookup(module)
	if !ok {
		t.Fatalf("module %q not registered", module)
	}
	cfg, errs := m.Decode(json.RawMessage(data))
	if !errs.Empty() {
		t.Fatalf("data %s does not validate: %v", data, errs)
	}
	ex, ok := m.(callflow.Executor)
	if !ok {
		t.Fatalf("module %q has no executor", module)
	}
	return ex.Exec(context.Background(), call, cfg)
}
