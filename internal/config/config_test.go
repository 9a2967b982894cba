package config

import (
	"strings"
	"testing"
)

func TestDefaultsEnvAndFlags(t *testing.T) {
	c, err := Parse("serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./data" || c.HTTPAddr != "127.0.0.1:8000" || c.SIPAddr != "127.0.0.1:5060" || len(c.Roles) != 4 {
		t.Fatalf("defaults: %+v", c)
	}
	// MD5 alone by default: libre-based phones fail on a SHA-256 challenge.
	if len(c.SIPDigest) != 1 || c.SIPDigest[0] != "MD5" {
		t.Fatalf("default --sip-digest: %v", c.SIPDigest)
	}
	if c, err := Parse("serve", []string{"--sip-digest", "sha-256,MD5"}, nil); err != nil || len(c.SIPDigest) != 2 || c.SIPDigest[0] != "SHA-256" {
		t.Fatalf("--sip-digest sha-256,MD5: %v %v", err, c)
	}
	c, err = Parse("serve", []string{"--http", "127.0.0.1:9001"},
		[]string{"STROWGER_HTTP=127.0.0.1:9000", "STROWGER_DATA=/tmp/x", "STROWGER_DEMO=true", "OTHER=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:9001" || c.DataDir != "/tmp/x" || !c.Demo {
		t.Fatalf("env/flag precedence: %+v", c)
	}
	c, err = Parse("serve", nil, []string{"STROWGER_SIP_ALLOW=192.0.2.0/24, 127.0.0.1/32"})
	if err != nil || len(c.SIPAllow) != 2 || c.SIPAllow[1] != "127.0.0.1/32" {
		t.Fatalf("sip-allow: %v %+v", err, c)
	}
	if len(c.SIPDigest) != 1 || c.SIPDigest[0] != "MD5" {
		t.Fatalf("default digest: %v", c.SIPDigest)
	}
	c, err = Parse("serve", []string{"--sip-digest", "sha-256, md5"}, nil)
	if err != nil || len(c.SIPDigest) != 2 || c.SIPDigest[0] != "SHA-256" {
		t.Fatalf("sip-digest: %v %+v", err, c)
	}
}

func TestBadConfigs(t *testing.T) {
	for name, args := range map[string][]string{
		"unknown role":       {"--roles", "api,pbx"},
		"no nats":            {"--roles", "api"},
		"nats both":          {"--nats", "nats://127.0.0.1:4222"},
		"bad http":           {"--http", "nowhere"},
		"bad pprof":          {"--pprof", "nowhere"},
		"bad digest":         {"--sip-digest", "MD5,SHA-1"},
		"empty digest":       {"--sip-digest", ""},
		"short master key":   {"--master-api-key", "short"},
		"bad log level":      {"--log-level", "loud"},
		"stray argument":     {"extra"},
		"unknown flag":       {"--frobnicate"},
		"rtp ip name":        {"--rtp-ip", "media.local"},
		"rtp ip any":         {"--rtp-ip", "0.0.0.0"},
		"rtp ports order":    {"--rtp-ports", "30000-20000"},
		"rtp ports low":      {"--rtp-ports", "80-2000"},
		"rtp ports form":     {"--rtp-ports", "20000"},
		"rtp timeout tiny":   {"--rtp-timeout", "10ms"},
		"rtp engine unknown": {"--rtp-engine", "dpdk"},
		"bad sip-allow":      {"--sip-allow", "10.0.0.0/8,nonsense"},
		"bad fsync":          {"--fsync", "sometimes"},
		"fsync too slow":     {"--fsync", "2m"},
		"fsync negative":     {"--fsync", "-1s"},
		"zero min expires":   {"--sip-min-expires", "0"},
		"negative setup":     {"--max-setup-calls", "-1"},
		"negative floor":     {"--min-free-rtp-pairs", "-2"},
		"negative calls":     {"--max-calls", "-5"},
		"calls not a number": {"--max-calls", "many"},
		"floor over range":   {"--rtp-ports", "20000-20009", "--min-free-rtp-pairs", "5"},
	} {
		if _, err := Parse("serve", args, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if c, err := Parse("serve", []string{"--roles", "api,edge", "--nats", "nats://127.0.0.1:4222"}, nil); err != nil || c.Has(RoleNATS) {
		t.Fatalf("external nats: %v %+v", err, c)
	}
}

func TestRTPFlags(t *testing.T) {
	c, err := Parse("serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.RTPIP.String() != "127.0.0.1" || c.RTPPortLow != 16384 || c.RTPPortHigh != 32767 || c.RTPTimeout.Seconds() != 60 || c.RTPEngine != "auto" {
		t.Fatalf("rtp defaults: %+v", c)
	}
	c, err = Parse("serve", []string{"--rtp-ports", "20000-20999"}, []string{"STROWGER_RTP_IP=127.0.0.2", "STROWGER_RTP_PORTS=1-2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.RTPIP.String() != "127.0.0.2" || c.RTPPortLow != 20000 || c.RTPPortHigh != 20999 {
		t.Fatalf("rtp env/flags: %+v", c)
	}
}

func TestMediaOnlyNodeNamesDiffer(t *testing.T) {
	a, err := Parse("serve", []string{"--roles", "media", "--nats", "nats://127.0.0.1:4222", "--rtp-ports", "20000-20499"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("serve", []string{"--roles", "media", "--nats", "nats://127.0.0.1:4222", "--rtp-ports", "20500-20999"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.NodeName == b.NodeName {
		t.Fatalf("two media processes share the node name %q", a.NodeName)
	}
}

func TestFsyncModes(t *testing.T) {
	for arg, want := range map[string]string{"": "always", "always": "always", "per-write": "per-write", "100ms": "interval"} {
		var args []string
		if arg != "" {
			args = []string{"--fsync", arg}
		}
		c, err := Parse("serve", args, nil)
		if err != nil {
			t.Fatalf("--fsync %q: %v", arg, err)
		}
		if c.Fsync != want {
			t.Errorf("--fsync %q: mode %q, want %q", arg, c.Fsync, want)
		}
		if want == "interval" && c.FsyncInterval.Milliseconds() != 100 {
			t.Errorf("--fsync %q: interval %v", arg, c.FsyncInterval)
		}
	}
}

func TestOverloadFlags(t *testing.T) {
	c, err := Parse("serve", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSetupCalls != 300 || c.MinFreeRTPPairs != 2 || c.MaxCalls != 0 {
		t.Fatalf("overload defaults: setup %d, floor %d, calls %d", c.MaxSetupCalls, c.MinFreeRTPPairs, c.MaxCalls)
	}
	c, err = Parse("serve", []string{"--max-calls", "500"},
		[]string{"STROWGER_MAX_SETUP_CALLS=50", "STROWGER_MIN_FREE_RTP_PAIRS=0", "STROWGER_MAX_CALLS=100"})
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxSetupCalls != 50 || c.MinFreeRTPPairs != 0 || c.MaxCalls != 500 {
		t.Fatalf("overload env/flags: setup %d, floor %d, calls %d", c.MaxSetupCalls, c.MinFreeRTPPairs, c.MaxCalls)
	}
	// The floor must leave room for calls in the RTP range.
	if _, err := Parse("serve", []string{"--rtp-ports", "20000-20009", "--min-free-rtp-pairs", "4"}, nil); err != nil {
		t.Fatalf("floor below the range's 5 pairs: %v", err)
	}
	_, err = Parse("serve", []string{"--rtp-ports", "20000-20009", "--min-free-rtp-pairs", "5"}, nil)
	if err == nil || !strings.Contains(err.Error(), "--min-free-rtp-pairs 5") || !strings.Contains(err.Error(), "5 pairs") {
		t.Fatalf("floor at the range's pairs: %v", err)
	}
}
