package media

import (
	"fmt"
	"strings"
)

// Engine selects how a Relay moves packets between its sockets.
type Engine uint8

const (
	// EngineAuto is EngineEpoll where it exists (Linux), else
	// EngineGoroutines.
	EngineAuto Engine = iota
	// EngineGoroutines gives each socket its own goroutine blocking in the
	// Go netpoller: four per call. Simple and portable; each packet costs a
	// netpoller wake-up and scheduler hand-offs.
	EngineGoroutines
	// EngineEpoll hands the sockets to a few reactor workers shared by
	// every relay of the process (one per GOMAXPROCS), each reading ready
	// sockets from its own level-triggered epoll set and relaying with
	// plain system calls: no goroutine per call, no netpoller round trip
	// per packet. Linux only.
	EngineEpoll
)

// autoEngine is what EngineAuto means on this platform; tests switch it to
// run the relay suite against every engine.
var autoEngine = platformEngine

// ParseEngine reads an engine name: "auto", "goroutines" or "epoll".
func ParseEngine(s string) (Engine, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return EngineAuto, nil
	case "goroutines":
		return EngineGoroutines, nil
	case "epoll":
		if platformEngine != EngineEpoll {
			return 0, fmt.Errorf("media engine %q: not available on this platform", s)
		}
		return EngineEpoll, nil
	}
	return 0, fmt.Errorf("media engine %q: want auto, goroutines or epoll", s)
}

func (e Engine) String() string {
	switch e {
	case EngineAuto:
		return "auto"
	case EngineGoroutines:
		return "goroutines"
	case EngineEpoll:
		return "epoll"
	}
	return fmt.Sprintf("engine(%d)", uint8(e))
}

// resolve turns EngineAuto into the platform's engine and rejects engines
// this build cannot run.
func (e Engine) resolve() (Engine, error) {
	switch e {
	case EngineAuto:
		return autoEngine, nil
	case EngineGoroutines:
		return e, nil
	case EngineEpoll:
		if platformEngine != EngineEpoll {
			return 0, fmt.Errorf("media: the epoll engine is not available on this platform")
		}
		return e, nil
	}
	return 0, fmt.Errorf("media: unknown engine %d", uint8(e))
}
