package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Event is one RFC 4733 telephone-event payload (§2.3): the event code
// (0-9, 10 '*', 11 '#', 12-15 A-D, 16 flash), the end bit, the volume in
// -dBm0 (0-63) and the duration so far in timestamp units.
type Event struct {
	Code     uint8
	End      bool
	Volume   uint8
	Duration uint16
}

// EventSize is the size of one telephone-event payload.
const EventSize = 4

// ErrEventPayload reports a payload that is not one telephone-event.
var ErrEventPayload = errors.New("media: bad telephone-event payload")

// ParseEvent reads a telephone-event payload. RFC 4733 §2.3 carries one
// event per packet; anything but 4 bytes (after RTP padding is removed) is
// refused. The reserved bit is ignored as §2.3.4 requires.
func ParseEvent(p []byte) (Event, error) {
	if len(p) != EventSize {
		return Event{}, fmt.Errorf("%w: %d bytes, want %d", ErrEventPayload, len(p), EventSize)
	}
	return Event{
		Code:     p[0],
		End:      p[1]&0x80 != 0,
		Volume:   p[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(p[2:4]),
	}, nil
}

// AppendEvent appends the payload of e to b.
func AppendEvent(b []byte, e Event) ([]byte, error) {
	if e.Volume > 63 {
		return b, fmt.Errorf("%w: volume %d above 63", ErrEventPayload, e.Volume)
	}
	flags := e.Volume
	if e.End {
		flags |= 0x80
	}
	return append(b, e.Code, flags, byte(e.Duration>>8), byte(e.Duration)), nil
}

const digits = "0123456789*#ABCD"

// EventDigit returns the DTMF character of an event code, if it is one.
func EventDigit(code uint8) (byte, bool) {
	if int(code) < len(digits) {
		return digits[code], true
	}
	return 0, false
}

// DigitEvent returns the event code of a DTMF character (0-9 * # A-D, also
// lower-case a-d).
func DigitEvent(d byte) (uint8, bool) {
	if d >= 'a' && d <= 'd' {
		d -= 'a' - 'A'
	}
	for i := range len(digits) {
		if digits[i] == d {
			return uint8(i), true
		}
	}
	return 0, false
}
