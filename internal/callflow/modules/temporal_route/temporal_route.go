// Package temporalroute (directory temporal_route) is the "temporal_route"
// callflow module: time-of-day routing. The node's children are keyed by
// temporal rule id (or rule set id); the first rule that matches the current
// time picks the branch, "_" is taken when none does. With an action, the
// node instead lets a caller force rules on or off (manual override).
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package temporalroute

import (
	"encoding/json"
	"strconv"
	"time"

	// The time zone database is embedded so that a timezone accepted on one
	// node loads on every other, whatever the host has installed.
	_ "time/tzdata"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "temporal_route"

// Manual override actions.
const (
	ActionMenu    = "menu"
	ActionEnable  = "enable"
	ActionDisable = "disable"
	ActionReset   = "reset"
)

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// Rules are the temporal_rules documents to evaluate, in order.
	Rules []string `json:"rules"`
	// RuleSet is a temporal_rules_sets document whose rules are evaluated.
	RuleSet string `json:"rule_set"`
	// Timezone is an IANA zone name; empty means the account's zone.
	Timezone string `json:"timezone"`
	// Action, when set, makes the node a manual override instead of a route.
	Action string `json:"action"`
	// InterdigitTimeout is the wait between DTMF digits in the override
	// menu, in milliseconds; nil means the engine default.
	InterdigitTimeout *int `json:"interdigit_timeout"`

	// Location is Timezone loaded, nil when Timezone is empty; decoded once
	// here so no call pays for it.
	Location *time.Location `json:"-"`
}

// Refs names every rule, then the rule set.
func (c *Config) Refs() []callflow.Ref {
	refs := make([]callflow.Ref, 0, len(c.Rules)+1)
	for i, id := range c.Rules {
		refs = append(refs, callflow.Ref{Type: callflow.RefTemporalRule, ID: id, Field: "rules." + strconv.Itoa(i)})
	}
	if c.RuleSet != "" {
		refs = append(refs, callflow.Ref{Type: callflow.RefTemporalRulesSet, ID: c.RuleSet, Field: "rule_set"})
	}
	return refs
}

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	for i, id := range c.Rules {
		callflow.CheckDocID(errs, "rules."+strconv.Itoa(i), id)
	}
	if c.RuleSet != "" {
		callflow.CheckDocID(errs, "rule_set", c.RuleSet)
	}
	if c.Timezone != "" {
		// "Local" is whatever the host runs in, so it would route the same
		// callflow differently on different nodes.
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil || c.Timezone == "Local" {
			errs.Add("timezone", "enum", "Value is not a known time zone", "cause", c.Timezone)
		} else {
			c.Location = loc
		}
	}
	if c.Action != "" {
		callflow.CheckEnum(errs, "action", c.Action, ActionMenu, ActionEnable, ActionDisable, ActionReset)
	}
	if c.InterdigitTimeout != nil {
		callflow.CheckRange(errs, "interdigit_timeout", *c.InterdigitTimeout, 1, 60000)
	}
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}
