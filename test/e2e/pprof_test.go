package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestPprofServesGoroutinesOnItsOwnAddress checks --pprof: the profiles
// answer on their own listener and not on the API's.
func TestPprofServesGoroutinesOnItsOwnAddress(t *testing.T) {
	addr := freePort(t)
	p := start(t, "--data", filepath.Join(t.TempDir(), "d"), "--roles", "nats,api", "--pprof", addr)
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, body := get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if code != http.StatusOK || !strings.HasPrefix(body, "goroutine profile: total ") {
		t.Fatalf("goroutine profile: %d %.200s", code, body)
	}
	if code, _ := get("http://" + p.addr + "/debug/pprof/goroutine?debug=1"); code == http.StatusOK {
		t.Fatal("the API serves runtime profiles")
	}
}
