package response_test

import (
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/response"
)

const media = "abcdefabcdefabcdefabcdefabcdef12"

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(response.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "defaults", Data: `{}`, Refs: []string{},
			Check: func(t *testing.T, c callflow.Config) {
				if r := c.(*response.Config); r.Code != 486 || r.Message != "" {
					t.Fatalf("%+v", r)
				}
			}},
		{Name: "all fields", Data: `{"code":603,"message":"Decline","media":"` + media + `"}`,
			Refs: []string{"media " + media + " media"}},
		{Name: "lowest and highest", Data: `{"code":400}`},
		{Name: "code too low", Data: `{"code":200}`, Errs: []string{"code minimum"}},
		{Name: "code too high", Data: `{"code":700}`, Errs: []string{"code maximum"}},
		{Name: "code as string", Data: `{"code":"486"}`, Errs: []string{"code type"}},
		{Name: "message too long", Data: `{"message":"` + strings.Repeat("é", 129) + `"}`, Errs: []string{"message maxLength"}},
		{Name: "message 128 characters", Data: `{"message":"` + strings.Repeat("é", 128) + `"}`},
		{Name: "message with CRLF", Data: `{"message":"Busy\r\nContact: <sip:evil>"}`, Errs: []string{"message pattern"}},
		{Name: "media not an id", Data: `{"media":"busy.wav"}`, Errs: []string{"media pattern"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", response.Name) }
