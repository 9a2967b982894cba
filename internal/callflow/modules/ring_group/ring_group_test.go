package ringgroup_test

import (
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	ringgroup "github.com/strowger/strowger/internal/callflow/modules/ring_group"
)

const (
	u = "0123456789abcdef0123456789abcdef"
	d = "3b8a6f1e2d4c4e5fa0b1c2d3e4f50617"
)

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(ringgroup.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "defaults", Data: `{"endpoints":[{"endpoint_type":"user","id":"` + u + `"},{"endpoint_type":"device","id":"` + d + `","timeout":7}]}`,
			Refs: []string{"user " + u + " endpoints.0.id", "device " + d + " endpoints.1.id"},
			Check: func(t *testing.T, c callflow.Config) {
				r := c.(*ringgroup.Config)
				if r.Strategy != "simultaneous" || r.Timeout != 20 || r.Repeats != 1 || !r.IgnoreForward ||
					r.Endpoints[0].Timeout != 20 || r.Endpoints[0].Delay != 0 || r.Endpoints[1].Timeout != 7 || r.Endpoints[0].Weight != nil {
					t.Fatalf("%+v", r)
				}
			}},
		{Name: "all fields", Data: `{"endpoints":[{"endpoint_type":"group","id":"` + u + `","delay":3,"timeout":30,"weight":50}],
			"strategy":"weighted_random","timeout":90,"repeats":3,"ringback":"%(2000,4000,440,480)","ringtones":{"internal":"internal-ring","external":"<http://x/ring.wav>"},
			"ignore_forward":false,"fail_on_single_reject":true,"name":"Sales"}`,
			Refs: []string{"group " + u + " endpoints.0.id"},
			Check: func(t *testing.T, c callflow.Config) {
				r := c.(*ringgroup.Config)
				if r.IgnoreForward || r.Repeats != 3 || *r.Endpoints[0].Weight != 50 || r.Ringtones.External == "" {
					t.Fatalf("%+v", r)
				}
			}},
		{Name: "endpoints missing", Data: `{}`, Errs: []string{"endpoints required"}},
		{Name: "endpoints empty", Data: `{"endpoints":[]}`, Errs: []string{"endpoints minItems"}},
		{Name: "endpoints not a list", Data: `{"endpoints":{"x":1}}`, Errs: []string{"endpoints type"}},
		{Name: "endpoint fields required", Data: `{"endpoints":[{}]}`,
			Errs: []string{"endpoints.0.endpoint_type required", "endpoints.0.id required"}},
		{Name: "endpoint rules", Data: `{"endpoints":[{"endpoint_type":"user","id":"` + u + `"},
			{"endpoint_type":"resource","id":"x","delay":-1,"timeout":0,"weight":101,"extra":1}]}`,
			Errs: []string{"endpoints.1.extra additionalProperties"}},
		{Name: "endpoint values", Data: `{"endpoints":[{"endpoint_type":"user","id":"` + u + `"},
			{"endpoint_type":"resource","id":"x","delay":-1,"timeout":0,"weight":101}]}`,
			Errs: []string{"endpoints.1.delay minimum", "endpoints.1.endpoint_type enum", "endpoints.1.id pattern",
				"endpoints.1.timeout minimum", "endpoints.1.weight maximum"}},
		{Name: "group rules", Data: `{"endpoints":[{"endpoint_type":"user","id":"` + u + `"}],"strategy":"round_robin","timeout":4000,"repeats":0}`,
			Errs: []string{"repeats minimum", "strategy enum", "timeout maximum"}},
		{Name: "ringtone injection", Data: `{"endpoints":[{"endpoint_type":"user","id":"` + u + `"}],"ringtones":{"internal":"a\nb"}}`,
			Errs: []string{"ringtones.internal pattern"}},
		{Name: "ringtones unknown key", Data: `{"endpoints":[{"endpoint_type":"user","id":"` + u + `"}],"ringtones":{"both":"x"}}`,
			Errs: []string{"ringtones.both additionalProperties"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", ringgroup.Name) }
