// Package media is Strowger's media engine: G.711 codecs, RFC 4733
// telephone-events, the RTP port allocator and the anchored RTP/RTCP relay
// between two call legs, whose state is a serialisable value (State) so
// another node can take a call over.
//
// It knows nothing of SIP, NATS or tenants: the B2BUA (media role) imports
// it, negotiates with internal/sdp and hands the outcome here. It imports
// only internal/sdp (for Codec and Direction) and internal/clock.
//
// Engines (Config.Engine): on Linux a Relay's sockets are handed to the
// process's epoll reactor (epoll_linux.go): GOMAXPROCS worker goroutines,
// started with the first relay and stopped with the last, each relaying
// the packets of the calls assigned to it with plain recvfrom/sendto, so a
// call costs no goroutine. EngineGoroutines (the only engine elsewhere)
// gives a Relay one reader goroutine per socket (four per call). Either
// way Close returns only when no packet of the relay is being handled.
//
// Lock order inside a Relay: Relay.mu, then a flow's mu; the packet path
// takes only its own flow's mu, never a lock shared between calls. The
// reactor's mu is taken when relays start and close, never per packet.
package media
