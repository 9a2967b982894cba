package edge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

// rfc4475 maps each torture message of RFC 4475 §3 (the RFC's own
// archive, testdata/rfc4475) to the edge's disposition: a status code, or
// 0 for silence. Valid requests reach the edge's normal handling: OPTIONS
// is answered, REGISTER challenged (401), every other out-of-dialog
// request challenged for proxy authentication (407), since the edge
// authenticates before it routes.
var rfc4475 = map[string]int{
	// §3.1.1 valid messages
	"wsinv":      481, // it carries a To tag: a re-INVITE for a dialog nobody owns
	"intmeth":    407,
	"esc01":      407,
	"escnull":    401,
	"esc02":      407,
	"lwsdisp":    200,
	"longreq":    407,
	"dblreq":     401, // the trailing second message is ignored
	"semiuri":    200,
	"transports": 200,
	"mpart01":    407,
	"unreason":   0, // responses: strays, dropped
	"noreason":   0,
	// §3.1.2 invalid messages
	"badinv01":   400,
	"clerr":      400,
	"ncl":        400,
	"scalar02":   400,
	"scalarlg":   0,
	"quotbal":    400,
	"ltgtruri":   400,
	"lwsruri":    400,
	"lwsstart":   400,
	"trws":       400,
	"escruri":    400,
	"baddate":    400,
	"regbadct":   400,
	"badaspec":   400,
	"baddn":      400,
	"badvers":    505,
	"mismatch01": 400,
	"mismatch02": 400,
	"bigcode":    0,
	// §3.2 transaction layer
	"badbranch": 200,
	// §3.3 application layer
	"insuf":    400,
	"unkscm":   416,
	"novelsc":  416,
	"unksm2":   401,
	"bext01":   420,
	"invut":    415,
	"regaut01": 401,
	"multi01":  400,
	"mcl01":    400,
	"bcast":    0,
	"zeromf":   483,
	"cparam01": 401,
	"cparam02": 401,
	"regescrt": 401,
	"sdp01":    406,
	// §3.4 backward compatibility
	"inv2543": 407,
}

func TestRFC4475(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	files, err := filepath.Glob("testdata/rfc4475/*.dat")
	if err != nil || len(files) != len(rfc4475) {
		t.Fatalf("found %d torture files, table has %d (%v)", len(files), len(rfc4475), err)
	}
	u := en.udpUA()
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".dat")
		want, ok := rfc4475[name]
		if !ok {
			t.Fatalf("no expectation for %s", name)
		}
		t.Run(name, func(t *testing.T) {
			u.t = t
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			u.send(string(data))
			if want == 0 {
				u.silent()
			} else {
				m := u.recv(3e9)
				r, ok := m.(*sip.Response)
				if !ok {
					t.Fatalf("no response, want %d", want)
				}
				if r.StatusCode != want {
					t.Fatalf("got %d %s, want %d", r.StatusCode, r.Reason, want)
				}
				if want == 420 && r.GetHeader("Unsupported") == nil {
					t.Fatal("420 without Unsupported")
				}
			}
			u.expectOptionsOK()
		})
	}
}
