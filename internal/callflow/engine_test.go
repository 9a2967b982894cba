package callflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/validation"
)

// script is a test module whose nodes run the step named in their config;
// steps are registered per test in a table, so the module itself stays
// stateless like a real one.
type script struct{}

type step string

func (step) Refs() []callflow.Ref { return nil }

var (
	stepsMu sync.Mutex
	steps   = map[step]func(ctx context.Context, c callflow.Call) (callflow.Result, error){}
)

func (script) Name() string { return "zz_script" }
func (script) Decode(json.RawMessage) (callflow.Config, validation.Errors) {
	return step(""), nil
}
func (script) Exec(ctx context.Context, c callflow.Call, cfg callflow.Config) (callflow.Result, error) {
	stepsMu.Lock()
	f := steps[cfg.(step)]
	stepsMu.Unlock()
	if f == nil {
		return callflow.Result{}, fmt.Errorf("no step %q", cfg)
	}
	return f(ctx, c)
}

func init() { callflow.Register(script{}) }

// ran records which steps ran, in order.
type ran struct {
	mu  sync.Mutex
	seq []string
}

func (r *ran) add(s string) { r.mu.Lock(); r.seq = append(r.seq, s); r.mu.Unlock() }
func (r *ran) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string{}, r.seq...)
}

// node builds a script node whose step records its name and returns res.
func node(r *ran, name string, res callflow.Result, kids map[string]*callflow.Node) *callflow.Node {
	return nodeFunc(name, func(context.Context, callflow.Call) (callflow.Result, error) {
		r.add(name)
		return res, nil
	}, kids)
}

var stepSeq int

func nodeFunc(name string, f func(context.Context, callflow.Call) (callflow.Result, error), kids map[string]*callflow.Node) *callflow.Node {
	stepsMu.Lock()
	stepSeq++
	s := step(fmt.Sprintf("%s#%d", name, stepSeq))
	steps[s] = f
	stepsMu.Unlock()
	return &callflow.Node{Module: "zz_script", Config: s, Children: kids}
}

func kids(kv ...any) map[string]*callflow.Node {
	m := map[string]*callflow.Node{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(*callflow.Node)
	}
	return m
}

