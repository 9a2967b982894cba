package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestVerbTunnelling checks ?verb= and X-HTTP-Method-Override on POST.
func TestVerbTunnelling(t *testing.T) {
	e := newEnv(t)
	a := e.newAccount(t, e.masterTok, e.master, "A")
	base := "/v2/accounts/" + a + "/devices"
	// POST ?verb=PUT creates.
	c := e.call(t, http.MethodPost, base+"?verb=PUT", e.masterTok, map[string]any{"name": "tunnelled"})
	want(t, c, http.StatusCreated)
	item := base + "/" + c.id()
	// POST with the override header PATCHes.
	p := e.call(t, http.MethodPost, item, e.masterTok, map[string]any{"extra": 1}, "X-HTTP-Method-Override", "patch")
	want(t, p, http.StatusOK)
	if p.data()["name"] != "tunnelled" || p.data()["extra"] != float64(1) {
		t.Fatalf("override PATCH did not merge: %s", p)
	}
	// ?verb= wins over the header; lower case works.
	g := e.call(t, http.MethodPost, item+"?verb=get", e.masterTok, nil, "X-HTTP-Method-Override", "DELETE")
	want(t, g, http.StatusOK)
	if g.id() != c.id() {
		t.Fatalf("tunnelled GET: %s", g)
	}
	// Only POST tunnels: a GET asking for DELETE stays a GET.
	want(t, e.call(t, http.MethodGet, item+"?verb=DELETE", e.masterTok, nil, "X-HTTP-Method-Override", "DELETE"), http.StatusOK)
	want(t, e.call(t, http.MethodGet, item, e.masterTok, nil), http.StatusOK)
	// A tunnelled unknown verb is a 405.
	wantErr(t, e.call(t, http.MethodPost, item+"?verb=FROB", e.masterTok, nil), http.StatusMethodNotAllowed, "method not allowed")
	// Tunnelled verbs still need a token the account allows.
	b := e.newAccount(t, e.masterTok, e.master, "B")
	wantErr(t, e.call(t, http.MethodPost, item, e.accountToken(t, b), nil, "X-HTTP-Method-Override", "DELETE"), http.StatusForbidden, "forbidden")
	wantErr(t, e.call(t, http.MethodPost, item+"?verb=DELETE", "", nil), http.StatusUnauthorized, "invalid credentials")
	// POST with the override header DELETEs.
	want(t, e.call(t, http.MethodPost, item, e.masterTok, nil, "X-HTTP-Method-Override", "DELETE"), http.StatusOK)
	wantErr(t, e.call(t, http.MethodGet, item, e.masterTok, nil), http.StatusNotFound, "bad identifier")
}

// TestCORS checks the preflight and the headers on ordinary answers.
func TestCORS(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v2/api_auth", "/v2/accounts/" + e.master + "/devices", "/v2/nowhere"} {
		r := e.raw(t, http.MethodOptions, path, "", nil, "Origin", "https://ui.example.com",
			"Access-Control-Request-Method", "PATCH", "Access-Control-Request-Headers", "x-auth-token, content-type")
		want(t, r, http.StatusNoContent)
		if len(r.Raw) != 0 {
			t.Fatalf("preflight has a body: %q", r.Raw)
		}
		h := r.Header
		if h.Get("Access-Control-Allow-Origin") != "*" {
			t.Fatalf("Allow-Origin %q", h.Get("Access-Control-Allow-Origin"))
		}
		for _, m := range []string{"GET", "PUT", "POST", "PATCH", "DELETE", "OPTIONS"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), m) {
				t.Fatalf("Allow-Methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), m)
			}
		}
		allow := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
		for _, hd := range []string{"content-type", "x-auth-token", "x-http-method-override", "if-match"} {
			if !strings.Contains(allow, hd) {
				t.Fatalf("Allow-Headers %q lacks %s", allow, hd)
			}
		}
	}
	// Ordinary answers, errors included, carry CORS headers too, and expose the ETag.
	for _, r := range []*resp{
		e.call(t, http.MethodGet, "/v2/accounts/"+e.master, e.masterTok, nil),
		e.call(t, http.MethodGet, "/v2/accounts/"+e.master, "", nil),
	} {
		if r.Header.Get("Access-Control-Allow-Origin") != "*" || !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "ETag") {
			t.Fatalf("CORS headers missing on %d: %v", r.Code, r.Header)
		}
	}
}

// TestEnvelope checks the response envelope's fields.
func TestEnvelope(t *testing.T) {
	e := newEnv(t)
	r := e.call(t, http.MethodGet, "/v2/accounts/"+e.master, e.masterTok, nil, "X-Pretty-Print", "true")
	want(t, r, http.StatusOK)
	for _, k := range []string{"data", "status", "auth_token", "request_id", "revision", "timestamp", "version", "node"} {
		if _, ok := r.Env[k]; !ok {
			t.Fatalf("envelope lacks %s: %s", k, r)
		}
	}
	if r.Env["auth_token"] != e.masterTok || r.Env["status"] != "success" || r.Header.Get("X-Request-ID") != r.Env["request_id"] {
		t.Fatalf("envelope: %s", r)
	}
	if !strings.Contains(string(r.Raw), "\n  \"data\"") {
		t.Fatalf("X-Pretty-Print ignored: %s", r.Raw)
	}
	// The token also works from the query string (media links) and as a Bearer.
	want(t, e.call(t, http.MethodGet, "/v2/accounts/"+e.master+"?auth_token="+e.masterTok, "", nil), http.StatusOK)
	want(t, e.call(t, http.MethodGet, "/v2/accounts/"+e.master, "", nil, "Authorization", "Bearer "+e.masterTok), http.StatusOK)
	// An expired token is refused.
	e.clock.Advance(2 * time.Hour)
	wantErr(t, e.call(t, http.MethodGet, "/v2/accounts/"+e.master, e.masterTok, nil), http.StatusUnauthorized, "invalid credentials")
}
