package media

import (
	"testing"
)

// engines are the engines this platform runs.
func engines() []Engine {
	if platformEngine == EngineEpoll {
		return []Engine{EngineGoroutines, EngineEpoll}
	}
	return []Engine{EngineGoroutines}
}

// useEngine makes EngineAuto mean e for the rest of the test. Tests that
// use it must not run in parallel.
func useEngine(t testing.TB, e Engine) {
	old := autoEngine
	autoEngine = e
	t.Cleanup(func() { autoEngine = old })
}

// relaySuite is every test of the relay's behaviour; each engine must pass
// all of them unchanged.
var relaySuite = []struct {
	name string
	fn   func(*testing.T)
}{
	{"BothWaysWithPTMapping", TestRelayBothWaysWithPTMapping},
	{"UnmappedAndUnknownPayloadTypes", TestUnmappedAndUnknownPayloadTypes},
	{"LatchingBehindNATAndStrangers", TestLatchingBehindNATAndStrangers},
	{"SDPAddressLatchesAtOnce", TestSDPAddressLatchesAtOnce},
	{"TimeoutOnFakeClock", TestTimeoutOnFakeClock},
	{"HoldSuspendsTimeoutAndOneWay", TestHoldSuspendsTimeoutAndOneWay},
	{"HoldByZeroAddress", TestHoldByZeroAddress},
	{"RepointKeepsStreamContinuous", TestRepointKeepsStreamContinuous},
	{"RTCPTranslatedAndRelayed", TestRTCPTranslatedAndRelayed},
	{"StateRestoreRoundTrip", TestStateRestoreRoundTrip},
	{"SuspendStopsSending", TestSuspendStopsSending},
	{"PathDoesNotAllocate", TestRelayPathDoesNotAllocate},
}

func TestRelaySuiteOnEveryEngine(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.String(), func(t *testing.T) {
			useEngine(t, e)
			// The suite builds its relays with EngineAuto: make sure that
			// is the engine under test.
			sa, sb := defaultSpecs(101, 101)
			if h := newHarness(t, Config{}, sa, sb); h.relay.engine != e {
				t.Fatalf("relay runs on %v", h.relay.engine)
			}
			for _, tc := range relaySuite {
				t.Run(tc.name, tc.fn)
			}
		})
	}
}

func TestParseEngine(t *testing.T) {
	good := map[string]Engine{"": EngineAuto, "auto": EngineAuto, " Goroutines ": EngineGoroutines}
	if platformEngine == EngineEpoll {
		good["epoll"] = EngineEpoll
	}
	for in, want := range good {
		if got, err := ParseEngine(in); err != nil || got != want {
			t.Errorf("ParseEngine(%q) = %v, %v", in, got, err)
		}
	}
	bad := []string{"io_uring", "goroutine", "1"}
	if platformEngine != EngineEpoll {
		bad = append(bad, "epoll")
	}
	for _, in := range bad {
		if _, err := ParseEngine(in); err == nil {
			t.Errorf("ParseEngine(%q) accepted", in)
		}
	}
	if _, err := Engine(9).resolve(); err == nil {
		t.Error("an unknown engine resolved")
	}
	if Engine(9).String() != "engine(9)" {
		t.Errorf("String %q", Engine(9).String())
	}
}

// TestUnknownEngineRefused: a relay with an engine this build does not
// know fails and still releases the pairs it was given.
func TestUnknownEngineRefused(t *testing.T) {
	pa, pb := mustPair(t), mustPair(t)
	if _, err := NewRelay(Config{Engine: 9}, Leg{Ports: pa}, Leg{Ports: pb}); err == nil {
		t.Fatal("relay started with engine 9")
	}
	if _, err := pa.RTP.Write([]byte{1}); err == nil {
		t.Fatal("pair a not closed")
	}
}
