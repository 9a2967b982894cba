package schema

import (
	"encoding/json"
	"strings"
	"testing"
)

// resources are the REST resources that must have a schema.
var resources = []string{
	"accounts", "users", "devices", "callflows", "vmboxes", "menus", "groups",
	"temporal_rules", "temporal_rules_sets", "conferences", "media", "limits",
	"api_auth", "user_auth",
}

func TestEverySchemaCompilesAndAllowsClientKeys(t *testing.T) {
	srcs, err := embeddedSources()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range resources {
		if !Has(name) {
			t.Errorf("no schema for resource %q", name)
			continue
		}
		var top map[string]any
		if err := json.Unmarshal(srcs[name], &top); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ap, ok := top["additionalProperties"]; ok && ap == false {
			t.Errorf("%s: top level must not set additionalProperties:false", name)
		}
		if top["type"] != "object" {
			t.Errorf("%s: top level must be an object schema", name)
		}
	}
	if Has("no_such_thing") {
		t.Error("Has reports a schema that does not exist")
	}
	if len(Names()) != len(srcs) {
		t.Errorf("Names() = %v, embedded files %d", Names(), len(srcs))
	}
}

func TestUnknownSchema(t *testing.T) {
	errs := Validate("no_such_thing", map[string]any{"a": 1.0})
	if !errs.Has("schema", "schema") {
		t.Fatalf("unknown schema: got %v", errs)
	}
	doc := map[string]any{}
	ApplyDefaults("no_such_thing", doc)
	if len(doc) != 0 {
		t.Fatalf("ApplyDefaults on an unknown schema changed the doc: %v", doc)
	}
}

type validationCase struct {
	desc string
	doc  string
	want []string // "field:rule"; empty means valid
}

