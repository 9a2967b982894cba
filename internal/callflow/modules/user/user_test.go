package user_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/user"
)

const id = "0123456789abcdef0123456789abcdef"

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(user.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "defaults", Data: `{"id":"` + id + `"}`, Refs: []string{"user " + id + " id"},
			Check: func(t *testing.T, c callflow.Config) {
				u := c.(*user.Config)
				if u.Timeout != 20 || u.Strategy != "simultaneous" || u.FailOnSingleReject {
					t.Fatalf("%+v", u)
				}
			}},
		{Name: "all fields", Data: `{"id":"` + id + `","timeout":1,"strategy":"single","delay":0,"can_call_self":true,
			"can_text_self":false,"fail_on_single_reject":true,"static_invite":"sip:x@y","suppress_clid":true,
			"custom_sip_headers":{},"skip_module":true}`,
			Check: func(t *testing.T, c callflow.Config) {
				u := c.(*user.Config)
				if u.Timeout != 1 || u.Strategy != "single" || !u.FailOnSingleReject || !u.CanCallSelf {
					t.Fatalf("%+v", u)
				}
			}},
		{Name: "id missing", Data: `{"timeout":20}`, Errs: []string{"id required"}},
		{Name: "id wrong type", Data: `{"id":42}`, Errs: []string{"id type"}},
		{Name: "id too short", Data: `{"id":"0123"}`, Errs: []string{"id pattern"}},
		{Name: "weighted_random is for ring groups", Data: `{"id":"` + id + `","strategy":"weighted_random"}`, Errs: []string{"strategy enum"}},
		{Name: "timeout and delay", Data: `{"id":"` + id + `","timeout":-5,"delay":-5}`, Errs: []string{"delay minimum", "timeout minimum"}},
		{Name: "boolean as string", Data: `{"id":"` + id + `","can_call_self":"true"}`, Errs: []string{"can_call_self type"}},
		{Name: "kazoo-unknown key", Data: `{"id":"` + id + `","dial_strategy":"single"}`, Errs: []string{"dial_strategy additionalProperties"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", user.Name) }
