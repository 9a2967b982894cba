package api_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

// For every resource type and every writing verb (POST, PATCH, DELETE, and
// the account itself): a stale If-Match is 409 and changes nothing; the
// current one applies; the same write without If-Match applies on top of
// the latest revision, as Kazoo does.
func TestStaleIfMatchEveryResource(t *testing.T) {
	e := newEnv(t)
	acct := e.newAccount(t, e.masterTok, e.master, "ifmatch")
	tok := e.accountToken(t, acct)
	etag := func(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }
	for _, sp := range specs() {
		t.Run(sp.path, func(t *testing.T) {
			base := "/v2/accounts/" + acct + "/" + sp.path
			c := e.call(t, http.MethodPut, base, tok, sp.body(e.n()))
			want(t, c, http.StatusCreated)
			item := base + "/" + c.id()
			first := e.stored(t, acct, sp.docType, c.id())
			want(t, e.call(t, http.MethodPatch, item, tok, map[string]any{"step": 1}), http.StatusOK)
			cur := e.stored(t, acct, sp.docType, c.id())
			stale := etag(first.Rev)

			post := without(publicOf(cur), "id")
			post["step"] = 2
			before := e.writeSeqs(t)
			wantErr(t, e.call(t, http.MethodPost, item, tok, post, "If-Match", stale), http.StatusConflict, "conflicting documents")
			wantErr(t, e.call(t, http.MethodPatch, item, tok, map[string]any{"step": 2}, "If-Match", stale), http.StatusConflict, "conflicting documents")
			wantErr(t, e.call(t, http.MethodDelete, item, tok, nil, "If-Match", stale), http.StatusConflict, "conflicting documents")
			if after := e.writeSeqs(t); after != before {
				t.Fatalf("stale writes wrote: %v → %v", before, after)
			}

			// The current revision applies; so does no If-Match at all.
			want(t, e.call(t, http.MethodPost, item, tok, post, "If-Match", etag(cur.Rev)), http.StatusOK)
			post["step"] = 3
			want(t, e.call(t, http.MethodPost, item, tok, post), http.StatusOK)
			if got := e.stored(t, acct, sp.docType, c.id()); got.Body["step"] != jsonNumber(3) {
				t.Fatalf("plain re-POST did not apply: %v", got.Body["step"])
			}
			want(t, e.call(t, http.MethodPatch, item, tok, map[string]any{"step": 4}), http.StatusOK)
			latest := e.stored(t, acct, sp.docType, c.id())
			wantErr(t, e.call(t, http.MethodDelete, item, tok, nil, "If-Match", etag(latest.Rev-1)), http.StatusConflict, "conflicting documents")
			want(t, e.call(t, http.MethodDelete, item, tok, nil, "If-Match", etag(latest.Rev)), http.StatusOK)
			if _, err := e.st.Get(t.Context(), acct, sp.docType, c.id()); err == nil {
				t.Fatal("deleted with the current If-Match, still stored")
			}
			// DELETE without If-Match applies whatever the revision.
			d := e.call(t, http.MethodPut, base, tok, sp.body(e.n()))
			want(t, d, http.StatusCreated)
			want(t, e.call(t, http.MethodPatch, base+"/"+d.id(), tok, map[string]any{"step": 5}), http.StatusOK)
			want(t, e.call(t, http.MethodDelete, base+"/"+d.id(), tok, nil), http.StatusOK)
		})
	}
	t.Run("accounts", func(t *testing.T) {
		path := "/v2/accounts/" + acct
		first := e.stored(t, acct, store.TypeAccount, acct)
		want(t, e.call(t, http.MethodPatch, path, tok, map[string]any{"step": 1}), http.StatusOK)
		cur := e.stored(t, acct, store.TypeAccount, acct)
		post := without(publicOf(cur), "id")
		post["step"] = 2
		wantErr(t, e.call(t, http.MethodPost, path, tok, post, "If-Match", etag(first.Rev)), http.StatusConflict, "conflicting documents")
		if e.stored(t, acct, store.TypeAccount, acct).Rev != cur.Rev {
			t.Fatal("a stale account POST wrote")
		}
		want(t, e.call(t, http.MethodPost, path, tok, post), http.StatusOK)
		if got := e.stored(t, acct, store.TypeAccount, acct); got.Body["step"] != jsonNumber(2) {
			t.Fatalf("plain re-POST of the account did not apply: %v", got.Body["step"])
		}
	})
}

// jsonNumber is how the store decodes a stored integer.
func jsonNumber(n int) json.Number { return json.Number(strconv.Itoa(n)) }
