package config

import "testing"

func TestDefaultsEnvAndFlags(t *testing.T) {
	c, err := Parse("serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./data" || c.HTTPAddr != "127.0.0.1:8000" || c.SIPAddr != "127.0.0.1:5060" || len(c.Roles) != 4 {
		t.Fatalf("defaults: %+v", c)
	}
	c, err = Parse("serve", []string{"--http", "127.0.0.1:9001"},
		[]string{"STROWGER_HTTP=127.0.0.1:9000", "STROWGER_DATA=/tmp/x", "STROWGER_DEMO=true", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9001" || c.DataDir != "/tmp/x" || !c.Demo {
		t.Fatalf("env/flag precedence: %+v", c)
	}
}

func TestBadConfigs(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown role":     {"--roles", "api,pbx"},
		"no nats":          {"--roles", "api"},
		"nats both":        {"--nats", "nats://127.0.0.1:4222"},
		"bad http":         {"--http", "nowhere"},
		"bad pprof":        {"--pprof", "nowhere"},
		"short master key": {"--master-api-key", "short"},
		"bad log level":    {"--log-level", "loud"},
		"stray argument":   {"extra"},
		"unknown flag":     {"--frobnicate"},
	} {
		if _, err := Parse("serve", args, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if c, err := Parse("serve", []string{"--roles", "api,edge", "--nats", "nats://127.0.0.1:4222"}, nil); err != nil || c.Has(RoleNATS) {
		t.Fatalf("external nats: %v %+v", err, c)
	}
}
