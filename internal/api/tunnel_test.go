package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

// Kazoo's request envelope may carry the token ("auth_token") and the verb
// ("verb", on a POST) instead of headers.
func TestEnvelopeTokenAndVerb(t *testing.T) {
	e := newEnv(t)
	acct := e.newAccount(t, e.masterTok, e.master, "tunnel")
	tok := e.accountToken(t, acct)
	base := "/v2/accounts/" + acct + "/devices"
	body := func(v map[string]any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// auth_token in the envelope, no header.
	c := e.raw(t, http.MethodPut, base, "", body(map[string]any{"auth_token": tok, "data": map[string]any{"name": "env tok"}}))
	want(t, c, http.StatusCreated)
	if c.Env["auth_token"] != tok {
		t.Fatalf("envelope token not echoed: %s", c)
	}
	// Without Content-Type too (curl -d sends form encoding).
	r := e.raw(t, http.MethodPatch, base+"/"+c.id(), "", body(map[string]any{"auth_token": tok, "data": map[string]any{"x": 1}}),
		"Content-Type", "application/x-www-form-urlencoded")
	want(t, r, http.StatusOK)
	for name, b := range map[string][]byte{
		"bad token":          body(map[string]any{"auth_token": "nope", "data": map[string]any{"name": "x"}}),
		"no token":           body(map[string]any{"data": map[string]any{"name": "x"}}),
		"invalid JSON":       []byte(`{"auth_token":`),
		"token not a string": body(map[string]any{"auth_token": 42, "data": map[string]any{"name": "x"}}),
	} {
		t.Run(name, func(t *testing.T) {
			before := e.writeSeqs(t)
			wantErr(t, e.raw(t, http.MethodPut, base, "", b), http.StatusUnauthorized, "invalid credentials")
			if e.writeSeqs(t) != before {
				t.Fatal("an unauthenticated request wrote")
			}
		})
	}
	// A header token wins over the envelope's.
	want(t, e.raw(t, http.MethodPut, base, tok, body(map[string]any{"auth_token": "nope", "data": map[string]any{"name": "hdr"}})), http.StatusCreated)

	// verb tunnelling in the envelope.
	p := e.raw(t, http.MethodPost, base, tok, body(map[string]any{"verb": "PUT", "data": map[string]any{"name": "tunnelled"}}))
	want(t, p, http.StatusCreated)
	if p.data()["name"] != "tunnelled" {
		t.Fatalf("tunnelled PUT: %s", p)
	}
	d := e.raw(t, http.MethodPost, base+"/"+p.id(), "", body(map[string]any{"verb": "delete", "auth_token": tok}))
	want(t, d, http.StatusOK)
	if _, err := e.st.Get(t.Context(), acct, store.TypeDevice, p.id()); err == nil {
		t.Fatal("tunnelled DELETE left the device")
	}
	// Unknown verbs are ignored: a plain POST (replace) happens.
	q := e.raw(t, http.MethodPost, base+"/"+c.id(), tok, body(map[string]any{"verb": "FROB", "data": map[string]any{"name": "replaced"}}))
	want(t, q, http.StatusOK)
	// Oversized bodies are still refused whole.
	big := []byte(`{"verb":"PUT","data":{"name":"` + strings.Repeat("x", 2<<20) + `"}}`)
	wantErr(t, e.raw(t, http.MethodPost, base+"/"+c.id(), tok, big), http.StatusRequestEntityTooLarge, "request entity too large")
	wantErr(t, e.raw(t, http.MethodPut, base, "", bytes.Clone(big)), http.StatusUnauthorized, "invalid credentials")
}