// schemaCases lists, per schema, a minimal valid document, each required
// field missing, and type, limit, enum, pattern and nested failures.
var schemaCases = map[string][]validationCase{
	"accounts": {
		{"minimal", `{"name":"Acme"}`, nil},
		{"full", `{"name":"Acme","realm":"acme.sip.example.com","timezone":"America/New_York","enabled":false,
			"caller_id":{"external":{"name":"Acme","number":"+14155550100"}},
			"call_restriction":{"international":{"action":"deny"}},"music_on_hold":{"media_id":"m1"},
			"preflow":{"always":"cf1"},"zones":{"home":"eu"},"ui_metadata":{"origin":"monster"}}`, nil},
		{"name missing", `{"realm":"acme.example.com"}`, []string{"name:required"}},
		{"name empty", `{"name":""}`, []string{"name:minLength"}},
		{"name too long", `{"name":"` + strings.Repeat("n", 129) + `"}`, []string{"name:maxLength"}},
		{"name type", `{"name":42}`, []string{"name:type"}},
		{"realm too short", `{"name":"A","realm":"a.b"}`, []string{"realm:minLength"}},
		{"realm too long", `{"name":"A","realm":"` + strings.Repeat("a", 254) + `"}`, []string{"realm:maxLength"}},
		{"realm not a host", `{"name":"A","realm":"acme..example.com"}`, []string{"realm:pattern"}},
		{"realm with space", `{"name":"A","realm":"ac me.com"}`, []string{"realm:pattern"}},
		{"realm leading dot", `{"name":"A","realm":".acme.com"}`, []string{"realm:pattern"}},
		{"enabled type", `{"name":"A","enabled":"yes"}`, []string{"enabled:type"}},
		{"caller id too long", `{"name":"A","caller_id":{"external":{"number":"` + strings.Repeat("1", 36) + `"}}}`,
			[]string{"caller_id.external.number:maxLength"}},
		{"call restriction enum", `{"name":"A","call_restriction":{"international":{"action":"allow"}}}`,
			[]string{"call_restriction.international.action:enum"}},
		{"outbound privacy enum", `{"name":"A","caller_id_options":{"outbound_privacy":"all"}}`,
			[]string{"caller_id_options.outbound_privacy:enum"}},
	},
	"users": {
		{"minimal", `{"first_name":"Alice","last_name":"Liddell"}`, nil},
		{"full", `{"first_name":"Alice","last_name":"Liddell","username":"alice+1@example.com","email":"alice@example.com",
			"priv_level":"admin","enabled":true,"call_forward":{"enabled":true,"number":"+14155550100"},
			"hotdesk":{"enabled":true,"pin":"1234"},"vm_to_email_enabled":false,"media":{"audio":{"codecs":["PCMU","OPUS"]}},
			"directories":{"dir1":"cf1"},"ui_metadata":{"ui":"kazoo-ui"},"appList":["voip"]}`, nil},
		{"first name missing", `{"last_name":"L"}`, []string{"first_name:required"}},
		{"last name missing", `{"first_name":"A"}`, []string{"last_name:required"}},
		{"both missing", `{}`, []string{"first_name:required", "last_name:required"}},
		{"first name empty", `{"first_name":"","last_name":"L"}`, []string{"first_name:minLength"}},
		{"last name too long", `{"first_name":"A","last_name":"` + strings.Repeat("l", 129) + `"}`, []string{"last_name:maxLength"}},
		{"username pattern", `{"first_name":"A","last_name":"L","username":"alice smith"}`, []string{"username:pattern"}},
		{"username slash", `{"first_name":"A","last_name":"L","username":"a/b"}`, []string{"username:pattern"}},
		{"priv level enum", `{"first_name":"A","last_name":"L","priv_level":"root"}`, []string{"priv_level:enum"}},
		{"email format", `{"first_name":"A","last_name":"L","email":"not-an-email"}`, []string{"email:format"}},
		{"enabled type", `{"first_name":"A","last_name":"L","enabled":1}`, []string{"enabled:type"}},
		{"call forward number", `{"first_name":"A","last_name":"L","call_forward":{"number":"` + strings.Repeat("9", 36) + `","enabled":"on"}}`,
			[]string{"call_forward.number:maxLength", "call_forward.enabled:type"}},
		{"codec type", `{"first_name":"A","last_name":"L","media":{"audio":{"codecs":["PCMU",7]}}}`,
			[]string{"media.audio.codecs.1:type"}},
		{"directories values", `{"first_name":"A","last_name":"L","directories":{"d":5}}`, []string{"directories.d:type"}},
	},
	"devices": {
		{"minimal", `{"name":"Desk phone"}`, nil},
		{"full", `{"name":"Desk","device_type":"sip_device","owner_id":"u1","enabled":true,
			"sip":{"username":"alice","password":"secret","method":"password","invite_format":"contact","expire_seconds":3600,
			       "realm":"acme.example.com","custom_sip_headers":{"X-A":"b"}},
			"media":{"audio":{"codecs":["PCMU","PCMA"]},"video":{"codecs":["H264"]},"encryption":{"enforce_security":true,"methods":["srtp"]},"bypass_media":"auto"},
			"mac_address":"00:11:22:aa:bb:cc","ui_metadata":{"x":1}}`, nil},
		{"name missing", `{"sip":{"username":"alice"}}`, []string{"name:required"}},
		{"sip username too short", `{"name":"D","sip":{"username":"a"}}`, []string{"sip.username:minLength"}},
		{"sip username too long", `{"name":"D","sip":{"username":"` + strings.Repeat("u", 33) + `"}}`, []string{"sip.username:maxLength"}},
		{"sip password too short", `{"name":"D","sip":{"password":"1234"}}`, []string{"sip.password:minLength"}},
		{"sip password too long", `{"name":"D","sip":{"password":"` + strings.Repeat("p", 33) + `"}}`, []string{"sip.password:maxLength"}},
		{"sip method enum", `{"name":"D","sip":{"method":"token"}}`, []string{"sip.method:enum"}},
		{"invite format enum", `{"name":"D","sip":{"invite_format":"e.164"}}`, []string{"sip.invite_format:enum"}},
		{"expire seconds type", `{"name":"D","sip":{"expire_seconds":"300"}}`, []string{"sip.expire_seconds:type"}},
		{"expire seconds fraction", `{"name":"D","sip":{"expire_seconds":30.5}}`, []string{"sip.expire_seconds:type"}},
		{"sip type", `{"name":"D","sip":"alice"}`, []string{"sip:type"}},
		{"device type type", `{"name":"D","device_type":1}`, []string{"device_type:type"}},
		{"codecs not array", `{"name":"D","media":{"audio":{"codecs":"PCMU"}}}`, []string{"media.audio.codecs:type"}},
		{"encryption method enum", `{"name":"D","media":{"encryption":{"methods":["dtls"]}}}`, []string{"media.encryption.methods.0:enum"}},
		{"mac address", `{"name":"D","mac_address":"00:11:22:33:44"}`, []string{"mac_address:pattern"}},
		{"mac address empty is allowed", `{"name":"D","mac_address":""}`, nil},
		{"several at once", `{"sip":{"username":"a","password":"p"},"enabled":"true"}`,
			[]string{"name:required", "sip.username:minLength", "sip.password:minLength", "enabled:type"}},
	},
	"callflows": {
		{"minimal", `{"flow":{"module":"user","data":{"id":"u1"}}}`, nil},
		{"full", `{"name":"Main","numbers":["1000","+14155550100","no_match"],"patterns":["^\\*3([0-9]*)$"],
			"flow":{"module":"user","data":{"id":"u1","timeout":20},
			        "children":{"_":{"module":"voicemail","data":{"id":"vb1"}},
			                    "sip:486":{"module":"play","data":{"id":"busy"},"children":{}}}},
			"featurecode":{"name":"park","number":"3"},"ui_metadata":{"x":true}}`, nil},
		{"flow missing", `{"numbers":["1000"]}`, []string{"flow:required"}},
		{"module missing", `{"flow":{"data":{}}}`, []string{"flow.module:required"}},
		{"data missing", `{"flow":{"module":"user"}}`, []string{"flow.data:required"}},
		{"module empty", `{"flow":{"module":"","data":{}}}`, []string{"flow.module:minLength"}},
		{"module too long", `{"flow":{"module":"` + strings.Repeat("m", 65) + `","data":{}}}`, []string{"flow.module:maxLength"}},
		{"data type", `{"flow":{"module":"user","data":[]}}`, []string{"flow.data:type"}},
		{"children type", `{"flow":{"module":"user","data":{},"children":[]}}`, []string{"flow.children:type"}},
		{"nested child invalid", `{"flow":{"module":"user","data":{},"children":{"_":{"module":"menu","data":{},
			"children":{"1":{"data":"x"}}}}}}`,
			[]string{"flow.children._.children.1.module:required", "flow.children._.children.1.data:type"}},
		{"numbers type", `{"numbers":"1000","flow":{"module":"user","data":{}}}`, []string{"numbers:type"}},
		{"number empty", `{"numbers":["1000",""],"flow":{"module":"user","data":{}}}`, []string{"numbers.1:minLength"}},
		{"number too long", `{"numbers":["` + strings.Repeat("1", 37) + `"],"flow":{"module":"user","data":{}}}`, []string{"numbers.0:maxLength"}},
		{"number type", `{"numbers":[1000],"flow":{"module":"user","data":{}}}`, []string{"numbers.0:type"}},
		{"numbers not unique", `{"numbers":["1000","1000"],"flow":{"module":"user","data":{}}}`, []string{"numbers:uniqueItems"}},
		{"pattern does not compile", `{"patterns":["^ok$","^(unclosed"],"flow":{"module":"user","data":{}}}`, []string{"patterns.1:format"}},
		{"pattern type", `{"patterns":[7],"flow":{"module":"user","data":{}}}`, []string{"patterns.0:type"}},
	},
	"vmboxes": {
		{"minimal", `{"mailbox":"1000","name":"Alice"}`, nil},
		{"full", `{"mailbox":"1000","name":"Alice","pin":"0000","require_pin":true,"owner_id":"u1","media_extension":"wav",
			"notify_email_addresses":["a@example.com"],"media":{"unavailable":"m1"},"ui_metadata":{}}`, nil},
		{"mailbox missing", `{"name":"A"}`, []string{"mailbox:required"}},
		{"name missing", `{"mailbox":"1"}`, []string{"name:required"}},
		{"mailbox digits only", `{"mailbox":"10a","name":"A"}`, []string{"mailbox:pattern"}},
		{"mailbox empty", `{"mailbox":"","name":"A"}`, []string{"mailbox:minLength", "mailbox:pattern"}},
		{"mailbox too long", `{"mailbox":"` + strings.Repeat("1", 31) + `","name":"A"}`, []string{"mailbox:maxLength"}},
		{"mailbox type", `{"mailbox":1000,"name":"A"}`, []string{"mailbox:type"}},
		{"pin too short", `{"mailbox":"1","name":"A","pin":"123"}`, []string{"pin:minLength"}},
		{"pin too long", `{"mailbox":"1","name":"A","pin":"1234567"}`, []string{"pin:maxLength"}},
		{"pin digits", `{"mailbox":"1","name":"A","pin":"12ab"}`, []string{"pin:pattern"}},
		{"media extension enum", `{"mailbox":"1","name":"A","media_extension":"ogg"}`, []string{"media_extension:enum"}},
		{"notify email format", `{"mailbox":"1","name":"A","notify_email_addresses":["ok@example.com","nope"]}`,
			[]string{"notify_email_addresses.1:format"}},
		{"boolean type", `{"mailbox":"1","name":"A","skip_greeting":"no"}`, []string{"skip_greeting:type"}},
	},
	"menus": {
		{"minimal", `{"name":"Main menu"}`, nil},
		{"full", `{"name":"Main","retries":10,"timeout":60000,"max_extension_length":6,"hunt":false,"hunt_allow":"^1[0-9]{3}$",
			"media":{"greeting":"m1","invalid_media":false,"exit_media":"m2"},"record_pin":"1234"}`, nil},
		{"name missing", `{"retries":3}`, []string{"name:required"}},
		{"retries too low", `{"name":"M","retries":0}`, []string{"retries:minimum"}},
		{"retries too high", `{"name":"M","retries":11}`, []string{"retries:maximum"}},
		{"timeout too high", `{"name":"M","timeout":60001}`, []string{"timeout:maximum"}},
		{"max extension length", `{"name":"M","max_extension_length":7}`, []string{"max_extension_length:maximum"}},
		{"max extension length low", `{"name":"M","max_extension_length":0}`, []string{"max_extension_length:minimum"}},
		{"hunt type", `{"name":"M","hunt":"yes"}`, []string{"hunt:type"}},
		{"media type", `{"name":"M","media":"m1"}`, []string{"media:type"}},
		{"media prompt type", `{"name":"M","media":{"invalid_media":3}}`, []string{"media.invalid_media:type"}},
		{"hunt deny regex", `{"name":"M","hunt_deny":"[0-"}`, []string{"hunt_deny:format"}},
	},
	"groups": {
		{"minimal", `{"name":"Sales","endpoints":{}}`, nil},
		{"full", `{"name":"Sales","endpoints":{"u1":{"type":"user","weight":2},"d1":{"type":"device"}},"music_on_hold":{"media_id":"m"}}`, nil},
		{"name missing", `{"endpoints":{}}`, []string{"name:required"}},
		{"endpoints missing", `{"name":"S"}`, []string{"endpoints:required"}},
		{"endpoints type", `{"name":"S","endpoints":[]}`, []string{"endpoints:type"}},
		{"endpoint type missing", `{"name":"S","endpoints":{"u1":{"weight":1}}}`, []string{"endpoints.u1.type:required"}},
		{"endpoint type enum", `{"name":"S","endpoints":{"u1":{"type":"group"}}}`, []string{"endpoints.u1.type:enum"}},
		{"weight type", `{"name":"S","endpoints":{"u1":{"type":"user","weight":"1"}}}`, []string{"endpoints.u1.weight:type"}},
		{"endpoint not object", `{"name":"S","endpoints":{"u1":"user"}}`, []string{"endpoints.u1:type"}},
	},
	"temporal_rules": {
		{"minimal", `{"name":"Weekdays","cycle":"weekly"}`, nil},
		{"full", `{"name":"Office","cycle":"weekly","interval":1,"wdays":["monday","wensday","friday"],"ordinal":"every",
			"time_window_start":32400,"time_window_stop":61200,"start_date":63000000000,"days":[1,31],"month":12}`, nil},
		{"name missing", `{"cycle":"daily"}`, []string{"name:required"}},
		{"cycle missing", `{"name":"R"}`, []string{"cycle:required"}},
		{"cycle enum", `{"name":"R","cycle":"hourly"}`, []string{"cycle:enum"}},
		{"interval zero", `{"name":"R","cycle":"daily","interval":0}`, []string{"interval:minimum"}},
		{"days range", `{"name":"R","cycle":"monthly","days":[0,15,32]}`, []string{"days.0:minimum", "days.2:maximum"}},
		{"wdays enum", `{"name":"R","cycle":"weekly","wdays":["monday","funday"]}`, []string{"wdays.1:enum"}},
		{"ordinal enum", `{"name":"R","cycle":"monthly","ordinal":"sixth"}`, []string{"ordinal:enum"}},
		{"month range", `{"name":"R","cycle":"yearly","month":13}`, []string{"month:maximum"}},
		{"window range", `{"name":"R","cycle":"daily","time_window_start":-1,"time_window_stop":86401}`,
			[]string{"time_window_start:minimum", "time_window_stop:maximum"}},
		{"start date type", `{"name":"R","cycle":"date","start_date":"2024-01-01"}`, []string{"start_date:type"}},
	},
	"temporal_rules_sets": {
		{"minimal", `{"name":"Holidays"}`, nil},
		{"full", `{"name":"Holidays","temporal_rules":["r1","r2"],"flags":["x"]}`, nil},
		{"name missing", `{"temporal_rules":[]}`, []string{"name:required"}},
		{"rules type", `{"name":"H","temporal_rules":"r1"}`, []string{"temporal_rules:type"}},
		{"rule id type", `{"name":"H","temporal_rules":["r1",2]}`, []string{"temporal_rules.1:type"}},
	},
	"conferences": {
		{"minimal", `{}`, nil},
		{"full", `{"name":"Board","conference_numbers":["3000"],"member":{"numbers":["3001"],"pins":["1234"],"join_muted":false},
			"moderator":{"pins":["9999"]},"max_participants":20,"play_entry_tone":"tone_stream://%(200,0,500)","play_name":true}`, nil},
		{"name empty", `{"name":""}`, []string{"name:minLength"}},
		{"numbers not unique", `{"conference_numbers":["3000","3000"]}`, []string{"conference_numbers:uniqueItems"}},
		{"member pins type", `{"member":{"pins":[1234]}}`, []string{"member.pins.0:type"}},
		{"moderator join muted type", `{"moderator":{"join_muted":"no"}}`, []string{"moderator.join_muted:type"}},
		{"max participants type", `{"max_participants":"10"}`, []string{"max_participants:type"}},
		{"max participants negative", `{"max_participants":-1}`, []string{"max_participants:minimum"}},
	},
	"media": {
		{"minimal", `{"name":"Greeting","media_source":"upload"}`, nil},
		{"tts", `{"name":"Hello","media_source":"tts","tts":{"text":"Hello","voice":"female/en-US"},"content_type":"audio/mpeg","content_length":11534336}`, nil},
		{"name missing", `{"media_source":"upload"}`, []string{"name:required"}},
		{"media source missing", `{"name":"G"}`, []string{"media_source:required"}},
		{"media source enum", `{"name":"G","media_source":"fax"}`, []string{"media_source:enum"}},
		{"content length too big", `{"name":"G","media_source":"upload","content_length":11534337}`, []string{"content_length:maximum"}},
		{"content length type", `{"name":"G","media_source":"upload","content_length":"12"}`, []string{"content_length:type"}},
		{"content type", `{"name":"G","media_source":"upload","content_type":"text/plain"}`, []string{"content_type:pattern"}},
		{"tts text empty", `{"name":"G","media_source":"tts","tts":{"text":""}}`, []string{"tts.text:minLength"}},
		{"language type", `{"name":"G","media_source":"upload","language":5}`, []string{"language:type"}},
	},
	"limits": {
		{"empty", `{}`, nil},
		{"full", `{"twoway_trunks":-1,"inbound_trunks":0,"outbound_trunks":5,"burst_trunks":2,"calls":100,
			"resource_consuming_calls":10,"allow_prepay":false,"authz_resource_types":["sip_device"]}`, nil},
		{"below -1", `{"twoway_trunks":-2,"calls":-5}`, []string{"twoway_trunks:minimum", "calls:minimum"}},
		{"fraction", `{"inbound_trunks":1.5}`, []string{"inbound_trunks:type"}},
		{"string", `{"outbound_trunks":"5"}`, []string{"outbound_trunks:type"}},
		{"allow prepay type", `{"allow_prepay":"true"}`, []string{"allow_prepay:type"}},
		{"authz types", `{"authz_resource_types":"sip_device"}`, []string{"authz_resource_types:type"}},
	},
	"api_auth": {
		{"valid", `{"api_key":"` + strings.Repeat("ab", 32) + `"}`, nil},
		{"missing", `{}`, []string{"api_key:required"}},
		{"too short", `{"api_key":"abc"}`, []string{"api_key:minLength"}},
		{"operator key", `{"api_key":"` + strings.Repeat("a", 40) + `"}`, nil},
		{"too long", `{"api_key":"` + strings.Repeat("a", 257) + `"}`, []string{"api_key:maxLength"}},
		{"type", `{"api_key":12}`, []string{"api_key:type"}},
	},
	"user_auth": {
		{"by name", `{"credentials":"0123456789abcdef0123456789abcdef","account_name":"Acme"}`, nil},
		{"by realm sha", `{"credentials":"0123456789abcdef0123456789abcdef01234567","method":"sha","account_realm":"acme.example.com"}`, nil},
		{"by number", `{"credentials":"ABCDEF","phone_number":"+14155550100"}`, nil},
		{"credentials missing", `{"account_name":"Acme"}`, []string{"credentials:required"}},
		{"credentials not hex", `{"credentials":"xyz","account_name":"Acme"}`, []string{"credentials:pattern"}},
		{"credentials too long", `{"credentials":"` + strings.Repeat("a", 65) + `","account_name":"Acme"}`, []string{"credentials:maxLength"}},
		{"method enum", `{"credentials":"ab","method":"sha256","account_name":"Acme"}`, []string{"method:enum"}},
		{"no account", `{"credentials":"ab"}`, []string{"account_name:required"}},
		{"nothing", `{}`, []string{"credentials:required", "account_name:required"}},
		{"account name empty", `{"credentials":"ab","account_name":""}`, []string{"account_name:minLength"}},
	},
}

