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
// Every message is one Envelope carrying one raw SIP message, in one of two
// encodings that every reader accepts (Unmarshal tells them apart by the
// first byte):
//
//   - JSON (Version 1, Marshal): an object, so its first byte is '{' or
//     white space. Every release reads and can write it.
//   - binary (BinaryVersion 2, AppendBinary): first byte 2, then the
//     fields in a fixed order (layout on AppendBinary). About a tenth of
//     the CPU of JSON, whose base64 message body dominated the cost of
//     every SIP message on the bus.
//
// A writer uses the binary form only towards a reader known to read it,
// so nodes of different releases can share a cluster during an upgrade: an
// edge sends binary to a media node whose Heartbeat has Envelope ≥
// BinaryVersion, and a media node sends binary to an edge from which its
// last envelope was binary (an edge that reads binary writes it to such
// nodes). Everything else gets JSON.
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
// A call's epoch rises only when its owner's lease lapsed (the owner
// stopped heart-beating for longer than NodeTTL and a survivor claimed the
// call) or when the owner, draining (Heartbeat.Draining), handed it over.
// Edges rely on it: they check epochs against the owner they last read
// while that owner heart-beats without a gap and is not draining, and read
// the key again otherwise (internal/edge owners.go).
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
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Version of the JSON envelope; readers accept any version ≥ 1 and ignore
// unknown fields.
const Version = 1

// BinaryVersion is the first byte of a binary envelope, and the Envelope
// a node announces in its Heartbeat when it reads binary envelopes.
const BinaryVersion = 2

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
	// Envelope is the highest envelope encoding the node reads: 0 or 1
	// JSON only (older releases), BinaryVersion the binary form too.
	Envelope int `json:"envelope,omitempty"`
}

// CallOwner is the part of a store.BucketCalls value the edge reads.
type CallOwner struct {
	OwnerNode string `json:"owner_node"`
	Epoch     uint64 `json:"epoch"`
}

// DecodeCallOwner reads the ownership out of a store.BucketCalls value.
// Values that begin {"owner_node":"…","epoch":N (as the media node writes
// them) are read from that prefix alone, without scanning the checkpoint
// behind it (which is therefore not validated, and must not repeat either
// field: the media node's Record never does); any other JSON is decoded in
// full. A value that is not JSON, or has no owner_node, is an error.
func DecodeCallOwner(data []byte) (CallOwner, error) {
	if o, ok := ownerPrefix(data); ok {
		return o, nil
	}
	var o CallOwner
	if err := json.Unmarshal(data, &o); err != nil {
		return CallOwner{}, fmt.Errorf("decoding call owner: %w", err)
	}
	if o.OwnerNode == "" {
		return CallOwner{}, errors.New("decoding call owner: no owner_node")
	}
	return o, nil
}

// ownerPrefix is DecodeCallOwner's fast path; ok is false when data does
// not start exactly so (then the full decoder decides).
func ownerPrefix(data []byte) (CallOwner, bool) {
	const head, mid = `{"owner_node":"`, `","epoch":`
	if len(data) < len(head) || string(data[:len(head)]) != head {
		return CallOwner{}, false
	}
	rest := data[len(head):]
	i := 0
	for i < len(rest) && rest[i] != '"' {
		if rest[i] == '\\' || rest[i] < 0x20 || rest[i] >= 0x80 {
			return CallOwner{}, false // escapes and non-ASCII: the full decoder
		}
		i++
	}
	if i == 0 || i+len(mid) > len(rest) || string(rest[i:i+len(mid)]) != mid {
		return CallOwner{}, false
	}
	node := string(rest[:i])
	num := rest[i+len(mid):]
	var epoch uint64
	j := 0
	for ; j < len(num) && num[j] >= '0' && num[j] <= '9'; j++ {
		if j == 19 {
			return CallOwner{}, false // could overflow: the full decoder
		}
		epoch = epoch*10 + uint64(num[j]-'0')
	}
	if j == 0 || j == len(num) || (num[j] != ',' && num[j] != '}') || (num[0] == '0' && j > 1) {
		return CallOwner{}, false
	}
	return CallOwner{OwnerNode: node, Epoch: epoch}, true
}

// Marshal encodes e as JSON (Version 1), filling in the version.
func (e Envelope) Marshal() ([]byte, error) {
	e.V = Version
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding sip envelope: %w", err)
	}
	return b, nil
}

