package sdp_test

import (
	"testing"

	"github.com/strowger/strowger/internal/sdp"
)

// FuzzParseNegotiate runs any body through the path a SIP layer takes:
// parse, negotiate, answer. The seed corpus in testdata/fuzz holds SDPs in
// the style of common phones and proxies. Properties: no panic; every
// refusal maps to 400 or 488; every answer we build parses again, keeps the
// offer's m= lines in order and is acceptable to the offerer.
func FuzzParseNegotiate(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		offer, err := sdp.Parse(body)
		if err != nil {
			if sdp.StatusCode(err) != 400 {
				t.Fatalf("parse error %v maps to %d", err, sdp.StatusCode(err))
			}
			return
		}
		n, err := sdp.Negotiate(offer, sdp.Options{})
		if err != nil {
			if sdp.StatusCode(err) != 488 {
				t.Fatalf("negotiation error %v maps to %d", err, sdp.StatusCode(err))
			}
			return
		}
		out, err := sdp.Answer(ourSide, offer, n)
		if err != nil {
			t.Fatalf("answer: %v", err)
		}
		ans, err := sdp.Parse(out)
		if err != nil {
			t.Fatalf("our answer does not parse: %v\n%s", err, out)
		}
		if len(ans.Media) != len(offer.Media) {
			t.Fatalf("answer has %d m= lines, offer %d", len(ans.Media), len(offer.Media))
		}
		for i := range ans.Media {
			if ans.Media[i].Kind != offer.Media[i].Kind || (i != n.Index && ans.Media[i].Port != 0) {
				t.Fatalf("line %d: answered %+v to %+v", i, ans.Media[i], offer.Media[i])
			}
		}
		m := offer.Media[n.Index]
		if _, err := sdp.NegotiateAnswer(m.Codecs, m.Direction, onlyLine(ans, n.Index)); err != nil {
			t.Fatalf("offerer would refuse our answer: %v\n%s", err, out)
		}
	})
}