func TestRunBranches(t *testing.T) {
	stop := callflow.Result{Stop: true}
	cases := []struct {
		name      string
		tree      func(r *ran) *callflow.Node
		ran       []string
		positions [][]string
		ended     callflow.EndReason // checked when endedErr
		endedErr  bool
	}{
		{
			name:      "stop at root",
			tree:      func(r *ran) *callflow.Node { return node(r, "a", stop, kids("_", node(r, "b", stop, nil))) },
			ran:       []string{"a"},
			positions: [][]string{{}},
		},
		{
			name: "named branch",
			tree: func(r *ran) *callflow.Node {
				return node(r, "a", callflow.Result{Branch: "sip:486"},
					kids("_", node(r, "default", stop, nil), "sip:486", node(r, "busy", stop, nil)))
			},
			ran:       []string{"a", "busy"},
			positions: [][]string{{}, {"sip:486"}},
		},
		{
			name: "missing branch falls back to _",
			tree: func(r *ran) *callflow.Node {
				return node(r, "a", callflow.Result{Branch: "sip:404"}, kids("_", node(r, "default", stop, nil)))
			},
			ran:       []string{"a", "default"},
			positions: [][]string{{}, {"_"}},
		},
		{
			name: "empty branch is _",
			tree: func(r *ran) *callflow.Node {
				return node(r, "a", callflow.Result{}, kids("_", node(r, "b", callflow.Result{}, kids("_", node(r, "c", stop, nil)))))
			},
			ran:       []string{"a", "b", "c"},
			positions: [][]string{{}, {"_"}, {"_", "_"}},
		},
		{
			name: "fallbacks before _",
			tree: func(r *ran) *callflow.Node {
				return node(r, "a", callflow.Result{Branch: "sip:603", Fallbacks: []string{"sip:480", "sip:486"}},
					kids("_", node(r, "default", stop, nil), "sip:486", node(r, "busy", stop, nil)))
			},
			ran:       []string{"a", "busy"},
			positions: [][]string{{}, {"sip:486"}},
		},
		{
			name:      "no child ends the flow",
			tree:      func(r *ran) *callflow.Node { return node(r, "a", callflow.Result{Branch: "sip:486"}, nil) },
			ran:       []string{"a"},
			positions: [][]string{{}},
			endedErr:  true, ended: callflow.EndNoBranch,
		},
		{
			name: "skipped node follows _ without running",
			tree: func(r *ran) *callflow.Node {
				n := node(r, "skipped", stop, kids("_", node(r, "b", stop, nil), "sip:486", node(r, "x", stop, nil)))
				n.Skip = true
				return n
			},
			ran:       []string{"b"},
			positions: [][]string{{}, {"_"}},
		},
		{
			name: "skipped node without _ ends the flow",
			tree: func(r *ran) *callflow.Node {
				n := node(r, "skipped", stop, kids("sip:486", node(r, "x", stop, nil)))
				n.Skip = true
				return n
			},
			ran:       nil,
			positions: [][]string{{}},
			endedErr:  true, ended: callflow.EndNoBranch,
		},
		{
			name: "module error takes _",
			tree: func(r *ran) *callflow.Node {
				return nodeFunc("boom", func(context.Context, callflow.Call) (callflow.Result, error) {
					r.add("boom")
					return callflow.Result{Stop: true, Branch: "sip:486"}, errors.New("store down")
				}, kids("_", node(r, "default", stop, nil), "sip:486", node(r, "busy", stop, nil)))
			},
			ran:       []string{"boom", "default"},
			positions: [][]string{{}, {"_"}},
		},
		{
			name: "unknown module takes _",
			tree: func(r *ran) *callflow.Node {
				return &callflow.Node{Module: "no_such_module", Children: kids("_", node(r, "default", stop, nil))}
			},
			ran:       []string{"default"},
			positions: [][]string{{}, {"_"}},
		},
		{
			name: "module without executor takes _",
			tree: func(r *ran) *callflow.Node {
				return func() *callflow.Node {
					n := mustParse(`{"module":"voicemail","data":{"id":"fedcba9876543210fedcba9876543210"}}`)
					n.Children = kids("_", node(r, "default", stop, nil))
					return n
				}()
			},
			ran:       []string{"default"},
			positions: [][]string{{}, {"_"}},
		},
		{
			name: "jump replaces the tree and records the callflow id",
			tree: func(r *ran) *callflow.Node {
				target := node(r, "t", callflow.Result{}, kids("_", node(r, "t2", stop, nil)))
				return node(r, "a", callflow.Result{Jump: target, JumpID: "cf2", Branch: "_"}, kids("_", node(r, "never", stop, nil)))
			},
			ran:       []string{"a", "t", "t2"},
			positions: [][]string{{}, {"@cf2"}, {"@cf2", "_"}},
		},
		{
			name: "stop wins over jump",
			tree: func(r *ran) *callflow.Node {
				return node(r, "a", callflow.Result{Stop: true, Jump: node(r, "t", stop, nil)}, nil)
			},
			ran:       []string{"a"},
			positions: [][]string{{}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &ran{}
			call := &callflowtest.Call{CallID: "c1"}
			err := callflow.Run(context.Background(), call, tc.tree(r))
			if tc.endedErr {
				var fe *callflow.FlowEnded
				if !errors.As(err, &fe) || fe.Reason != tc.ended {
					t.Fatalf("err = %v, want FlowEnded %v", err, tc.ended)
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if got := r.get(); !slices.Equal(got, tc.ran) && !(len(got) == 0 && len(tc.ran) == 0) {
				t.Fatalf("ran %q, want %q", got, tc.ran)
			}
			if got := call.Positions(); !slices.EqualFunc(got, tc.positions, slices.Equal) {
				t.Fatalf("positions %q, want %q", got, tc.positions)
			}
		})
	}
}

// mustParse parses a test flow; a bad one panics, failing the test that
// built it.
func mustParse(s string) *callflow.Node {
	n, errs := callflow.ParseFlow(json.RawMessage(s))
	if !errs.Empty() {
		panic(fmt.Sprintf("bad test flow: %v", errs))
	}
	return n
}

func TestRunRealModules(t *testing.T) {
	const cfA, cfB = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	t.Run("answer then hangup", func(t *testing.T) {
		call := &callflowtest.Call{}
		root := mustParse(`{"module":"answer","data":{},"children":{"_":{"module":"hangup","data":{}}}}`)
		if err := callflow.Run(context.Background(), call, root); err != nil {
			t.Fatal(err)
		}
		if call.Answers() != 1 || !slices.Equal(call.Hangups(), []string{"NORMAL_CLEARING"}) {
			t.Fatalf("answers %d hangups %q", call.Answers(), call.Hangups())
		}
	})
	t.Run("response", func(t *testing.T) {
		call := &callflowtest.Call{}
		root := mustParse(`{"module":"response","data":{"code":503,"message":"Gone fishing"},"children":{"_":{"module":"hangup","data":{}}}}`)
		if err := callflow.Run(context.Background(), call, root); err != nil {
			t.Fatal(err)
		}
		if got := call.Responses(); len(got) != 1 || got[0].Code != 503 || got[0].Reason != "Gone fishing" || len(call.Hangups()) != 0 {
			t.Fatalf("responses %+v hangups %q", got, call.Hangups())
		}
	})
	t.Run("callflow loop ends at the jump limit", func(t *testing.T) {
		call := &callflowtest.Call{Flows: map[string]*callflow.Node{
			cfA: mustParse(`{"module":"callflow","data":{"id":"` + cfB + `"}}`),
			cfB: mustParse(`{"module":"callflow","data":{"id":"` + cfA + `"}}`),
		}}
		err := callflow.Run(context.Background(), call, call.Flows[cfA])
		var fe *callflow.FlowEnded
		if !errors.As(err, &fe) || fe.Reason != callflow.EndLimit || fe.SIPStatus() != 500 {
			t.Fatalf("err = %v", err)
		}
		// One position per node: the root, then one per jump up to the limit.
		if n := len(call.Positions()); n != callflow.MaxJumps+1 {
			t.Fatalf("%d nodes ran, want %d", n, callflow.MaxJumps+1)
		}
	})
	t.Run("long flows looping end at the step limit", func(t *testing.T) {
		// 40 answer nodes then a jump back: 41 steps per jump, so the step
		// bound (1024) trips before the jump bound (64).
		flow := `{"module":"callflow","data":{"id":"` + cfA + `"}}`
		for range 40 {
			flow = `{"module":"answer","data":{},"children":{"_":` + flow + `}}`
		}
		call := &callflowtest.Call{Flows: map[string]*callflow.Node{cfA: mustParse(flow)}}
		err := callflow.Run(context.Background(), call, call.Flows[cfA])
		var fe *callflow.FlowEnded
		if !errors.As(err, &fe) || fe.Reason != callflow.EndLimit {
			t.Fatalf("err = %v", err)
		}
		if n := len(call.Positions()); n != callflow.MaxSteps {
			t.Fatalf("%d nodes ran, want %d", n, callflow.MaxSteps)
		}
	})
	t.Run("missing jump target takes _", func(t *testing.T) {
		call := &callflowtest.Call{}
		root := mustParse(`{"module":"callflow","data":{"id":"` + cfA + `"},"children":{"_":{"module":"hangup","data":{}}}}`)
		if err := callflow.Run(context.Background(), call, root); err != nil || len(call.Hangups()) != 1 {
			t.Fatalf("err %v hangups %q", err, call.Hangups())
		}
	})
}

func TestRunCallerGone(t *testing.T) {
	stop := callflow.Result{Stop: true}
	t.Run("module reports hang-up", func(t *testing.T) {
		r := &ran{}
		root := nodeFunc("a", func(context.Context, callflow.Call) (callflow.Result, error) {
			r.add("a")
			return callflow.Result{}, fmt.Errorf("playing: %w", callflow.ErrHungUp)
		}, kids("_", node(r, "after", stop, nil)))
		err := callflow.Run(context.Background(), &callflowtest.Call{}, root)
		if !errors.Is(err, callflow.ErrHungUp) || !slices.Equal(r.get(), []string{"a"}) {
			t.Fatalf("err %v ran %q", err, r.get())
		}
	})
	t.Run("bridge outcome caller gone", func(t *testing.T) {
		r := &ran{}
		root := node(r, "a", callflow.Result{Bridge: &callflow.BridgeResult{Outcome: callflow.CallerGone}},
			kids("_", node(r, "after", stop, nil)))
		err := callflow.Run(context.Background(), &callflowtest.Call{}, root)
		if !errors.Is(err, callflow.ErrHungUp) || !slices.Equal(r.get(), []string{"a"}) {
			t.Fatalf("err %v ran %q", err, r.get())
		}
	})
	t.Run("context cancelled while a module blocks", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := &ran{}
		root := nodeFunc("block", func(ctx context.Context, _ callflow.Call) (callflow.Result, error) {
			cancel()
			<-ctx.Done()
			return callflow.Result{}, ctx.Err()
		}, kids("_", node(r, "after", stop, nil)))
		err := callflow.Run(ctx, &callflowtest.Call{}, root)
		if !errors.Is(err, context.Canceled) || len(r.get()) != 0 {
			t.Fatalf("err %v ran %q", err, r.get())
		}
	})
	t.Run("context cancelled between nodes", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		r := &ran{}
		root := nodeFunc("a", func(context.Context, callflow.Call) (callflow.Result, error) {
			cancel()
			return callflow.Result{}, nil
		}, kids("_", node(r, "after", stop, nil)))
		if err := callflow.Run(ctx, &callflowtest.Call{}, root); !errors.Is(err, context.Canceled) || len(r.get()) != 0 {
			t.Fatalf("err %v ran %q", err, r.get())
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		call := &callflowtest.Call{}
		if err := callflow.Run(ctx, call, node(&ran{}, "a", stop, nil)); !errors.Is(err, context.Canceled) || len(call.Positions()) != 0 {
			t.Fatalf("err %v", err)
		}
	})
}

func TestRunNilTree(t *testing.T) {
	var fe *callflow.FlowEnded
	if err := callflow.Run(context.Background(), &callflowtest.Call{}, nil); !errors.As(err, &fe) || fe.Reason != callflow.EndEmpty {
		t.Fatalf("err %v", err)
	}
}

func TestRunFlowEndedStatus(t *testing.T) {
	bridge := func(o callflow.Outcome, code int) *callflow.BridgeResult {
		return &callflow.BridgeResult{Outcome: o, Code: code}
	}
	cases := []struct {
		name   string
		last   *callflow.BridgeResult
		failed bool
		status int
		cause  string
	}{
		{"busy callee code", bridge(callflow.Busy, 486), false, 486, "USER_BUSY"},
		{"decline", bridge(callflow.Busy, 603), false, 603, "CALL_REJECTED"},
		{"busy without code", bridge(callflow.Busy, 0), false, 486, "USER_BUSY"},
		{"no answer", bridge(callflow.NoAnswer, 0), false, 480, "NO_ANSWER"},
		{"nothing registered", bridge(callflow.Unavailable, 0), false, 480, "NO_ANSWER"},
		{"callee not found", bridge(callflow.Failed, 404), false, 404, "UNALLOCATED_NUMBER"},
		{"callee failed without code", bridge(callflow.Failed, 0), false, 502, "NORMAL_TEMPORARY_FAILURE"},
		{"module failed before any bridge", nil, true, 500, "NORMAL_TEMPORARY_FAILURE"},
		{"module failed after a bridge", bridge(callflow.NoAnswer, 0), true, 480, "NO_ANSWER"},
		{"never bridged", nil, false, 480, "NO_ANSWER"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &ran{}
			res := callflow.Result{Bridge: tc.last, Branch: "x"}
			root := node(r, "a", res, nil)
			if tc.failed {
				root = node(r, "a", res, kids("_", &callflow.Node{Module: "no_such_module"}))
			}
			err := callflow.Run(context.Background(), &callflowtest.Call{}, root)
			var fe *callflow.FlowEnded
			if !errors.As(err, &fe) {
				t.Fatalf("err %v", err)
			}
			if fe.SIPStatus() != tc.status || fe.HangupCause() != tc.cause {
				t.Fatalf("status %d cause %s, want %d %s (%v)", fe.SIPStatus(), fe.HangupCause(), tc.status, tc.cause, fe)
			}
			if !strings.Contains(fe.Error(), "flow ended") {
				t.Fatalf("error text %q", fe.Error())
			}
		})
	}
	t.Run("loop", func(t *testing.T) {
		fe := &callflow.FlowEnded{Reason: callflow.EndLimit, LastBridge: bridge(callflow.Busy, 486)}
		if fe.SIPStatus() != 500 {
			t.Fatal(fe.SIPStatus())
		}
	})
}

// A module handed another module's config (a programming error in the
// engine's caller) fails with an error, never a panic.
func TestExecutorsRejectForeignConfig(t *testing.T) {
	for _, name := range []string{"device", "user", "ring_group", "group", "callflow", "response"} {
		m, _ := callflow.Lookup(name)
		ex, ok := m.(callflow.Executor)
		if !ok {
			t.Fatalf("%s has no executor", name)
		}
		if _, err := ex.Exec(context.Background(), &callflowtest.Call{}, step("x")); err == nil {
			t.Errorf("%s accepted a foreign config", name)
		}
	}
}
