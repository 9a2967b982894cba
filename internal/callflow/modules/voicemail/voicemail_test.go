package voicemail_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/voicemail"
)

const id = "fedcba9876543210fedcba9876543210"

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(voicemail.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "defaults", Data: `{"id":"` + id + `"}`, Refs: []string{"vmbox " + id + " id"},
			Check: func(t *testing.T, c callflow.Config) {
				v := c.(*voicemail.Config)
				if v.Action != "compose" || v.MaxMessageLength != 500 || v.InterdigitTimeout != 2000 {
					t.Fatalf("%+v", v)
				}
			}},
		{Name: "check without a box", Data: `{"action":"check","single_mailbox_login":true}`, Refs: []string{}},
		{Name: "check a given box", Data: `{"action":"check","id":"` + id + `"}`, Refs: []string{"vmbox " + id + " id"}},
		{Name: "compose needs a box", Data: `{}`, Errs: []string{"id required"}},
		{Name: "compose needs a box, explicit", Data: `{"action":"compose","max_message_length":60}`, Errs: []string{"id required"}},
		{Name: "bad id", Data: `{"id":"1234"}`, Errs: []string{"id pattern"}},
		{Name: "bad action", Data: `{"id":"` + id + `","action":"delete"}`, Errs: []string{"action enum"}},
		{Name: "limits", Data: `{"id":"` + id + `","max_message_length":0,"interdigit_timeout":60001}`,
			Errs: []string{"interdigit_timeout maximum", "max_message_length minimum"}},
		{Name: "types", Data: `{"id":"` + id + `","max_message_length":1.5,"callerid_match_login":1}`,
			Errs: []string{"callerid_match_login type", "max_message_length type"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", voicemail.Name) }
