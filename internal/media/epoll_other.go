//go:build !linux

package media

import (
	"errors"
	"net/netip"
)

// Without epoll every relay runs on EngineGoroutines; Engine.resolve
// refuses EngineEpoll, so nothing below is reached.
const platformEngine = EngineGoroutines

var errNoEpoll = errors.New("media: the epoll engine needs Linux")

type epollRelay struct{}

func (*epollRelay) register(*Relay) error { return errNoEpoll }
func (*epollRelay) unregister()           {}

func detachPair(*PortPair) ([2]int, bool, error) { return [2]int{-1, -1}, false, errNoEpoll }

func sendRaw(int, bool, []byte, netip.AddrPort) error { return errNoEpoll }
