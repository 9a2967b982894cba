package b2bua

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoOtherRole keeps the media role's B2BUA from importing
// another role: it talks to edges only through sipbus envelopes.
func TestImportsNoOtherRole(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list unavailable: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		for _, banned := range []string{"/internal/edge", "/internal/api", "/internal/node", "/internal/cli"} {
			if strings.HasSuffix(d, banned) {
				t.Errorf("b2bua imports %s", d)
			}
		}
	}
}
