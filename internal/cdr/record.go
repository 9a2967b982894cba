// Package cdr writes and reads call detail records: one Record per call leg,
// stored durably in the CDR stream (store.StreamCDR) under
// bus.CDR(account, id) with the record id as the JetStream message id, so a
// retried write is stored once.
//
// The media role writes records (Writer); the api role reads them (Reader,
// which implements api.CDRSource). Records carry Kazoo's field names, so
// Kazoo billing scripts read them unchanged.
package cdr

import "time"

// Version of the record layout; readers accept any version and ignore
// unknown fields.
const Version = 1

// Record is one leg's CDR in Kazoo's shape (reference/kazoo.md §3).
type Record struct {
	V int `json:"v"`
	// ID is the record id: unique per leg and stable across retries (the
	// B2BUA derives it from the leg's Call-ID), used as the message id.
	ID              string `json:"id"`
	CallID          string `json:"call_id"`
	InteractionID   string `json:"interaction_id,omitempty"`
	OtherLegCallID  string `json:"other_leg_call_id,omitempty"`
	CallDirection   string `json:"call_direction"` // "inbound" (from a phone to us) or "outbound"
	CallerIDName    string `json:"caller_id_name,omitempty"`
	CallerIDNumber  string `json:"caller_id_number,omitempty"`
	CalleeIDName    string `json:"callee_id_name,omitempty"`
	CalleeIDNumber  string `json:"callee_id_number,omitempty"`
	From            string `json:"from,omitempty"`    // user@realm of From
	To              string `json:"to,omitempty"`      // user@realm of To
	Request         string `json:"request,omitempty"` // user@host of the Request-URI
	DurationSeconds int64  `json:"duration_seconds"`  // from creation to hangup
	BillingSeconds  int64  `json:"billing_seconds"`   // from answer to hangup
	RingingSeconds  int64  `json:"ringing_seconds"`   // from creation to answer (or hangup)
	// Timestamp is the leg's creation time in Gregorian seconds (Kazoo's
	// clock: seconds since year 0); Created is the same instant as RFC 3339.
	Timestamp         int64             `json:"timestamp"`
	Created           time.Time         `json:"created"`
	HangupCause       string            `json:"hangup_cause"` // e.g. NORMAL_CLEARING, USER_BUSY, NO_ANSWER
	HangupCode        string            `json:"hangup_code"`  // "sip:200", "sip:486"...
	CustomChannelVars map[string]string `json:"custom_channel_vars,omitempty"`
	MediaServer       string            `json:"media_server"` // node id of the media node
	// AccountID is the account the record is filed under (also in
	// custom_channel_vars.account_id).
	AccountID string `json:"account_id"`
}
