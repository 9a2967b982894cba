package callflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Bounds on one execution. A callflow may jump into another callflow (the
// callflow module) and so into itself: a tenant who points A at B and B at A
// would otherwise spin a goroutine for ever. Real flows take a handful of
// steps; an IVR that loops back to itself on "repeat" costs one jump per
// caller key press, so these bounds stop only broken flows.
const (
	// MaxSteps is the number of nodes (run or skipped) one call may pass.
	MaxSteps = 1024
	// MaxJumps is the number of callflow-to-callflow jumps one call may take.
	MaxJumps = 64
)

// JumpPositionPrefix starts the first element of a position path after a
// jump: "@<callflow id>" names the callflow whose flow is the new root (see
// Result.JumpID), so whoever resumes a call can reload it.
const JumpPositionPrefix = "@"

// EndReason says why a flow ended without a module stopping it.
type EndReason int

const (
	// EndNoBranch: the branch a node took (and "_") has no child.
	EndNoBranch EndReason = iota
	// EndLimit: MaxSteps or MaxJumps was reached (a callflow loop).
	EndLimit
	// EndEmpty: Run was given no tree.
	EndEmpty
)

// String names the reason for logs.
func (r EndReason) String() string {
	switch r {
	case EndNoBranch:
		return "no_branch"
	case EndLimit:
		return "limit"
	case EndEmpty:
		return "empty"
	}
	return "unknown"
}

// FlowEnded is the error Run returns when the tree ran out without a
// module ending the call (no Result.Stop). The call may still be waiting
// for a final answer, or may have been answered (by the answer module); the
// B2BUA decides: an unanswered caller gets SIPStatus(), an answered call is
// hung up with HangupCause().
type FlowEnded struct {
	Reason EndReason
	// Path is the position of the last node reached (see Call.SetPosition).
	Path []string
	// Module is the module of the last node reached ("" for EndEmpty).
	Module string
	// LastBridge is the result of the last bridge attempt of the flow, nil
	// when no module bridged (Result.Bridge).
	LastBridge *BridgeResult
	// Failed is true when the last node reached failed without bridging: a
	// module with no executor, or a platform error inside a module.
	Failed bool
}

// Error describes the end.
func (e *FlowEnded) Error() string {
	s := "callflow: flow ended (" + e.Reason.String() + ")"
	if e.Module != "" {
		s += " at " + e.Module
	}
	if e.LastBridge != nil {
		s += " after bridge " + e.LastBridge.Outcome.String()
		if e.LastBridge.Code != 0 {
			s += " " + strconv.Itoa(e.LastBridge.Code)
		}
	}
	return s
}

// SIPStatus is the final response the B2BUA sends a caller that has not been
// answered when the flow ended:
//   - a callflow loop (EndLimit) or a platform failure (Failed): 500;
//   - after a bridge whose callees answered 4xx–6xx: that status, so a busy
//     callee's 486 or a 603 Decline reaches the caller as such;
//   - after a bridge without such a status: 486 (Busy), 480 (NoAnswer,
//     Unavailable), 502 (Failed: the callees failed in other ways);
//   - a flow that never bridged (e.g. only skipped nodes, or a module that
//     is not executable yet): 480 Temporarily Unavailable.
func (e *FlowEnded) SIPStatus() int {
	if e.Reason == EndLimit || (e.Failed && e.LastBridge == nil) {
		return 500
	}
	if b := e.LastBridge; b != nil {
		if b.Code >= 400 && b.Code <= 699 {
			return b.Code
		}
		switch b.Outcome {
		case Busy:
			return 486
		case Failed:
			return 502
		}
	}
	return 480
}

// HangupCause is the Kazoo hangup cause matching SIPStatus, for the CDR of a
// call the B2BUA ends after the flow ended.
func (e *FlowEnded) HangupCause() string {
	switch code := e.SIPStatus(); {
	case code == 486 || code == 600:
		return "USER_BUSY"
	case code == 603:
		return "CALL_REJECTED"
	case code == 480 || code == 408:
		return "NO_ANSWER"
	case code == 404:
		return "UNALLOCATED_NUMBER"
	default:
		return "NORMAL_TEMPORARY_FAILURE"
	}
}

// Run executes the flow rooted at root on call, from the root down, and
// returns when a module stops it, the tree runs out, the caller hangs up or
// ctx is done. What it returns tells the B2BUA what is left to do:
//
//   - nil: a module ended the call (Result.Stop: bridged and hung up,
//     responded with a final status, hung up). If the call is somehow still
//     up, hang it up normally.
//   - ErrHungUp (errors.Is): the caller left during the flow; nothing to
//     answer.
//   - ctx.Err() (errors.Is context.Canceled / DeadlineExceeded): the B2BUA
//     stopped the flow itself.
//   - *FlowEnded (errors.As): the flow ran out without a module ending the
//     call; answer the caller with SIPStatus() or, when it was answered,
//     hang up with HangupCause().
//
// For every node it calls call.SetPosition with the node's path (child keys
// from the current root), then skips the node (skip_module), or runs the
// node's module Executor and follows its Result: Stop ends the flow, Jump
// continues at another tree, else the child named by Branch, then each of
// Fallbacks, then "_", the first that exists. A module that has no Executor
// or returns an error (other than a hang-up) counts as failed and the flow
// follows "_".
func Run(ctx context.Context, call Call, root *Node) error {
	log := call.Log()
	if root == nil {
		return &FlowEnded{Reason: EndEmpty}
	}
	var (
		node       = root
		path       = []string{}
		steps      int
		jumps      int
		lastBridge *BridgeResult
		failed     bool
	)
	ended := func(reason EndReason) error {
		return &FlowEnded{Reason: reason, Path: path, Module: node.Module, LastBridge: lastBridge, Failed: failed}
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		steps++
		if steps > MaxSteps {
			log.Error("callflow step limit reached, ending the flow", "steps", MaxSteps, "module", node.Module, "path", path)
			return ended(EndLimit)
		}
		// The caller sees its own copy: the engine goes on appending.
		call.SetPosition(append([]string(nil), path...))

		if node.Skip {
			log.Debug("skipping callflow node", "module", node.Module, "path", path)
			next, key := child(node, DefaultChild)
			if next == nil {
				return ended(EndNoBranch)
			}
			node, path = next, append(path, key)
			continue
		}

		res, err := execNode(ctx, call, node)
		if res.Bridge != nil {
			b := *res.Bridge
			lastBridge = &b
		}
		failed = false
		switch {
		case errors.Is(err, ErrHungUp) || (res.Bridge != nil && res.Bridge.Outcome == CallerGone):
			log.Debug("caller hung up during callflow", "module", node.Module, "path", path)
			return ErrHungUp
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			log.Error("callflow module failed, following the default branch", "module", node.Module, "path", path, "err", err)
			failed = true
			res = Result{}
		}

		if res.Stop {
			return nil
		}
		if res.Jump != nil {
			jumps++
			if jumps > MaxJumps {
				log.Error("callflow jump limit reached (callflow loop?), ending the flow",
					"jumps", MaxJumps, "module", node.Module, "path", path)
				return ended(EndLimit)
			}
			node, path = res.Jump, []string{}
			if res.JumpID != "" {
				path = append(path, JumpPositionPrefix+res.JumpID)
			}
			continue
		}
		next, key := child(node, res.Branch, res.Fallbacks...)
		if next == nil {
			log.Debug("callflow ended: no branch to follow", "module", node.Module, "branch", res.Branch, "path", path)
			return ended(EndNoBranch)
		}
		node, path = next, append(path, key)
	}
}

// execNode runs one node's module, turning a missing module or executor
// into an error so Run treats it like a failed module.
func execNode(ctx context.Context, call Call, node *Node) (Result, error) {
	mod, ok := Lookup(node.Module)
	if !ok {
		return Result{}, fmt.Errorf("module %q is not registered", node.Module)
	}
	ex, ok := mod.(Executor)
	if !ok {
		return Result{}, fmt.Errorf("module %q cannot run calls yet", node.Module)
	}
	return ex.Exec(ctx, call, node.Config)
}

// child returns the first existing child among branch (empty means "_"),
// then fallbacks, then "_", with its key.
func child(n *Node, branch string, fallbacks ...string) (*Node, string) {
	if branch == "" {
		branch = DefaultChild
	}
	if c, ok := n.Children[branch]; ok {
		return c, branch
	}
	for _, k := range fallbacks {
		if c, ok := n.Children[k]; ok {
			return c, k
		}
	}
	if c, ok := n.Children[DefaultChild]; ok {
		return c, DefaultChild
	}
	return nil, ""
}
