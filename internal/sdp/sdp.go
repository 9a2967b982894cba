// Package sdp is Strowger's SDP offer/answer layer for anchored audio: it
// parses SDP bodies strictly (on github.com/pion/sdp/v3), negotiates PCMU,
// PCMA and telephone-event, and builds the offers and answers that carry the
// media node's own address.
//
// It knows nothing of SIP, NATS or tenants. The B2BUA imports it; so does
// internal/media, for the Codec and Direction types it shares. Errors carry
// the SIP status a signalling layer should answer with: see StatusCode.
package sdp

import (
	"errors"
	"fmt"
)

// ErrMalformed is the sentinel for bodies that are not valid SDP; a SIP layer
// answers them with 400 Bad Request.
var ErrMalformed = errors.New("sdp: malformed")

// ErrNotAcceptable is the sentinel for valid SDP that offers nothing we can
// use (no audio stream with a codec we support); a SIP layer answers it with
// 488 Not Acceptable Here.
var ErrNotAcceptable = errors.New("sdp: not acceptable")

// Error describes why an SDP body was refused. It matches ErrMalformed or
// ErrNotAcceptable with errors.Is.
type Error struct {
	kind   error // ErrMalformed or ErrNotAcceptable
	Line   int   // 1-based line of the problem, 0 when not tied to a line
	Reason string
	cause  error
}

func (e *Error) Error() string {
	s := e.kind.Error()
	if e.Line > 0 {
		s += fmt.Sprintf(": line %d", e.Line)
	}
	s += ": " + e.Reason
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrMalformed) and errors.Is(err, ErrNotAcceptable) work.
func (e *Error) Is(target error) bool { return target == e.kind }

// Unwrap returns the underlying parser error, if any.
func (e *Error) Unwrap() error { return e.cause }

// StatusCode maps an error from this package to the SIP response code a
// signalling layer should send: 400 for malformed SDP, 488 for unusable SDP,
// 0 for anything else (not an SDP problem).
func StatusCode(err error) int {
	switch {
	case errors.Is(err, ErrMalformed):
		return 400
	case errors.Is(err, ErrNotAcceptable):
		return 488
	}
	return 0
}

func malformed(line int, reason string, cause error) error {
	return &Error{kind: ErrMalformed, Line: line, Reason: reason, cause: cause}
}

func notAcceptable(reason string) error {
	return &Error{kind: ErrNotAcceptable, Reason: reason}
}

// Direction is the media direction an SDP author declares for a stream, seen
// from that author: SendOnly means "I send and do not want to receive". The
// zero value is SendRecv, the RFC 4566 default.
type Direction uint8

// Directions, named as their SDP attributes.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

var directionNames = [...]string{"sendrecv", "sendonly", "recvonly", "inactive"}

func (d Direction) String() string {
	if int(d) < len(directionNames) {
		return directionNames[d]
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// ParseDirection reads one of the four direction attribute names.
func ParseDirection(s string) (Direction, error) {
	for i, n := range directionNames {
		if s == n {
			return Direction(i), nil
		}
	}
	return 0, fmt.Errorf("sdp: unknown direction %q", s)
}

// MarshalText makes Direction a JSON string in checkpoints.
func (d Direction) MarshalText() ([]byte, error) {
	if int(d) >= len(directionNames) {
		return nil, fmt.Errorf("sdp: invalid direction %d", uint8(d))
	}
	return []byte(directionNames[d]), nil
}

// UnmarshalText is the inverse of MarshalText.
func (d *Direction) UnmarshalText(b []byte) error {
	v, err := ParseDirection(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Sends reports whether the author of this direction sends media.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether the author of this direction wants media.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

func makeDirection(sends, receives bool) Direction {
	switch {
	case sends && receives:
		return SendRecv
	case sends:
		return SendOnly
	case receives:
		return RecvOnly
	}
	return Inactive
}

// Reverse is the direction seen from the other end: sendonly becomes
// recvonly and the reverse; sendrecv and inactive are unchanged.
func (d Direction) Reverse() Direction { return makeDirection(d.Receives(), d.Sends()) }

// AnswerDirection is the direction an answerer declares for a stream offered
// with offered, when the answerer itself would like local (RFC 3264 §6.1):
// it may only send what the offerer receives and receive what it sends.
func AnswerDirection(offered, local Direction) Direction {
	return makeDirection(offered.Receives() && local.Sends(), offered.Sends() && local.Receives())
}
