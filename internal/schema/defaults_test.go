package schema

import (
	"encoding/json"
	"reflect"
	"testing"
)

// want is a subset of the document expected after ApplyDefaults, by dotted
// path.
type want map[string]any

func get(doc map[string]any, path ...string) (any, bool) {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

func TestApplyDefaults(t *testing.T) {
	cases := []struct {
		schema  string
		doc     string
		want    map[string]any // top-level values after ApplyDefaults
		absent  [][]string     // paths that must not be created
		invalid bool           // the document stays invalid
	}{
		{
			schema: "accounts", doc: `{"name":"A"}`,
			want:   map[string]any{"enabled": true, "music_on_hold": map[string]any{}, "preflow": map[string]any{}},
			absent: [][]string{{"realm"}, {"caller_id"}},
		},
		{
			schema: "users", doc: `{"first_name":"A","last_name":"B"}`,
			want:   map[string]any{"priv_level": "user", "enabled": true, "vm_to_email_enabled": true},
			absent: [][]string{{"call_forward"}, {"hotdesk"}, {"email"}},
		},
		{
			schema: "users", doc: `{"first_name":"A","last_name":"B","priv_level":"admin","enabled":false,"vm_to_email_enabled":false,
				"call_forward":{"enabled":true,"keep_caller_id":false}}`,
			want: map[string]any{"priv_level": "admin", "enabled": false, "vm_to_email_enabled": false,
				"call_forward": map[string]any{"enabled": true, "keep_caller_id": false, "require_keypress": true,
					"substitute": true, "direct_calls_only": false, "failover": false, "ignore_early_media": true}},
		},
		{
			schema: "devices", doc: `{"name":"D"}`,
			want: map[string]any{"enabled": true,
				"sip": map[string]any{"method": "password", "invite_format": "contact", "expire_seconds": 300.0}},
			absent: [][]string{{"media"}, {"call_forward"}},
		},
		{
			schema: "devices", doc: `{"name":"D","sip":{"username":"alice","expire_seconds":60,"method":"ip"},"media":{"encryption":{}}}`,
			want: map[string]any{
				"sip":   map[string]any{"username": "alice", "method": "ip", "invite_format": "contact", "expire_seconds": 60.0},
				"media": map[string]any{"encryption": map[string]any{"enforce_security": false}},
			},
		},
		{
			schema: "callflows", doc: `{"flow":{"module":"user","data":{}}}`,
			want: map[string]any{"numbers": []any{}, "patterns": []any{}},
		},
		{
			schema: "vmboxes", doc: `{"mailbox":"1","name":"V"}`,
			want: map[string]any{"require_pin": false, "check_if_owner": true, "delete_after_notify": false,
				"skip_greeting": false, "skip_instructions": false, "is_setup": false, "media_extension": "mp3",
				"media": map[string]any{}, "notify_email_addresses": []any{}},
			absent: [][]string{{"pin"}},
		},
		{
			schema: "vmboxes", doc: `{"mailbox":"1","name":"V","check_if_owner":false,"media_extension":"wav","is_setup":true}`,
			want: map[string]any{"check_if_owner": false, "media_extension": "wav", "is_setup": true},
		},
		{
			schema: "menus", doc: `{"name":"M"}`,
			want: map[string]any{"retries": 3.0, "timeout": 10000.0, "max_extension_length": 4.0, "hunt": true,
				"media": map[string]any{}},
		},
		{
			schema: "menus", doc: `{"name":"M","retries":5,"hunt":false,"media":{"greeting":"g"}}`,
			want: map[string]any{"retries": 5.0, "hunt": false, "media": map[string]any{"greeting": "g"}},
		},
		{
			schema: "temporal_rules", doc: `{"name":"R","cycle":"daily"}`,
			want: map[string]any{"interval": 1.0},
		},
		{
			schema: "conferences", doc: `{"name":"C"}`,
			want: map[string]any{"conference_numbers": []any{}, "play_name": false,
				"member":    map[string]any{"join_muted": true, "join_deaf": false, "numbers": []any{}, "pins": []any{}},
				"moderator": map[string]any{"join_muted": false, "join_deaf": false, "numbers": []any{}, "pins": []any{}}},
		},
		{
			schema: "conferences", doc: `{"member":{"join_muted":false,"pins":["1"]}}`,
			want: map[string]any{"member": map[string]any{"join_muted": false, "join_deaf": false, "numbers": []any{}, "pins": []any{"1"}}},
		},
		{
			schema: "media", doc: `{"name":"G"}`,
			want:   map[string]any{"media_source": "upload", "language": "en-us", "streamable": true},
			absent: [][]string{{"tts"}},
		},
		{
			schema: "media", doc: `{"name":"G","media_source":"tts","tts":{"text":"hi"},"language":"fr-fr"}`,
			want: map[string]any{"media_source": "tts", "language": "fr-fr",
				"tts": map[string]any{"text": "hi", "voice": "female/en-US"}},
		},
		{
			schema: "limits", doc: `{}`,
			want:   map[string]any{"allow_prepay": true},
			absent: [][]string{{"calls"}, {"twoway_trunks"}},
		},
		{
			schema: "user_auth", doc: `{"credentials":"ab","account_name":"A"}`,
			want: map[string]any{"method": "md5"},
		},
		{
			schema: "user_auth", doc: `{"credentials":"ab","account_name":"A","method":"sha"}`,
			want: map[string]any{"method": "sha"},
		},
		{
			// Wrong types are left for Validate to report, not replaced.
			schema: "devices", doc: `{"name":"D","sip":"nope","enabled":"maybe"}`,
			want:    map[string]any{"sip": "nope", "enabled": "maybe"},
			invalid: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.schema, func(t *testing.T) {
			doc := decode(t, tc.doc, false)
			ApplyDefaults(tc.schema, doc)
			for k, v := range tc.want {
				if !reflect.DeepEqual(doc[k], v) {
					t.Errorf("%s: %s = %#v, want %#v", tc.doc, k, doc[k], v)
				}
			}
			for _, p := range tc.absent {
				if v, ok := get(doc, p...); ok {
					t.Errorf("%s: %v was created: %#v", tc.doc, p, v)
				}
			}
			if errs := Validate(tc.schema, doc); (errs != nil) != tc.invalid {
				t.Errorf("after defaults: invalid=%v, want %v: %v", errs != nil, tc.invalid, errs)
			}
		})
	}
}

func TestDefaultsAreNotShared(t *testing.T) {
	a := map[string]any{"name": "M"}
	b := map[string]any{"name": "N"}
	ApplyDefaults("menus", a)
	ApplyDefaults("menus", b)
	a["media"].(map[string]any)["greeting"] = "changed"
	if _, ok := b["media"].(map[string]any)["greeting"]; ok {
		t.Fatal("default objects are shared between documents")
	}
	c := map[string]any{"flow": map[string]any{"module": "x", "data": map[string]any{}}}
	ApplyDefaults("callflows", c)
	c["numbers"] = append(c["numbers"].([]any), "1000")
	d := map[string]any{}
	ApplyDefaults("callflows", d)
	if n := d["numbers"].([]any); len(n) != 0 {
		t.Fatalf("default arrays are shared: %v", n)
	}
}

func TestDefaultsIdempotent(t *testing.T) {
	doc := decode(t, `{"name":"C","member":{}}`, true)
	ApplyDefaults("conferences", doc)
	once, _ := json.Marshal(doc)
	ApplyDefaults("conferences", doc)
	twice, _ := json.Marshal(doc)
	if string(once) != string(twice) {
		t.Fatalf("second ApplyDefaults changed the document:\n%s\n%s", once, twice)
	}
}

func TestDefaultsRecurseIntoCallflowChildrenAndArrays(t *testing.T) {
	s := MustCompile("node_with_defaults", []byte(`{
		"type":"object",
		"properties":{
			"timeout":{"type":"integer","default":20},
			"endpoints":{"type":"array","items":{"type":"object","properties":{"delay":{"type":"integer","default":0}}}},
			"children":{"type":"object","additionalProperties":{"$ref":"#"}}
		}}`))
	doc := decode(t, `{"endpoints":[{"id":"a"},{"id":"b","delay":5},"not-an-object"],"children":{"_":{"timeout":30},"x":{}}}`, false)
	s.ApplyDefaults(doc)
	wantJSON := `{"children":{"_":{"timeout":30},"x":{"timeout":20}},"endpoints":[{"delay":0,"id":"a"},{"delay":5,"id":"b"},"not-an-object"],"timeout":20}`
	if got := string(mustJSON(t, doc)); got != wantJSON {
		t.Fatalf("got  %s\nwant %s", got, wantJSON)
	}
}

func TestSelfCreatingDefaultTerminates(t *testing.T) {
	s := MustCompile("loop", []byte(`{"type":"object","properties":{"a":{"$ref":"#","default":{}},"n":{"default":1}}}`))
	doc := map[string]any{}
	s.ApplyDefaults(doc)
	depth := 0
	for cur := doc; ; depth++ {
		next, ok := cur["a"].(map[string]any)
		if !ok {
			break
		}
		cur = next
	}
	if depth == 0 || depth > maxCreatedDepth {
		t.Fatalf("created depth %d, want 1..%d", depth, maxCreatedDepth)
	}
	s.ApplyDefaults(nil) // must not panic
}
