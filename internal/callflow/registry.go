// Package callflow is the callflow module registry and the validator of
// callflow trees (the `flow` of a Kazoo callflow document).
//
// Each callflow action ("device", "voicemail", "menu", ...) is a Module in its
// own package under modules/, registered by name in that package's init. The
// api role calls ValidateFlow when a callflow is saved, so a bad tree is
// rejected with Kazoo-shaped field errors; the engine calls ParseFlow and walks
// the resulting Node tree, each node carrying its module's decoded, typed
// Config.
//
// Adding a module: create modules/<name>/ with a Config struct using Kazoo's
// field names (tag required fields `callflow:"required"`), a Decode that
// pre-fills the defaults, calls DecodeData and then the Check helpers, an init
// that calls Register, a README whose JSON examples a test validates
// (callflowtest.CheckREADME), a table test (callflowtest.Run), and one blank
// import in modules/all.
//
// Who may import it: the api role, the media role's engine, and module
// packages. It imports only the standard library and internal/validation, so
// modules see nothing but this package (a test enforces that).
package callflow

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"sync"

	"github.com/strowger/strowger/internal/validation"
)

// Module is one callflow action, registered by name at init.
//
// A Module value is shared by every callflow and every concurrent call, so it
// holds no per-node or per-call state: everything a node needs is in the
// Config that Decode returns. That is also why execution can be added later as
// one more method taking (call, Config) without changing how modules register
// or how trees are validated.
type Module interface {
	// Name is the value of `module` in a flow node, e.g. "ring_group".
	Name() string
	// Decode strictly decodes a node's `data` (unknown keys rejected, except
	// `skip_module` which every module accepts), validates it and returns the
	// typed config. Errors are validation.Errors keyed by field path relative
	// to data (e.g. "timeout": {"minimum": ...}). Config is nil when errors
	// are returned.
	Decode(data json.RawMessage) (Config, validation.Errors)
}

// Config is a module's decoded data. Refs lists the documents the node points
// at, so the API can check they exist in the same account (tenant isolation).
type Config interface {
	Refs() []Ref
}

// Ref is one document a node refers to.
type Ref struct {
	// Type is the document type: one of the Ref* constants.
	Type string
	// ID is the document id (32 lowercase hex characters).
	ID string
	// Field is the path of the id within data (e.g. "id", "endpoints.2.id")
	// when a Config returns it, and the full path (e.g. "flow.children._.data.id")
	// when ValidateFlow returns it, so a missing document is reported on the
	// field that names it.
	Field string
}

// Document types a Ref may name.
const (
	RefDevice           = "device"
	RefUser             = "user"
	RefVMBox            = "vmbox"
	RefMenu             = "menu"
	RefCallflow         = "callflow"
	RefGroup            = "group"
	RefTemporalRule     = "temporal_rule"
	RefTemporalRulesSet = "temporal_rules_set"
	RefConference       = "conference"
	RefMedia            = "media"
)

// moduleName is the shape of a registrable name: Kazoo's action names are
// lowercase words joined by underscores, and the flow schema caps `module` at
// 64 characters.
var moduleName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// The registry is written only from init functions and read afterwards; the
// lock makes that safe even if a test registers while others look up.
var (
	registryMu sync.RWMutex
	registry   = map[string]Module{}
)

// Register adds m to the registry. It is meant for init functions and does
// nothing else; it panics on an invalid or duplicate name because either is a
// programming error that must stop the binary at start-up, not at call time.
func Register(m Module) {
	if m == nil {
		panic("callflow: Register of a nil module")
	}
	name := m.Name()
	if !moduleName.MatchString(name) {
		panic(fmt.Sprintf("callflow: invalid module name %q", name))
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("callflow: module %q registered twice", name))
	}
	registry[name] = m
}

// Lookup returns the module registered under name.
func Lookup(name string) (Module, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	m, ok := registry[name]
	return m, ok
}

// Names returns the registered module names, sorted.
func Names() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
