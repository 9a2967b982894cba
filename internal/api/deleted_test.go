package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/api"
	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/store"
)

// secondNode serves the same store through another API instance, as a
// second API node of the cluster would, with caches of its own.
func (e *env) secondNode(t *testing.T) *env {
	t.Helper()
	n, _ := e.secondNodeServer(t)
	return n
}

func (e *env) secondNodeServer(t *testing.T) (*env, *api.Server) {
	t.Helper()
	signer, err := auth.NewSigner(context.Background(), e.st, store.SystemSigningKey, time.Hour, e.clock)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Config{NodeName: "test2", Version: "test", LoginBurst: 100000},
		api.Deps{Store: e.st, Signer: signer, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: e.clock, Master: e.master})
	t.Cleanup(a.Close)
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	return &env{bus: e.bus, st: e.st, clock: e.clock, url: hs.URL, master: e.master, masterKey: e.masterKey, masterTok: e.masterTok}, a
}

// Deleting a sub-account ends its access at once, although tokens are
// verified without a lookup and account trees are cached for reads: its
// own tokens answer 401, its former ancestors get 404 for it, everyone
// else still 403 — on the node that deleted it and on the others.
func TestDeletedAccountLosesAccess(t *testing.T) {
	e := newEnv(t)
	other := e.secondNode(t)
	parent := e.newAccount(t, e.masterTok, e.master, "parent")
	parentTok := e.accountToken(t, parent)
	child := e.newAccount(t, parentTok, parent, "child")
	childTok := e.accountToken(t, child)
	sibling := e.newAccount(t, e.masterTok, e.master, "sibling")
	siblingTok := e.accountToken(t, sibling)
	dev := e.call(t, http.MethodPut, "/v2/accounts/"+child+"/devices", childTok, map[string]any{"name": "d"})
	want(t, dev, http.StatusCreated)

	paths := []string{"/v2/accounts/" + child, "/v2/accounts/" + child + "/devices", "/v2/accounts/" + child + "/devices/" + dev.id()}
	// Warm every cache on both nodes.
	for _, n := range []*env{e, other} {
		for _, p := range paths {
			want(t, n.call(t, http.MethodGet, p, childTok, nil), http.StatusOK)
			want(t, n.call(t, http.MethodGet, p, parentTok, nil), http.StatusOK)
		}
	}

	want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+child, parentTok, nil), http.StatusOK)

	check := func(t *testing.T, n *env) {
		t.Helper()
		for _, p := range paths {
			wantErr(t, n.call(t, http.MethodGet, p, childTok, nil), http.StatusUnauthorized, "invalid credentials")
			wantErr(t, n.call(t, http.MethodGet, p, parentTok, nil), http.StatusNotFound, "bad identifier")
			wantErr(t, n.call(t, http.MethodGet, p, e.masterTok, nil), http.StatusNotFound, "bad identifier")
			wantErr(t, n.call(t, http.MethodGet, p, siblingTok, nil), http.StatusForbidden, "forbidden")
		}
		wantErr(t, n.call(t, http.MethodPut, "/v2/accounts/"+child+"/devices", childTok, map[string]any{"name": "x"}),
			http.StatusUnauthorized, "invalid credentials")
		wantErr(t, n.call(t, http.MethodPut, "/v2/accounts/"+child+"/devices", parentTok, map[string]any{"name": "x"}),
			http.StatusNotFound, "bad identifier")
	}
	t.Run("deleting node", func(t *testing.T) { check(t, e) })
	t.Run("other node", func(t *testing.T) {
		// The other node learns of the deletion by document event: its
		// cached device reads must stop, not only its uncached paths.
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := other.call(t, http.MethodGet, paths[2], childTok, nil)
			if r.Code == http.StatusUnauthorized {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("other node still answers %s for a deleted account's token", r)
			}
			time.Sleep(10 * time.Millisecond)
		}
		check(t, other)
	})
	// A brand-new token for a deleted account cannot be had either.
	r := e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": "0000000000000000000000000000000000000000000000000000000000000000"})
	wantErr(t, r, http.StatusUnauthorized, "invalid credentials")
}

// A node that misses the deletion event (here: its subscription is gone,
// as across a reconnect) trusts its cached account for at most a minute.
func TestMissedDeletionEventExpires(t *testing.T) {
	e := newEnv(t)
	other, otherAPI := e.secondNodeServer(t)
	acct := e.newAccount(t, e.masterTok, e.master, "missed")
	tok := e.accountToken(t, acct)
	dev := e.call(t, http.MethodPut, "/v2/accounts/"+acct+"/devices", tok, map[string]any{"name": "d"})
	want(t, dev, http.StatusCreated)
	path := "/v2/accounts/" + acct + "/devices"
	want(t, other.call(t, http.MethodGet, path, tok, nil), http.StatusOK)
	otherAPI.Close()
	want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+acct, e.masterTok, nil), http.StatusOK)
	wantErr(t, e.call(t, http.MethodGet, path, tok, nil), http.StatusUnauthorized, "invalid credentials")
	// The deaf node still serves its cache (the list is empty: the
	// documents are gone) until the entry ages out.
	want(t, other.call(t, http.MethodGet, path, tok, nil), http.StatusOK)
	e.clock.Advance(time.Minute)
	wantErr(t, other.call(t, http.MethodGet, path, tok, nil), http.StatusUnauthorized, "invalid credentials")
}
