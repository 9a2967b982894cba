// Package play is the "play" callflow module: play a media document or an
// HTTP(S) URL to the caller.
//
// It imports only internal/callflow and internal/validation; it is composed
// into the binary by modules/all.
package play

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

// Name is the module's name in a flow node.
const Name = "play"

// idPattern documents what `id` accepts, for the pattern error.
const idPattern = "^([0-9a-f]{32}|https?://.+)$"

// Config is the node's data, with Kazoo's field names.
type Config struct {
	// ID is a media document id or an http(s) URL; see IsURL.
	ID string `json:"id" callflow:"required"`
	// Answer answers the call before playing (otherwise early media).
	Answer bool `json:"answer"`
	// LoopCount is how many times to play; nil means once.
	LoopCount *int `json:"loop_count"`
	// EndlessPlayback repeats until the caller hangs up or presses a
	// terminator.
	EndlessPlayback bool `json:"endless_playback"`
	// Terminators are the DTMF keys that stop playback (0-9, *, #).
	Terminators []string `json:"terminators"`
}

// IsURL reports whether ID is a URL rather than a media document.
func (c *Config) IsURL() bool { return isURL(c.ID) }

// Refs names the media document; a URL is not a document of the account.
func (c *Config) Refs() []callflow.Ref {
	if c.IsURL() {
		return nil
	}
	return []callflow.Ref{{Type: callflow.RefMedia, ID: c.ID, Field: "id"}}
}

func isURL(s string) bool {
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

type module struct{}

func init() { callflow.Register(module{}) }

func (module) Name() string { return Name }

var dtmf = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"}

func (module) Decode(data json.RawMessage) (callflow.Config, validation.Errors) {
	c := &Config{}
	if errs := callflow.DecodeData(data, c); !errs.Empty() {
		return nil, errs
	}
	errs := validation.Errors{}
	if isURL(c.ID) {
		u, err := url.Parse(c.ID)
		if err != nil || u.Host == "" || callflow.HasControl(c.ID) {
			callflow.AddPattern(errs, "id", idPattern)
		}
		callflow.CheckMaxLength(errs, "id", c.ID, 2048)
	} else if !callflow.IsDocID(c.ID) {
		callflow.AddPattern(errs, "id", idPattern)
	}
	if c.LoopCount != nil {
		callflow.CheckMin(errs, "loop_count", *c.LoopCount, 0)
	}
	for i, k := range c.Terminators {
		callflow.CheckEnum(errs, "terminators."+strconv.Itoa(i), k, dtmf...)
	}
	if !errs.Empty() {
		return nil, errs
	}
	return c, nil
}
