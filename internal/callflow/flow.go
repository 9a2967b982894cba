package callflow

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/strowger/strowger/internal/validation"
)

// DefaultChild is the branch the engine follows when a module names no
// other, and the branch a skipped node continues on.
const DefaultChild = "_"

// Limits on a flow tree. The body of a callflow is tenant input: without a
// bound a deeply nested or very wide tree would cost a stack and CPU on every
// save and every call. Real trees are a handful of levels deep; a large IVR
// (menus of twelve options, three levels) stays under two thousand nodes.
const (
	MaxDepth = 64
	MaxNodes = 4096
)

// Node is the parsed, validated tree the engine will walk later.
type Node struct {
	Module string
	// Config is the module's decoded, validated data.
	Config Config
	// Skip is data.skip_module: the engine follows the "_" child without
	// running the module.
	Skip bool
	// Children are the branches by key ("_", "sip:486", "1", a rule id, ...);
	// nil when the node has none.
	Children map[string]*Node
}

// ValidateFlow validates a whole `flow` node tree (decoded JSON, or a
// json.RawMessage), returning errors keyed by full path ("flow.module",
// "flow.data.timeout", "flow.children.sip:486.data.id", ...) and every Ref
// found, with Field as the full path. Refs come in a stable order: depth
// first, children by sorted key.
func ValidateFlow(flow any) (refs []Ref, errs validation.Errors) {
	w := walker{errs: validation.Errors{}}
	w.walkRoot(flow)
	return w.refs, w.errs
}

// ParseFlow validates flow like ValidateFlow and returns the tree; the tree
// is nil whenever errors are returned.
func ParseFlow(flow any) (*Node, validation.Errors) {
	w := walker{errs: validation.Errors{}, build: true}
	root := w.walkRoot(flow)
	if !w.errs.Empty() {
		return nil, w.errs
	}
	return root, w.errs
}

const flowPath = "flow"

// walker carries the state of one validation: errors, refs, the node budget.
type walker struct {
	errs  validation.Errors
	refs  []Ref
	nodes int
	build bool
}

func (w *walker) walkRoot(flow any) *Node {
	switch raw := flow.(type) {
	case json.RawMessage:
		flow = w.parseRaw(raw)
	case []byte:
		flow = w.parseRaw(raw)
	}
	if !w.errs.Empty() {
		return nil
	}
	if flow == nil {
		AddRequired(w.errs, flowPath)
		return nil
	}
	return w.node(flowPath, flow, 1)
}

func (w *walker) parseRaw(raw []byte) any {
	v, err := parseJSON(raw)
	if err != nil {
		w.errs.Add(flowPath, "type", "Value is not valid JSON: "+err.Error(), "target", "object")
		return nil
	}
	return v
}

// node validates the node at path. It recurses once per level and stops at
// MaxDepth, so the Go stack is bounded whatever the input.
func (w *walker) node(path string, v any, depth int) *Node {
	if depth > MaxDepth {
		w.errs.Add(path, "maxDepth",
			fmt.Sprintf("Callflow is nested more than %d levels deep", MaxDepth), "target", MaxDepth)
		return nil
	}
	w.nodes++
	if w.nodes > MaxNodes {
		// Reported once, on the first node over budget; the walk then
		// unwinds without looking at the rest.
		if w.nodes == MaxNodes+1 {
			w.errs.Add(path, "maxNodes",
				fmt.Sprintf("Callflow has more than %d nodes", MaxNodes), "target", MaxNodes)
		}
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		AddType(w.errs, path, "object")
		return nil
	}
	n := &Node{}
	mod := w.module(path, obj)
	if mod != nil {
		n.Module = mod.Name()
	}
	n.Config, n.Skip = w.data(path, obj, mod)
	n.Children = w.children(path, obj, depth)
	if !w.build {
		return nil
	}
	return n
}

// module checks `module` and returns the registered module, or nil.
func (w *walker) module(path string, obj map[string]any) Module {
	field := validation.Join(path, "module")
	v, present := obj["module"]
	if !present {
		AddRequired(w.errs, field)
		return nil
	}
	name, ok := v.(string)
	if !ok {
		AddType(w.errs, field, "string")
		return nil
	}
	if name == "" {
		w.errs.Add(field, "minLength", "String must be at least 1 characters", "target", 1)
		return nil
	}
	mod, ok := Lookup(name)
	if !ok {
		w.errs.Add(field, "enum", "Value not found in enumerated list of values",
			"target", Names(), "cause", truncate(name, 64))
		return nil
	}
	return mod
}

// data checks `data` and, when the module is known, decodes it.
func (w *walker) data(path string, obj map[string]any, mod Module) (Config, bool) {
	field := validation.Join(path, "data")
	v, present := obj["data"]
	if !present {
		AddRequired(w.errs, field)
		return nil, false
	}
	d, ok := v.(map[string]any)
	if !ok {
		AddType(w.errs, field, "object")
		return nil, false
	}
	skip, _ := d[SkipModuleKey].(bool)
	if mod == nil {
		return nil, skip
	}
	raw, err := json.Marshal(d)
	if err != nil {
		w.errs.Add(field, "type", "Value cannot be encoded: "+err.Error(), "target", "object")
		return nil, skip
	}
	cfg, errs := mod.Decode(raw)
	if !errs.Empty() {
		w.errs.Merge(field, errs)
		return nil, skip
	}
	if cfg == nil {
		// A module must return a config with no errors; treat a broken
		// module as invalid data rather than handing the engine a nil.
		w.errs.Add(field, "invalid", "Module "+mod.Name()+" returned no configuration")
		return nil, skip
	}
	for _, r := range cfg.Refs() {
		r.Field = validation.Join(field, r.Field)
		w.refs = append(w.refs, r)
	}
	return cfg, skip
}

// children checks `children` and walks each branch in key order.
func (w *walker) children(path string, obj map[string]any, depth int) map[string]*Node {
	field := validation.Join(path, "children")
	v, present := obj["children"]
	if !present {
		return nil
	}
	kids, ok := v.(map[string]any)
	if !ok {
		AddType(w.errs, field, "object")
		return nil
	}
	if len(kids) == 0 {
		return nil
	}
	keys := make([]string, 0, len(kids))
	for k := range kids {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out map[string]*Node
	if w.build {
		out = make(map[string]*Node, len(kids))
	}
	for _, k := range keys {
		if w.nodes > MaxNodes {
			break
		}
		childPath := field + "." + k
		if !checkChildKey(w.errs, childPath, k) {
			continue
		}
		if child := w.node(childPath, kids[k], depth+1); child != nil {
			out[k] = child
		}
	}
	return out
}

const sipBranchPattern = "^sip:[1-6][0-9]{2}$"

// checkChildKey applies the rules on branch names: any non-empty string is a
// branch, but a "sip:" branch must name a SIP response code (100–699), since
// a typo there would silently never match.
func checkChildKey(errs validation.Errors, path, key string) bool {
	if key == "" {
		errs.Add(path, "minLength", "Branch name must be at least 1 characters", "target", 1)
		return false
	}
	if code, isSIP := strings.CutPrefix(key, "sip:"); isSIP {
		if len(code) != 3 || code[0] < '1' || code[0] > '6' ||
			code[1] < '0' || code[1] > '9' || code[2] < '0' || code[2] > '9' {
			AddPattern(errs, path, sipBranchPattern)
			return false
		}
	}
	return true
}

// truncate keeps error details small when a client sends a huge value.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
