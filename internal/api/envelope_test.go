package api_test

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)

// The values of Kazoo's envelope fields, not just their presence: success,
// create, listing and error answers, authenticated or not.
func TestEnvelopeValues(t *testing.T) {
	e := newEnv(t)
	const now = "2026-03-01T12:00:00Z" // the fake clock, ISO-8601 in UTC
	common := func(t *testing.T, r *resp, status string, authed bool) {
		t.Helper()
		if r.Env["status"] != status || r.Env["timestamp"] != now || r.Env["node"] != "test" {
			t.Fatalf("status/timestamp/node: %s", r)
		}
		id := str(r.Env["request_id"])
		if !hex32.MatchString(id) || r.Header.Get("X-Request-ID") != id {
			t.Fatalf("request_id %q (header %q)", id, r.Header.Get("X-Request-ID"))
		}
		// Kazoo tells its version only to authenticated callers.
		if v, ok := r.Env["version"]; authed != ok || (authed && v != "test") {
			t.Fatalf("version %v present=%v for authenticated=%v: %s", v, ok, authed, r)
		}
		if _, ok := r.Env["auth_token"]; !ok {
			t.Fatalf("auth_token missing: %s", r)
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("Content-Type %q", r.Header.Get("Content-Type"))
		}
	}

	acct := e.newAccount(t, e.masterTok, e.master, "envelope")
	base := "/v2/accounts/" + acct + "/devices"
	c := e.call(t, http.MethodPut, base, e.masterTok, map[string]any{"name": "env"})
	want(t, c, http.StatusCreated)
	common(t, c, "success", true)
	doc := e.stored(t, acct, store.TypeDevice, c.id())
	rev := strconv.FormatUint(doc.Rev, 10)
	if c.rev() != rev || c.Header.Get("ETag") != `"`+rev+`"` || c.Env["auth_token"] != e.masterTok {
		t.Fatalf("create: revision %q ETag %q, stored %s: %s", c.rev(), c.Header.Get("ETag"), rev, c)
	}
	g := e.call(t, http.MethodGet, base+"/"+c.id(), e.masterTok, nil)
	want(t, g, http.StatusOK)
	common(t, g, "success", true)
	if g.rev() != rev {
		t.Fatalf("read revision %q, want %s", g.rev(), rev)
	}
	if g.Env["request_id"] == c.Env["request_id"] {
		t.Fatal("two requests share a request_id")
	}
	u := e.call(t, http.MethodPost, base+"/"+c.id(), e.masterTok, map[string]any{"name": "env2"})
	want(t, u, http.StatusOK)
	if n, _ := strconv.ParseUint(u.rev(), 10, 64); n <= doc.Rev || u.Header.Get("ETag") != `"`+u.rev()+`"` {
		t.Fatalf("update revision %q after %s", u.rev(), rev)
	}

	l := e.call(t, http.MethodGet, base+"?page_size=1", e.masterTok, nil)
	want(t, l, http.StatusOK)
	common(t, l, "success", true)
	if l.Env["page_size"] != float64(1) {
		t.Fatalf("listing page_size: %s", l)
	}

	// Errors: authenticated and not.
	nf := e.call(t, http.MethodGet, base+"/"+store.NewID(), e.masterTok, nil)
	wantErr(t, nf, http.StatusNotFound, "bad identifier")
	common(t, nf, "error", true)
	if nf.Env["auth_token"] != e.masterTok {
		t.Fatalf("error envelope lost the token: %s", nf)
	}
	un := e.call(t, http.MethodGet, base, "", nil)
	wantErr(t, un, http.StatusUnauthorized, "invalid credentials")
	common(t, un, "error", false)
	if un.Env["auth_token"] != "" {
		t.Fatalf("unauthenticated answer carries a token: %s", un)
	}
	auth := e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": e.masterKey})
	want(t, auth, http.StatusCreated)
	common(t, auth, "success", true)
	if str(auth.Env["auth_token"]) == "" {
		t.Fatalf("api_auth answer without its token: %s", auth)
	}
}
