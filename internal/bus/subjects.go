// Package bus owns the NATS side of Strowger: the embedded server, the
// connection every role shares, and — in this file — every subject name.
//
// Any package may import bus. Subject names are built only here so that the
// whole message map of the platform can be read in one place.
//
// Tokens that come from users (account IDs are 32 hex characters and safe;
// numbers, usernames and Call-IDs are not) must pass through Token first.
package bus

import "encoding/base64"

// Token encodes an arbitrary string as one safe subject or KV-key token:
// unpadded base64url, whose alphabet (A-Z a-z 0-9 - _) NATS accepts in both
// subjects and KV keys, and which never contains '.', '*' or '>'.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

// Untoken reverses Token.
func Untoken(t string) (string, error) {
	if t == "_" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	return string(b), err
}

// Subject prefixes. Every subject starts with "strowger." so a shared NATS
// cluster can host other tenants of its own.
const prefix = "strowger."

// DocEvent is published after a document is created, updated or deleted:
//
//	strowger.docs.<account>.<type>.<id>   payload: store.DocEvent JSON
//
// Caches subscribe to strowger.docs.<account>.> or strowger.docs.> .
func DocEvent(account, docType, id string) string {
	return prefix + "docs." + account + "." + docType + "." + id
}

// DocEventsAll matches every document event of every account.
const DocEventsAll = prefix + "docs.>"

// DocEventsType matches the document events of one type in every account.
func DocEventsType(docType string) string { return prefix + "docs.*." + docType + ".*" }

// DocEventsAccount matches every document event of one account.
func DocEventsAccount(account string) string { return prefix + "docs." + account + ".>" }

// StoreSync is the request subject (queue group "sync") on which the node
// that runs the embedded NATS server answers RequestSync: the reply, empty
// on success or an error text, comes once every write acknowledged before
// the request is on stable storage.
const StoreSync = prefix + "store.sync"

// CallEvent carries call events (create, answer, bridge, destroy):
//
//	strowger.calls.<account>.<event>.<callid-token>
func CallEvent(account, event, callID string) string {
	return prefix + "calls." + account + "." + event + "." + Token(callID)
}

// CallEventsAccount matches every call event of one account.
func CallEventsAccount(account string) string { return prefix + "calls." + account + ".>" }

// CDR is the subject a leg's CDR is stored under in the CDR stream:
//
//	strowger.cdr.<account>.<cdr-id>
func CDR(account, cdrID string) string { return prefix + "cdr." + account + "." + cdrID }

// CDRAccount matches every CDR of one account.
func CDRAccount(account string) string { return prefix + "cdr." + account + ".>" }

// CDRAll is the subject filter of the CDR stream.
const CDRAll = prefix + "cdr.>"

// MediaNodeSIP is the request subject on which a media node receives SIP
// requests and responses relayed by the edge:
//
//	strowger.node.<node-id>.sip
func MediaNodeSIP(nodeID string) string { return prefix + "node." + nodeID + ".sip" }

// EdgeSIP is the subject on which edges (queue group "edge") take SIP
// messages that media nodes want sent to the outside.
const EdgeSIP = prefix + "edge.sip"

// RegistrationEvent announces a binding change (register, refresh, unregister):
//
//	strowger.reg.<account>.<username-token>
func RegistrationEvent(account, username string) string {
	return prefix + "reg." + account + "." + Token(username)
}

// EdgeNodeSIP is the subject on which one edge takes SIP messages that must
// leave through it: responses to requests it relayed (it holds the phone's
// transaction and flow) and requests to phones whose TCP connection or NAT
// pinhole it holds (location.Binding.EdgeID):
//
//	strowger.edge.<edge-id>.sip   payload: sipbus.Envelope (JSON or binary)
func EdgeNodeSIP(edgeID string) string { return prefix + "edge." + edgeID + ".sip" }
