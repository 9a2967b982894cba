// Package conference is the "conference" callflow module: put the caller in
// a conference, given by document id or inline configuration; with neither,
// the caller is asked for a conference number.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package conference

import (
	"encoding/json"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "conference"

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// ID is the conferences document to join.
	ID string `json:"id"`
	// Inline is a conference configuration given in the node instead of a
	// document (Kazoo's `config`); it is checked by the conference engine,
	// which owns that shape.
	Inline map[string]any `json:"config"`
	// Moderator joins the caller as a moderator.
	Moderator bool `json:"moderator"`
	// PlayEntryTone and PlayExitTone are a boolean, or a tone or media
	// string to play instead of the default; read them with EntryTone and
	// ExitTone.
	PlayEntryTone any `json:"play_entry_tone"`
	PlayExitTone  any `json:"play_exit_tone"`
	// WelcomePrompt is the greeting played on entry.
	WelcomePrompt *WelcomePrompt `json:"welcome_prompt"`
}

// WelcomePrompt configures the greeting.
type WelcomePrompt struct {
	// Play turns the greeting on or off; nil means on.
	Play *bool `json:"play"`
	// MediaID is the media document to play instead of the default greeting.
	MediaID string `json:"media_id"`
}

// EntryTone reports whether to play a tone when someone joins, and the tone
// or media to play when it is not the default.
func (c *Config) EntryTone() (play bool, tone string) { return toneOf(c.PlayEntryTone) }

// ExitTone is EntryTone for leaving.
func (c *Config) ExitTone() (play bool, tone string) { return toneOf(c.PlayExitTone) }

// toneOf reads a validated tone field; absent means play the default tone.
func toneOf(v any) (bool, string) {
	switch t := v.(type) {
	case bool:
		return t, ""
	case string:
		return t != "", t
	default:
		return true, ""
	}
}

// Refs names the conference and the welcome media, when set.
func (c *Config) Refs() []callflow.Ref {
	var refs []callflow.Ref
	if c.ID != "" {
		refs = append(refs, callflow.Ref{Type: callflow.RefConference, ID: c.ID, Field: "id"})
	}
	if c.WelcomePrompt != nil && c.WelcomePrompt.MediaID != "" {
		refs = append(refs, callflow.Ref{Type: callflow.RefMedia, ID: c.WelcomePrompt.MediaID, Field: "welcome_prompt.media_id"})
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
	if c.ID != "" {
		callflow.CheckDocID(errs, "id", c.ID)
		// Both would leave it unclear which conference the caller joins.
		if c.Inline != nil {
			errs.Add("config", "oneOf", "Give either id or config, not both")
		}
	}
	checkTone(errs, "play_entry_tone", c.PlayEntryTone)
	checkTone(errs, "play_exit_tone", c.PlayExitTone)
	if c.WelcomePrompt != nil && c.WelcomePrompt.MediaID != "" {
		callflow.CheckDocID(errs, "welcome_prompt.media_id", c.WelcomePrompt.MediaID)
	}
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}

func checkTone(errs validation.Errors, field string, v any) {
	switch t := v.(type) {
	case nil, bool:
	case string:
		if callflow.HasControl(t) {
			errs.Add(field, "pattern", "Value must not contain control characters")
		}
		callflow.CheckMaxLength(errs, field, t, 1024)
	default:
		callflow.AddType(errs, field, "boolean, string")
	}
}
