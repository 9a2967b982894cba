// Package voicemail is the "voicemail" callflow module: leave a message in a
// voicemail box (compose) or listen to messages (check).
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package voicemail

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "voicemail"

// Actions.
const (
	ActionCompose = "compose"
	ActionCheck   = "check"
)

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// ID is the vmbox document. Required to compose; when checking without
	// it, the caller is asked for a mailbox number.
	ID string `json:"id"`
	// Action is compose (default) or check.
	Action string `json:"action"`
	// MaxMessageLength caps a message, in seconds (default 500).
	MaxMessageLength int `json:"max_message_length"`
	// InterdigitTimeout is the wait between DTMF digits, in milliseconds
	// (default 2000).
	InterdigitTimeout int `json:"interdigit_timeout"`
	// SingleMailboxLogin logs the caller in to their own box without asking
	// for a mailbox number.
	SingleMailboxLogin bool `json:"single_mailbox_login"`
	// CallerIDMatchLogin logs in the owner whose caller ID matches the box.
	CallerIDMatchLogin bool `json:"callerid_match_login"`
}

// Refs names the vmbox, when set.
func (c *Config) Refs() []callflow.Ref {
	if c.ID == "" {
		return nil
	}
	return []callflow.Ref{{Type: callflow.RefVMBox, ID: c.ID, Field: "id"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{Action: ActionCompose, MaxMessageLength: 500, InterdigitTimeout: 2000}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	callflow.CheckEnum(errs, "action", c.Action, ActionCompose, ActionCheck)
	switch {
	case c.ID != "":
		callflow.CheckDocID(errs, "id", c.ID)
	case c.Action == ActionCompose:
		callflow.AddRequired(errs, "id")
	}
	// A day of audio is far beyond any real message; the bound keeps one
	// caller from filling the object store.
	callflow.CheckRange(errs, "max_message_length", c.MaxMessageLength, 1, 86400)
	callflow.CheckRange(errs, "interdigit_timeout", c.InterdigitTimeout, 1, 60000)
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}
