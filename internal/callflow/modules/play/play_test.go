package play_test

import (
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/callflow/modules/play"
)

const media = "abcdefabcdefabcdefabcdefabcdef12"

func TestDecode(t *testing.T) {
	m, _ := callflow.Lookup(play.Name)
	callflowtest.Run(t, m, []callflowtest.Case{
		{Name: "media", Data: `{"id":"` + media + `"}`, Refs: []string{"media " + media + " id"},
			Check: func(t *testing.T, c callflow.Config) {
				p := c.(*play.Config)
				if p.IsURL() || p.LoopCount != nil || p.Answer {
					t.Fatalf("%+v", p)
				}
			}},
		{Name: "url has no ref", Data: `{"id":"https://media.example.com/a.wav","loop_count":0,"endless_playback":true}`,
			Refs: []string{},
			Check: func(t *testing.T, c callflow.Config) {
				if p := c.(*play.Config); !p.IsURL() || *p.LoopCount != 0 {
					t.Fatalf("%+v", p)
				}
			}},
		{Name: "upper-case scheme", Data: `{"id":"HTTP://media.example.com/a.wav"}`, Refs: []string{}},
		{Name: "all terminators", Data: `{"id":"` + media + `","terminators":["0","1","2","3","4","5","6","7","8","9","*","#"]}`},
		{Name: "id missing", Data: `{"answer":true}`, Errs: []string{"id required"}},
		{Name: "file name", Data: `{"id":"welcome.wav"}`, Errs: []string{"id pattern"}},
		{Name: "other scheme", Data: `{"id":"ftp://media.example.com/a.wav"}`, Errs: []string{"id pattern"}},
		{Name: "url without host", Data: `{"id":"http:///a.wav"}`, Errs: []string{"id pattern"}},
		{Name: "url with newline", Data: `{"id":"http://a/b\nc"}`, Errs: []string{"id pattern"}},
		{Name: "url too long", Data: `{"id":"https://a/` + strings.Repeat("x", 2048) + `"}`, Errs: []string{"id maxLength"}},
		{Name: "negative loop", Data: `{"id":"` + media + `","loop_count":-1}`, Errs: []string{"loop_count minimum"}},
		{Name: "bad terminators", Data: `{"id":"` + media + `","terminators":["#","A","12"]}`,
			Errs: []string{"terminators.1 enum", "terminators.2 enum"}},
		{Name: "terminators not strings", Data: `{"id":"` + media + `","terminators":[1]}`, Errs: []string{"terminators.0 type"}},
	})
}

func TestREADME(t *testing.T) { callflowtest.CheckREADME(t, "README.md", play.Name) }