// Flag bits of a binary envelope.
const (
	binFlow = 1 << iota
	binAuth
)

// Binary kind bytes.
const (
	binRequest  = 1
	binResponse = 2
)

// AppendBinary appends e in the binary encoding to dst and returns the
// extended slice. The layout, in order:
//
//	byte     BinaryVersion
//	byte     kind: 1 request, 2 response
//	byte     flags: 1 Flow present, 2 Auth present (other bits: ignore)
//	uvarint  Epoch
//	string   Edge, Node, CallID
//	string   Flow.Transport, Flow.Remote, Flow.Local            (if flag 1)
//	string   Auth.AccountID, Realm, Username, AuthorizingID,
//	         AuthorizingType, OwnerID                          (if flag 2)
//	uint32   length of Msg, big-endian, then Msg
//	...      anything after Msg is ignored (room for later fields)
//
// where string is a uvarint length and that many bytes. A Kind other than
// KindRequest is written as a response; Unmarshal refuses what Marshal
// would refuse to read back (an empty Msg).
func (e Envelope) AppendBinary(dst []byte) []byte {
	kind := byte(binResponse)
	if e.Kind == KindRequest {
		kind = binRequest
	}
	flags := byte(0)
	if e.Flow != nil {
		flags |= binFlow
	}
	if e.Auth != nil {
		flags |= binAuth
	}
	dst = append(dst, BinaryVersion, kind, flags)
	dst = binary.AppendUvarint(dst, e.Epoch)
	dst = appendString(dst, e.Edge)
	dst = appendString(dst, e.Node)
	dst = appendString(dst, e.CallID)
	if f := e.Flow; f != nil {
		dst = appendString(dst, f.Transport)
		dst = appendString(dst, f.Remote)
		dst = appendString(dst, f.Local)
	}
	if a := e.Auth; a != nil {
		dst = appendString(dst, a.AccountID)
		dst = appendString(dst, a.Realm)
		dst = appendString(dst, a.Username)
		dst = appendString(dst, a.AuthorizingID)
		dst = appendString(dst, a.AuthorizingType)
		dst = appendString(dst, a.OwnerID)
	}
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Msg)))
	return append(dst, e.Msg...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Unmarshal decodes an envelope in either encoding and checks the fields
// every reader needs. A binary envelope comes back with V =
// BinaryVersion, a JSON one with the V it carried. The Msg of a binary
// envelope shares data's memory: data must not change while it is used.
func Unmarshal(data []byte) (Envelope, error) {
	var e Envelope
	if len(data) > 0 && data[0] == BinaryVersion {
		var err error
		if e, err = unmarshalBinary(data); err != nil {
			return e, fmt.Errorf("decoding sip envelope: %w", err)
		}
	} else if err := json.Unmarshal(data, &e); err != nil {
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

var errTruncated = errors.New("binary envelope truncated")

// binReader reads a binary envelope's fields, remembering the first error.
type binReader struct {
	b   []byte
	err error
}

func (r *binReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *binReader) str() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	if n > uint64(len(r.b)) {
		r.err = errTruncated
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func unmarshalBinary(data []byte) (Envelope, error) {
	var e Envelope
	if len(data) < 3 {
		return e, errTruncated
	}
	e.V = BinaryVersion
	switch data[1] {
	case binRequest:
		e.Kind = KindRequest
	case binResponse:
		e.Kind = KindResponse
	default:
		return e, fmt.Errorf("binary envelope: unknown kind byte %d", data[1])
	}
	flags := data[2]
	r := binReader{b: data[3:]}
	e.Epoch = r.uvarint()
	e.Edge, e.Node, e.CallID = r.str(), r.str(), r.str()
	if flags&binFlow != 0 {
		e.Flow = &Flow{Transport: r.str(), Remote: r.str(), Local: r.str()}
	}
	if flags&binAuth != 0 {
		e.Auth = &Auth{AccountID: r.str(), Realm: r.str(), Username: r.str(), AuthorizingID: r.str(),
			AuthorizingType: r.str(), OwnerID: r.str()}
	}
	if r.err != nil {
		return e, r.err
	}
	if len(r.b) < 4 {
		return e, errTruncated
	}
	n := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	if uint64(n) > uint64(len(r.b)) {
		return e, errTruncated
	}
	e.Msg = r.b[:n:n]
	return e, nil
}
