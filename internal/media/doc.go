// Package media is Strowger's media engine: G.711 codecs, RFC 4733
// telephone-events, the RTP port allocator and the anchored RTP/RTCP relay
// between two call legs, whose state is a serialisable value (State) so
// another node can take a call over.
//
// It knows nothing of SIP, NATS or tenants: the B2BUA (media role) imports
// it, negotiates with internal/sdp and hands the outcome here. It imports
// only internal/sdp (for Codec and Direction) and internal/clock.
//
// Goroutines: a Relay owns one reader goroutine per socket (four per call)
// and stops them in Close. Lock order inside a Relay: Relay.mu, then a
// flow's mu; the packet path takes only its own flow's mu, never a lock
// shared between calls.
package media
