package device_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	_ "github.com/strowger/strowger/internal/callflow/modules/hangup"

	"github.com/strowger/strowger/internal/callflow/modules/device"
)

const id = "3b8a6f1e2d4c4e5fa0b1c2d3e4f50617"

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(device.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "defaults", Data: `{"id":"` + id + `"}`, Refs: []string{"device " + id + " id"},
			Check: func(t *testing.T, c callflow.Config) {
				d := c.(*device.Config)
				if d.Timeout != 20 || d.Delay != 0 || d.DialStrategy != "simultaneous" || d.CanCallSelf {
					t.Fatalf("%+v", d)
				}
			}},
		{Name: "all fields", Data: `{"id":"` + id + `","timeout":3600,"delay":5,"dial_strategy":"single","can_call_self":true,
			"can_text_self":true,"static_invite":"sip:1000@pbx.example.com","suppress_clid":true,
			"custom_sip_headers":{"X-Tier":"gold"},"skip_module":false}`,
			Check: func(t *testing.T, c callflow.Config) {
				d := c.(*device.Config)
				if d.Timeout != 3600 || d.Delay != 5 || d.DialStrategy != "single" || !d.SuppressCLID || d.CustomSIPHeaders["X-Tier"] != "gold" {
					t.Fatalf("%+v", d)
				}
			}},
		{Name: "id missing", Data: `{}`, Errs: []string{"id required"}},
		{Name: "id not a doc id", Data: `{"id":"3B8A6F1E2D4C4E5FA0B1C2D3E4F50617"}`, Errs: []string{"id pattern"}},
		{Name: "id empty", Data: `{"id":""}`, Errs: []string{"id pattern"}},
		{Name: "timeout zero", Data: `{"id":"` + id + `","timeout":0}`, Errs: []string{"timeout minimum"}},
		{Name: "timeout too long", Data: `{"id":"` + id + `","timeout":3601}`, Errs: []string{"timeout maximum"}},
		{Name: "timeout string", Data: `{"id":"` + id + `","timeout":"20"}`, Errs: []string{"timeout type"}},
		{Name: "negative delay", Data: `{"id":"` + id + `","delay":-1}`, Errs: []string{"delay minimum"}},
		{Name: "bad strategy", Data: `{"id":"` + id + `","dial_strategy":"random"}`, Errs: []string{"dial_strategy enum"}},
		{Name: "header injection", Data: `{"id":"` + id + `","custom_sip_headers":{"X-A":"1\r\nVia: evil","Bad Name":"x"}}`,
			Errs: []string{"custom_sip_headers.Bad Name pattern", "custom_sip_headers.X-A pattern"}},
		{Name: "header value not a string", Data: `{"id":"` + id + `","custom_sip_headers":{"X-A":1}}`,
			Errs: []string{"custom_sip_headers.X-A type"}},
		{Name: "static_invite with CRLF", Data: `{"id":"` + id + `","static_invite":"sip:a@b\r\nX: y"}`,
			Errs: []string{"static_invite pattern"}},
		{Name: "unknown key", Data: `{"id":"` + id + `","ring":true}`, Errs: []string{"ring additionalProperties"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", device.Name) }