func TestSchemas(t *testing.T) {
	for _, name := range resources {
		cases := schemaCases[name]
		if len(cases) == 0 {
			t.Errorf("no test cases for schema %q", name)
		}
		for _, tc := range cases {
			t.Run(name+"/"+tc.desc, func(t *testing.T) {
				expectExactly(t, name, tc.doc, tc.want...)
			})
		}
	}
}

func TestClientFieldsAllowedAndKept(t *testing.T) {
	for _, name := range resources {
		t.Run(name, func(t *testing.T) {
			valid := ""
			for _, tc := range schemaCases[name] {
				if len(tc.want) == 0 {
					valid = tc.doc
					break
				}
			}
			doc := decode(t, valid, false)
			doc["ui_metadata"] = map[string]any{"version": "4.3", "origin": "voip"}
			doc["my_custom_key"] = []any{1.0, "two"}
			if errs := Validate(name, doc); errs != nil {
				t.Fatalf("client keys rejected: %v", errs)
			}
			ApplyDefaults(name, doc)
			if _, ok := doc["ui_metadata"].(map[string]any); !ok {
				t.Fatal("ui_metadata dropped")
			}
			if _, ok := doc["my_custom_key"].([]any); !ok {
				t.Fatal("custom key dropped")
			}
		})
	}
}

