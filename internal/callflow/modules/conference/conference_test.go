package conference_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/conference"
)

const (
	id    = "cccccccccccccccccccccccccccccc01"
	media = "abcdefabcdefabcdefabcdefabcdef12"
)

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(conference.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "ask for a number", Data: `{}`, Refs: []string{},
			Check: func(t *testing.T, c callflow.Config) {
				cf := c.(*conference.Config)
				if play, tone := cf.EntryTone(); !play || tone != "" {
					t.Fatalf("entry tone = %v %q", play, tone)
				}
			}},
		{Name: "document", Data: `{"id":"` + id + `","moderator":true,"welcome_prompt":{"media_id":"` + media + `"}}`,
			Refs: []string{"conference " + id + " id", "media " + media + " welcome_prompt.media_id"}},
		{Name: "inline", Data: `{"config":{"name":"x","anything":[1,2]},"play_entry_tone":"tone_stream://%(200,0,500)","play_exit_tone":false}`,
			Refs: []string{},
			Check: func(t *testing.T, c callflow.Config) {
				cf := c.(*conference.Config)
				if play, tone := cf.EntryTone(); !play || tone != "tone_stream://%(200,0,500)" {
					t.Fatalf("entry tone = %v %q", play, tone)
				}
				if play, _ := cf.ExitTone(); play {
					t.Fatal("exit tone on")
				}
				if cf.Inline["name"] != "x" {
					t.Fatalf("config = %v", cf.Inline)
				}
			}},
		{Name: "both id and config", Data: `{"id":"` + id + `","config":{}}`, Errs: []string{"config oneOf"}},
		{Name: "bad id", Data: `{"id":"room-1"}`, Errs: []string{"id pattern"}},
		{Name: "config not an object", Data: `{"config":"room"}`, Errs: []string{"config type"}},
		{Name: "tone of wrong type", Data: `{"play_entry_tone":1,"play_exit_tone":["x"]}`,
			Errs: []string{"play_entry_tone type", "play_exit_tone type"}},
		{Name: "tone with newline", Data: `{"play_entry_tone":"a\nb"}`, Errs: []string{"play_entry_tone pattern"}},
		{Name: "welcome prompt", Data: `{"welcome_prompt":{"play":"yes","media":"x"}}`,
			Errs: []string{"welcome_prompt.media additionalProperties", "welcome_prompt.play type"}},
		{Name: "welcome media id", Data: `{"welcome_prompt":{"media_id":"hello.wav"}}`, Errs: []string{"welcome_prompt.media_id pattern"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", conference.Name) }
