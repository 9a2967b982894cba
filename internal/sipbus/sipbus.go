// Package sipbus is the contract between the SIP edge and the media nodes:
// how SIP messages travel over NATS between them, how media nodes announce
// themselves, and how call ownership is read. Both the edge and media roles
// import it (roles never import each other); it imports nothing of ours.
//
// # Subjects (all built in internal/bus/subjects.go)
//
//   - bus.MediaNodeSIP(node)  edge → media node: requests from phones and
//     responses to requests the node sent. The node subscribes to the
//     sip_subject it advertises in its heartbeat (normally this one).
//   - bus.EdgeNodeSIP(edge)   media node → one edge: responses to requests
//     that edge relayed (Envelope.Edge of the request), and requests to a
//     phone whose binding names that edge (location.Binding.EdgeID).
//   - bus.EdgeSIP             media node → any edge (queue group "edge"):
//     requests that need no particular edge (no flow to honour).
//
// # Messages
//
// Every message is one Envelope, JSON, carrying one raw SIP message.
//
// Edge → node, request (Kind "request"): the edge has validated it, absorbed
// retransmissions of its own answers, authenticated dialog-creating requests
// (Auth set), pushed its own Via on top (so the node's responses come back
// through it), added a Record-Route pointing at itself to dialog-creating
// requests, removed its own Route entry and decremented Max-Forwards. Flow
// is where the phone is; the node must copy Flow and Edge into the
// envelopes of its responses to this request.
//
// Node → edge, response (Kind "response"): the node answers with the edge's
// Via still on top; the edge pops it and sends the rest to Flow.
//
// Node → edge, request (Kind "request"): a request towards a phone. The node
// puts the phone's remote target in the Request-URI and its route set in
// Route headers as for any UAC (the edge's own Record-Route entry, if
// first, is removed by the edge). The edge pushes its Via (carrying the
// node id so the phone's responses return to the node), record-routes
// dialog-creating requests, and sends to Flow when set (the phone's NAT
// binding from location.Binding source_*), else to the Request-URI's
// host:port (IP literals only; the edge does no DNS for nodes).
//
// Edge → node, response (Kind "response"): a phone's response to a node's
// request, the edge's Via popped; Flow says where it came from.
//
// # Epochs
//
// Envelopes from a node about an existing call carry CallID and Epoch: the
// ownership epoch under which the node acts. The edge reads the call's
// CallOwner and drops the message when the stored epoch is higher (a paused
// node that woke up after a takeover). Epoch 0 means "no call record yet"
// (ringing, or a request that creates the call) and is not checked.
//
// # Heartbeats (bucket store.BucketNodes, key store.NodeKey(id))
//
// A media node Puts a Heartbeat every HeartbeatEvery with ExpiresAt =
// now + NodeTTL and a KV TTL as a backstop. The edge keeps the latest
// heartbeat of every node and sends new dialogs only to nodes whose
// ExpiresAt is in the future on its clock: a node that stops heart-beating
// gets no new call at most NodeTTL after its last beat. A draining node
// publishes Draining=true: it keeps its calls but gets no new ones.
//
// # Call ownership (bucket store.BucketCalls, key store.CallKey(call-id))
//
// The media node that owns a call writes, for the Call-ID of every
// phone-facing leg, a JSON value whose top level has at least
// {"owner_node": "<node id>", "epoch": <n>}; other fields are the node's
// checkpoint and are ignored by the edge. In-dialog requests from phones
// (those with a To tag, and ACKs for 2xx) are forwarded to owner_node as
// read at the moment they arrive, so a takeover that CASes the key moves
// the dialog at once. No key → 481.
package sipbus

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version of the envelope; readers accept any version ≥ 1 and ignore
// unknown fields.
const Version = 1

// Envelope kinds.
const (
	KindRequest  = "request"
	KindResponse = "response"
)

// Timing of the node registry.
const (
	// HeartbeatEvery is how often a media node should beat.
	HeartbeatEvery = 250 * time.Millisecond
	// NodeTTL is how far ahead a heartbeat's ExpiresAt should be; the edge
	// stops sending new calls to a node this long after its last beat.
	NodeTTL = 1 * time.Second
)

// Envelope carries one SIP message between an edge and a media node.
type Envelope struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	// Edge is the edge node that received the message from outside, or
	// that must send it out.
	Edge string `json:"edge,omitempty"`
	// Node is the media node that sent the message or must receive it.
	Node string `json:"node,omitempty"`
	// Flow is the phone side of the message (see package doc).
	Flow *Flow `json:"flow,omitempty"`
	// CallID and Epoch identify the call and ownership epoch (node → edge).
	CallID string `json:"call_id,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
	// Auth is who the edge authenticated the request as (edge → node).
	Auth *Auth `json:"auth,omitempty"`
	// Msg is the raw SIP message (base64 in JSON).
	Msg []byte `json:"msg"`
}

// Flow is a transport-level path to a phone.
type Flow struct {
	Transport string `json:"transport"` // "udp" or "tcp"
	Remote    string `json:"remote"`    // ip:port of the phone (after NAT)
	Local     string `json:"local"`     // ip:port of the edge socket
}

// Auth is the identity behind an authenticated request, in Kazoo's
// custom-channel-var terms.
type Auth struct {
	AccountID       string `json:"account_id"`
	Realm           string `json:"realm"`
	Username        string `json:"username"`
	AuthorizingID   string `json:"authorizing_id"`
	AuthorizingType string `json:"authorizing_type"`
	OwnerID         string `json:"owner_id,omitempty"`
}

// Heartbeat is a media node's entry in store.BucketNodes.
type Heartbeat struct {
	ID         string    `json:"id"`
	SIPSubject string    `json:"sip_subject"`
	Load       float64   `json:"load"`
	StartedAt  time.Time `json:"started_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	Draining   bool      `json:"draining,omitempty"`
}

// CallOwner is the part of a store.BucketCalls value the edge reads.
type CallOwner struct {
	OwnerNode string `json:"owner_node"`
	Epoch     uint64 `json:"epoch"`
}

// Marshal encodes e, filling in the version.
func (e Envelope) Marshal() ([]byte, error) {
	e.V = Version
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding sip envelope: %w", err)
	}
	return b, nil
}

// Unmarshal decodes an envelope and checks the fields every reader needs.
func Unmarshal(data []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("decoding sip envelope: %w", err)
	}
	if e.V < 1 {
		return e, fmt.Errorf("sip envelope: missing version")
	}
	if e.Kind != KindRequest && e.Kind != KindResponse {
		return e, fmt.Errorf("sip envelope: unknown kind %q", e.Kind)
	}
	if len(e.Msg) == 0 {
		return e, fmt.Errorf("sip envelope: empty message")
	}
	return e, nil
}