func TestMessages(t *testing.T) {
	errs := expectExactly(t, "devices", `{"sip":{"username":"a","password":"p","method":"x","expire_seconds":"1"}}`,
		"name:required", "sip.username:minLength", "sip.password:minLength", "sip.method:enum", "sip.expire_seconds:type")
	if got := message(t, errs, "name", "required"); got != "Field is required but missing" {
		t.Errorf("required message %q", got)
	}
	if got := message(t, errs, "sip.username", "minLength"); got != "String must be at least 2 characters" {
		t.Errorf("minLength message %q", got)
	}
	if got := message(t, errs, "sip.password", "minLength"); !strings.Contains(got, "5") {
		t.Errorf("minLength message %q lacks the limit", got)
	}
	if got := message(t, errs, "sip.method", "enum"); !strings.Contains(got, "password, ip") {
		t.Errorf("enum message %q lacks the values", got)
	}
	if got := errs["sip.expire_seconds"]["type"]["target"]; got != "integer" {
		t.Errorf("type target %v, want integer", got)
	}
	if got := message(t, errs, "sip.expire_seconds", "type"); got != "Value did not match type(s): integer" {
		t.Errorf("type message %q", got)
	}

	errs = expectExactly(t, "menus", `{"name":"M","retries":11,"timeout":0}`, "retries:maximum", "timeout:minimum")
	if got := message(t, errs, "retries", "maximum"); got != "Value must be at most 10" {
		t.Errorf("maximum message %q", got)
	}
	if got := message(t, errs, "timeout", "minimum"); got != "Value must be at least 1" {
		t.Errorf("minimum message %q", got)
	}
	if got := errs["retries"]["maximum"]["target"]; got != int64(10) {
		t.Errorf("maximum target %#v", got)
	}

	errs = expectExactly(t, "callflows", `{"numbers":["1","1"],"patterns":["("],"flow":{"module":"`+strings.Repeat("m", 65)+`","data":{}}}`,
		"numbers:uniqueItems", "patterns.0:format", "flow.module:maxLength")
	if got := message(t, errs, "flow.module", "maxLength"); got != "String must not be more than 64 characters" {
		t.Errorf("maxLength message %q", got)
	}
	if got := message(t, errs, "patterns.0", "format"); !strings.Contains(got, "regex") {
		t.Errorf("format message %q", got)
	}
	if got := message(t, errs, "numbers", "uniqueItems"); !strings.Contains(got, "not unique") {
		t.Errorf("uniqueItems message %q", got)
	}

	errs = expectExactly(t, "users", `{"first_name":"A","last_name":"B","username":"a b"}`, "username:pattern")
	if got := errs["username"]["pattern"]["target"]; got != `^([+@.\w_-]+)$` {
		t.Errorf("pattern target %v", got)
	}

	errs = expectExactly(t, "user_auth", `{"credentials":"ab"}`, "account_name:required")
	got := message(t, errs, "account_name", "required")
	for _, f := range []string{"account_name", "account_realm", "phone_number"} {
		if !strings.Contains(got, f) {
			t.Errorf("one-of message %q does not name %s", got, f)
		}
	}
}
