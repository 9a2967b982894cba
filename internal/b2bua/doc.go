// Package b2bua is the media role's back-to-back user agent: it terminates
// the caller's leg (an INVITE the edge authenticated and relayed over NATS),
// runs the call's routing (the dialplan and callflow engine, through
// Router), rings callees through the edge that holds their registration,
// anchors the media on this node (media.Relay), checkpoints every call in
// KV, publishes call events and writes one CDR per leg. Each call
// implements callflow.Call, the only face modules see.
//
// # Imports
//
// bus, sipbus, store, location, cdr, media, sdp, callflow, dialplan, clock
// and sipgo's sip package (parsing only). It never imports another role
// (edge, api): it talks to edges only through sipbus envelopes. Node wires
// it; the api role uses only Channels.
//
// # SIP over the bus
//
// Envelopes arrive on bus.MediaNodeSIP(node). Requests and responses for a
// known Call-ID (a caller leg or any callee leg) go to that call; a new
// INVITE makes a call; anything else is answered 481. The transaction
// layer is the call's own (tx.go), on the injected clock: server
// transactions answer a retransmitted request with the stored answer;
// INVITE client transactions retransmit on UDP flows (timer A, doubling)
// and give up after timer B; non-INVITE ones use E/F; final answers to an
// INVITE are retransmitted until the ACK (timer G) and abandoned after
// 64·T1 (timer H; a 2xx never ACKed ends the call, RFC 3261 §13.3.1.4).
// The edge forwards every copy of a UDP request, so a finished call leaves
// a tombstone for 64·T1: a late copy of its INVITE or BYE gets the same
// answer again instead of starting a new call. A ringing callee is bounded
// by its ring timeout (timer B stops at the first provisional).
// CANCEL follows §9.1: sent only after a provisional, with the INVITE's
// branch (the edge maps it to the same branch at the phone). Reliable
// (TCP) flows are not retransmitted on.
//
// # Calls
//
// One caller dialog (our To tag is fixed for the call) and one dialog per
// fork: every registered contact of every endpoint gets its own outbound
// INVITE with its own Call-ID, sent through bus.EdgeNodeSIP(binding edge)
// with the binding's flow. All forks are offered the same SDP (our leg-B
// port pair and the codecs the caller accepted), so the relay need not know
// which fork wins. The first 2xx wins; the others are CANCELled (LOSE_RACE
// in their CDR); a 2xx that arrives after is ACKed and then BYEd.
// Provisional answers are relayed as 180, or 183 with our SDP when the
// callee sent early media. re-INVITEs from either side are carried to the
// other with our address and version+1 (hold and resume), and the relay is
// updated when the answer comes back. Codecs are never transcoded: PCMU,
// PCMA and telephone-event only, 488 when the caller offers none of them.
//
// # Late offers (lateoffer.go)
//
// A caller's INVITE without SDP is a late offer (RFC 3261 §13.2.1, RFC
// 3264): its ports are taken at once, and every fork is offered our own
// session on leg B (PCMU, PCMA, telephone-event), so the callee side is an
// ordinary early offer. Provisionals reach such a caller as 180/183
// without SDP (no offer in an unreliable provisional; its early media
// waits). The winning 2xx fixes the codecs: the caller's 200 carries our
// offer (our leg-A address, the callee's audio codecs plus
// telephone-event), retransmitted unchanged until the ACK, and the relay
// starts with the caller's side unknown. The first ACK of that INVITE
// carries the answer: it is negotiated and the caller's side of the relay
// pointed at its address (latching as usual); later ACKs are ignored. An
// ACK without an answer, or with one we cannot use, ends the call: BYE to
// both legs with Reason cause 488, CDRs INCOMPATIBLE_DESTINATION
// sip:488. A callflow that answers a late-offer caller itself (Answer)
// offers everything we relay the same way. A re-INVITE without SDP from
// either leg of an answered call is answered 200 with our current session
// for that leg (its o= version bumped only when the body changes, RFC
// 3264 §8; direction sendrecv unless the other leg holds by its own
// choice), and the ACK's answer is applied to that leg's side of the
// relay (hold, resume, new address) without a re-INVITE to the other leg.
// While an answer is due, the checkpoint's pending_offer says so and a
// re-INVITE from either leg gets 491 (RFC 3261 §14.2).
//
// # Overload
//
// A new INVITE is admitted only while fewer than Config.MaxSetupCalls
// calls are in setup (admitted, and the caller has had neither a 18x nor
// a final answer) and at least Config.MinFreePortPairs RTP pairs are
// free. Otherwise it is answered at once 503 with Retry-After
// (Config.OverloadRetryAfter) on a short-lived call that does no routing,
// media or KV work but, like every refused caller, gets timer G, a
// tombstone and its CDR (hangup code sip:503). In-dialog requests and
// responses of existing calls never pass admission. The calls in setup are
// the signal because that is where work piles up (see overload.go); a
// draining node refuses new INVITEs 503 too, statelessly.
//
// # State
//
// Every phone-facing leg has a key store.CallKey(call-id) in
// store.BucketCalls (Record: owner_node, epoch 1, the leg as a channel, and
// on the caller's key the whole Checkpoint: both dialogs, SDP origins,
// media.State, callflow position, late_offer and any pending_offer whose
// answer an ACK still owes). The caller's key is written before any
// answer but 100 Trying, a callee's before its INVITE leaves; the
// caller's key is checkpointed on answer, bridge, re-INVITE and callflow
// position (a callee's key only carries ownership: it is not rewritten
// while that stays, its dialog being in the checkpoint), every leg's
// channel index entry when its channel changes, and all are removed when
// the call ends. Events CHANNEL_CREATE, CHANNEL_ANSWER,
// CHANNEL_BRIDGE and CHANNEL_DESTROY go to bus.CallEvent.
//
// # Goroutines and locks
//
// Per call: one call goroutine (run) that owns all call state and runs
// every SIP handler and timer callback (timers post closures into it),
// one callflow goroutine (the Router) that reaches call state only through
// post/do, and the relay's four socket readers (media package). Nothing
// else. The subscription goroutine only parses and posts. There is no lock
// on the call path: calls are found in a sync.Map, and a call's state has
// one owner. Lock order is therefore trivial: the B2BUA holds no lock while
// calling media.Relay (which has its own, see media).
package b2bua
