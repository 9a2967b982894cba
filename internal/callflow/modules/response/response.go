// Package response is the "response" callflow module: answer the caller with
// a SIP final response (optionally after playing media) and end the call.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package response

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "response"

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// Code is the SIP response code, 400–699 (default 486 Busy Here).
	Code int `json:"code"`
	// Message is the reason phrase; empty means the standard phrase.
	Message string `json:"message"`
	// Media is a media document played (as early media) before responding.
	Media string `json:"media"`
}

// Refs names the media, when set.
func (c *Config) Refs() []callflow.Ref {
	if c.Media == "" {
		return nil
	}
	return []callflow.Ref{{Type: callflow.RefMedia, ID: c.Media, Field: "media"}}
}

type module struct{}

func init() { callflow.Register(module{}) }

var _ callflow.Executor = module{}

func (module) Name() string { return Name }

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{Code: 486}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	// Only failure responses: a 1xx or 2xx here would leave the dialog in a
	// state the module does not manage, and 3xx redirects are another module.
	callflow.CheckRange(errs, "code", c.Code, 400, 699)
	callflow.CheckMaxLength(errs, "message", c.Message, 128)
	// The message becomes the SIP reason phrase: a CR or LF would end the
	// status line and let tenant data write headers.
	if callflow.HasControl(c.Message) {
		errs.Add("message", "pattern", "Value must not contain control characters")
	}
	if c.Media != "" {
		callflow.CheckDocID(errs, "media", c.Media)
	}
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

// Exec ends the call with the node's status and reason (on a call already
// answered the B2BUA hangs up instead) and stops the flow. Playing media
// first needs the play engine (a later issue): until then media is skipped.
func (module) Exec(ctx context.Context, call callflow.Call, cfg callflow.Config) (callflow.Result, error) {
	c, ok := cfg.(*Config)
	if !ok {
		return callflow.Result{}, fmt.Errorf("response: config is %T", cfg)
	}
	if err := call.Respond(ctx, c.Code, c.Message); err != nil {
		return callflow.Result{}, fmt.Errorf("responding %d: %w", c.Code, err)
	}
	return callflow.Result{Stop: true}, nil
}
