package api_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

func ids(items []any) []string {
	var out []string
	for _, it := range items {
		out = append(out, str(it.(map[string]any)["id"]))
	}
	return out
}

func sortedIDs(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// TestAccounts covers the account verbs and the tree endpoints.
func TestAccounts(t *testing.T) {
	e := newEnv(t)
	m := e.masterTok

	// The master account as the API shows it.
	g := e.call(t, http.MethodGet, "/v2/accounts/"+e.master, m, nil)
	want(t, g, http.StatusOK)
	if g.data()["superduper_admin"] != true || g.data()["is_reseller"] != true || hasPrivate(g.data()) != "" {
		t.Fatalf("master account view: %s", g)
	}

	// PUT /v2/accounts creates a child of the token's account; PUT
	// /v2/accounts/{A} a child of A.
	cr := e.call(t, http.MethodPut, "/v2/accounts", m, map[string]any{"name": "Reseller", "realm": "Reseller.Example.COM",
		"ui_metadata": map[string]any{"origin": "ui"}, "pvt_tree": []any{}, "pvt_api_key": strings.Repeat("a", 64),
		"superduper_admin": true})
	want(t, cr, http.StatusCreated)
	r := cr.id()
	if cr.rev() == "" || cr.Header.Get("ETag") != `"`+cr.rev()+`"` {
		t.Fatalf("account create revision: %s", cr)
	}
	rd := cr.data()
	if rd["realm"] != "reseller.example.com" || !sameJSON(rd["ui_metadata"], map[string]any{"origin": "ui"}) ||
		rd["superduper_admin"] != false || hasPrivate(rd) != "" || rd["reseller_id"] != e.master {
		t.Fatalf("created account: %s", cr)
	}
	sd := e.stored(t, r, store.TypeAccount, r)
	if !slices.Equal(store.Tree(sd.Body), []string{e.master}) || sd.Body["pvt_api_key"] == strings.Repeat("a", 64) {
		t.Fatalf("client set private account fields: %v", sd.Body)
	}
	wantErr(t, e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": strings.Repeat("a", 64)}),
		http.StatusUnauthorized, "invalid credentials")
	rt := e.accountToken(t, r)
	a := e.newAccount(t, rt, r, "A")
	b := e.call(t, http.MethodPut, "/v2/accounts", rt, map[string]any{"name": "B"})
	want(t, b, http.StatusCreated)
	bID := b.id()
	if realm := str(b.data()["realm"]); !strings.HasSuffix(realm, ".sip.strowger.local") {
		t.Fatalf("generated realm %q", realm)
	}
	at := e.accountToken(t, a)
	a1 := e.newAccount(t, at, a, "A1")
	if got := store.Tree(e.stored(t, a1, store.TypeAccount, a1).Body); !slices.Equal(got, []string{e.master, r, a}) {
		t.Fatalf("A1 tree %v", got)
	}

	// GET returns what was stored; POST replaces; PATCH merges.
	ga := e.call(t, http.MethodGet, "/v2/accounts/"+a, at, nil)
	want(t, ga, http.StatusOK)
	if ga.data()["name"] != "A" || ga.data()["reseller_id"] != e.master {
		t.Fatalf("GET A: %s", ga)
	}
	post := e.call(t, http.MethodPost, "/v2/accounts/"+a, at, map[string]any{"name": "A renamed", "realm": ga.data()["realm"],
		"timezone": "Europe/Paris", "custom": "kept", "pvt_tree": []any{}})
	want(t, post, http.StatusOK)
	if post.data()["timezone"] != "Europe/Paris" || post.data()["custom"] != "kept" || post.data()["enabled"] != nil {
		t.Fatalf("POST account: %s", post)
	}
	if !slices.Equal(store.Tree(e.stored(t, a, store.TypeAccount, a).Body), []string{e.master, r}) {
		t.Fatal("POST changed pvt_tree")
	}
	patch := e.call(t, http.MethodPatch, "/v2/accounts/"+a, at, map[string]any{"custom": nil, "language": "fr-fr"})
	want(t, patch, http.StatusOK)
	if _, ok := patch.data()["custom"]; ok || patch.data()["language"] != "fr-fr" || patch.data()["timezone"] != "Europe/Paris" {
		t.Fatalf("PATCH account: %s", patch)
	}
	wantErr(t, e.call(t, http.MethodPatch, "/v2/accounts/"+a, at, map[string]any{"language": "x"}, "If-Match", `"`+post.rev()+`"`),
		http.StatusConflict, "conflicting documents")
	want(t, e.call(t, http.MethodPatch, "/v2/accounts/"+a, at, map[string]any{"language": "de-de"}, "If-Match", `"`+patch.rev()+`"`), http.StatusOK)

	// Validation.
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"realm": "x.example.com"}), "name", "required")
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"name": 7}), "name", "type")
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"name": "x", "realm": 7}), "realm", "type")
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"name": "x", "realm": "a b c"}), "realm", "pattern")
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"name": "x", "enabled": "yes"}), "enabled", "type")
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"name": ""}), "name", "minLength")
	wantRule(t, e.call(t, http.MethodPatch, "/v2/accounts/"+a, at, map[string]any{"name": nil}), "name", "required")
	wantErr(t, e.raw(t, http.MethodPut, "/v2/accounts/"+r, rt, []byte(`{"data":{`)), http.StatusBadRequest, "failed to parse request body")

	// Realms are unique across the system, whatever their case.
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+r, rt, map[string]any{"name": "dup", "realm": "RESELLER.example.com"}), "realm", "unique")
	wantRule(t, e.call(t, http.MethodPatch, "/v2/accounts/"+a, at, map[string]any{"realm": "reseller.example.com"}), "realm", "unique")
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+a, at, map[string]any{"name": "dup", "realm": "master.strowger.local"}), "realm", "unique")

	// Tree endpoints.
	list := func(tok, path string) []string {
		t.Helper()
		res := e.call(t, http.MethodGet, "/v2/accounts/"+path, tok, nil)
		want(t, res, http.StatusOK)
		for _, it := range res.list() {
			if hasPrivate(it.(map[string]any)) != "" {
				t.Fatalf("tree listing shows private fields: %s", res)
			}
		}
		return ids(res.list())
	}
	check := func(tok, path string, wantIDs ...string) {
		t.Helper()
		if got := list(tok, path); !slices.Equal(got, sortedIDs(wantIDs...)) && !slices.Equal(got, wantIDs) {
			t.Fatalf("%s: got %v, want %v", path, got, wantIDs)
		}
	}
	check(m, e.master+"/children", r)
	check(m, r+"/children", a, bID)
	check(rt, r+"/descendants", a, bID, a1)
	check(m, e.master+"/descendants", r, a, bID, a1)
	check(at, a+"/children", a1)
	check(at, a1+"/descendants")
	check(rt, a+"/siblings", bID)
	check(m, e.master+"/siblings")
	check(at, a1+"/siblings")
	check(m, a1+"/parents", e.master, r, a)
	check(m, a1+"/tree", e.master, r, a)
	check(rt, a1+"/parents", r, a) // never above the token's own account
	check(at, a1+"/tree", a)
	check(at, a+"/parents")
	wantErr(t, e.call(t, http.MethodGet, "/v2/accounts/"+a+"/siblings", at, nil), http.StatusForbidden, "forbidden")

	// DELETE is refused while the account has children, for the token's
	// own account and for the master.
	wantErr(t, e.call(t, http.MethodDelete, "/v2/accounts/"+a, rt, nil), http.StatusBadRequest, "account has descendants")
	wantErr(t, e.call(t, http.MethodDelete, "/v2/accounts/"+r, m, nil), http.StatusBadRequest, "account has descendants")
	wantErr(t, e.call(t, http.MethodDelete, "/v2/accounts/"+a1, e.accountToken(t, a1), nil), http.StatusForbidden, "forbidden")
	wantErr(t, e.call(t, http.MethodDelete, "/v2/accounts/"+e.master, m, nil), http.StatusForbidden, "forbidden")
	e.call(t, http.MethodGet, "/v2/accounts/"+a, at, nil)
	want(t, e.call(t, http.MethodGet, "/v2/accounts/"+a, m, nil), http.StatusOK)

	// Deleting a leaf removes it and its documents; then the parent can go.
	dev := e.call(t, http.MethodPut, "/v2/accounts/"+a1+"/devices", at, map[string]any{"name": "p", "sip": map[string]any{"username": "leafuser"}})
	want(t, dev, http.StatusCreated)
	want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+a1, at, nil), http.StatusOK)
	wantErr(t, e.call(t, http.MethodGet, "/v2/accounts/"+a1, m, nil), http.StatusNotFound, "bad identifier")
	// Its former parent is told it is gone, as Kazoo does.
	wantErr(t, e.call(t, http.MethodGet, "/v2/accounts/"+a1, at, nil), http.StatusNotFound, "bad identifier")
	if _, err := e.st.Get(t.Context(), a1, store.TypeDevice, dev.id()); err == nil {
		t.Fatal("the deleted account's device is still stored")
	}
	check(at, a+"/children")
	want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+a, rt, nil), http.StatusOK)
	check(rt, r+"/children", bID)

	// Bad identifiers and methods.
	wantErr(t, e.call(t, http.MethodGet, "/v2/accounts/"+store.NewID(), m, nil), http.StatusNotFound, "bad identifier")
	wantErr(t, e.call(t, http.MethodGet, "/v2/accounts/"+store.NewID(), rt, nil), http.StatusForbidden, "forbidden")
	wantErr(t, e.call(t, http.MethodPost, "/v2/accounts/"+r+"/children", rt, map[string]any{}), http.StatusMethodNotAllowed, "method not allowed")
	wantErr(t, e.call(t, http.MethodGet, "/v2/no_such_thing", rt, nil), http.StatusNotFound, "not found")
}

// TestAPIKey covers GET/PUT /api_key and api_auth.
func TestAPIKey(t *testing.T) {
	e := newEnv(t)
	a := e.newAccount(t, e.masterTok, e.master, "A")
	g := e.call(t, http.MethodGet, "/v2/accounts/"+a+"/api_key", e.masterTok, nil)
	want(t, g, http.StatusOK)
	key := str(g.data()["api_key"])
	if len(key) != 64 {
		t.Fatalf("api key %q", key)
	}
	auth := e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": key})
	want(t, auth, http.StatusCreated)
	if auth.data()["account_id"] != a || auth.Env["auth_token"] == "" || auth.data()["reseller_id"] != e.master {
		t.Fatalf("api_auth answer: %s", auth)
	}
	tok := str(auth.Env["auth_token"])
	// The token is a JWT whose payload Monster UI can read.
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || !bytes.Contains(payload, []byte(`"account_id":"`+a+`"`)) {
		t.Fatalf("JWT payload %s (%v)", payload, err)
	}
	info := e.call(t, http.MethodGet, "/v2/user_auth/"+tok, tok, nil)
	want(t, info, http.StatusOK)
	if info.data()["account_id"] != a || info.data()["method"] != "cb_api_auth" {
		t.Fatalf("token info: %s", info)
	}
	wantErr(t, e.call(t, http.MethodGet, "/v2/user_auth/"+e.masterTok, tok, nil), http.StatusNotFound, "bad identifier")

	// The account reads its own key; PUT regenerates it and the old one stops working.
	if own := e.call(t, http.MethodGet, "/v2/accounts/"+a+"/api_key", tok, nil); str(own.data()["api_key"]) != key {
		t.Fatalf("own api key: %s", own)
	}
	p := e.call(t, http.MethodPut, "/v2/accounts/"+a+"/api_key", tok, nil)
	want(t, p, http.StatusCreated)
	nk := str(p.data()["api_key"])
	if len(nk) != 64 || nk == key {
		t.Fatalf("regenerated key %q", nk)
	}
	wantErr(t, e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": key}), http.StatusUnauthorized, "invalid credentials")
	e.apiAuth(t, nk)
	if got := e.call(t, http.MethodGet, "/v2/accounts/"+a+"/api_key", e.masterTok, nil); str(got.data()["api_key"]) != nk {
		t.Fatalf("GET after PUT: %s", got)
	}
	// The account's public view never shows the key.
	if ga := e.call(t, http.MethodGet, "/v2/accounts/"+a, tok, nil); strings.Contains(string(ga.Raw), nk) {
		t.Fatalf("account view leaks the API key: %s", ga)
	}
	// Bad api_auth bodies.
	wantRule(t, e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": "short"}), "api_key", "minLength")
	wantRule(t, e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{}), "api_key", "required")
	wantErr(t, e.raw(t, http.MethodPut, "/v2/api_auth", "", []byte("{")), http.StatusBadRequest, "failed to parse request body")
	wantErr(t, e.call(t, http.MethodGet, "/v2/api_auth", "", nil), http.StatusMethodNotAllowed, "method not allowed")
}

// TestLimits covers GET/POST /limits.
func TestLimits(t *testing.T) {
	e := newEnv(t)
	r := e.newAccount(t, e.masterTok, e.master, "R")
	rt := e.accountToken(t, r)
	a := e.newAccount(t, rt, r, "A")
	at := e.accountToken(t, a)
	path := "/v2/accounts/" + a + "/limits"
	g := e.call(t, http.MethodGet, path, at, nil)
	want(t, g, http.StatusOK)
	if g.data()["allow_prepay"] != true || g.data()["id"] != "limits" {
		t.Fatalf("default limits: %s", g)
	}
	// The account cannot raise its own limits; its reseller and the master can.
	wantErr(t, e.call(t, http.MethodPost, path, at, map[string]any{"calls": 100}), http.StatusForbidden, "forbidden")
	p := e.call(t, http.MethodPost, path, rt, map[string]any{"calls": 5, "twoway_trunks": 2, "pvt_enabled": false, "ui_metadata": "x"})
	want(t, p, http.StatusOK)
	if p.data()["calls"] != float64(5) || p.data()["ui_metadata"] != "x" || hasPrivate(p.data()) != "" || p.rev() == "" {
		t.Fatalf("POST limits: %s", p)
	}
	if _, ok := e.stored(t, a, store.TypeLimits, "limits").Body["pvt_enabled"]; ok {
		t.Fatal("pvt_enabled was settable")
	}
	g = e.call(t, http.MethodGet, path, at, nil)
	if g.data()["calls"] != float64(5) || g.rev() != p.rev() {
		t.Fatalf("GET after POST: %s", g)
	}
	// POST replaces.
	p2 := e.call(t, http.MethodPost, path, e.masterTok, map[string]any{"inbound_trunks": 3})
	want(t, p2, http.StatusOK)
	if _, ok := p2.data()["calls"]; ok || p2.data()["inbound_trunks"] != float64(3) {
		t.Fatalf("POST did not replace: %s", p2)
	}
	wantErr(t, e.call(t, http.MethodPost, path, rt, map[string]any{"calls": 1}, "If-Match", `"`+p.rev()+`"`), http.StatusConflict, "conflicting documents")
	wantRule(t, e.call(t, http.MethodPost, path, rt, map[string]any{"calls": -2}), "calls", "minimum")
	wantRule(t, e.call(t, http.MethodPost, path, rt, map[string]any{"calls": "many"}), "calls", "type")
	wantRule(t, e.call(t, http.MethodPost, path, rt, map[string]any{"allow_prepay": "yes"}), "allow_prepay", "type")
	wantErr(t, e.call(t, http.MethodPut, path, rt, map[string]any{}), http.StatusMethodNotAllowed, "method not allowed")
	wantErr(t, e.call(t, http.MethodDelete, path, rt, nil), http.StatusMethodNotAllowed, "method not allowed")
	if got := e.call(t, http.MethodGet, path, rt, nil); got.rev() != p2.rev() {
		t.Fatalf("refused limit writes changed the document: %s", got)
	}
}

// TestMediaRaw covers uploading and downloading a media file.
func TestMediaRaw(t *testing.T) {
	e := newEnv(t)
	a := e.newAccount(t, e.masterTok, e.master, "A")
	tok := e.accountToken(t, a)
	base := "/v2/accounts/" + a + "/media"
	m := e.call(t, http.MethodPut, base, tok, map[string]any{"name": "greeting", "content_length": 99})
	want(t, m, http.StatusCreated)
	if m.data()["media_source"] != "upload" || m.data()["content_length"] != nil {
		t.Fatalf("media create: %s", m)
	}
	raw := base + "/" + m.id() + "/raw"
	wantErr(t, e.raw(t, http.MethodGet, raw, tok, nil), http.StatusNotFound, "bad identifier")

	wav := append([]byte("RIFF\x24\x00\x00\x00WAVEfmt "), bytes.Repeat([]byte{0x7f}, 1000)...)
	up := e.raw(t, http.MethodPost, raw, tok, wav, "Content-Type", "audio/wav")
	want(t, up, http.StatusOK)
	if up.data()["content_type"] != "audio/wav" || up.data()["content_length"] != float64(len(wav)) {
		t.Fatalf("upload answer: %s", up)
	}
	down := e.raw(t, http.MethodGet, raw, tok, nil)
	want(t, down, http.StatusOK)
	if !bytes.Equal(down.Raw, wav) || down.Header.Get("Content-Type") != "audio/wav" {
		t.Fatalf("download: %d bytes, %q", len(down.Raw), down.Header.Get("Content-Type"))
	}
	// Kazoo's UI uploads a base64 data URL.
	mp3 := bytes.Repeat([]byte{0xff, 0xfb, 0x90}, 200)
	dataURL := "data:audio/mpeg;base64," + base64.StdEncoding.EncodeToString(mp3)
	up = e.raw(t, http.MethodPost, raw, tok, []byte(dataURL), "Content-Type", "application/x-base64")
	want(t, up, http.StatusOK)
	down = e.raw(t, http.MethodGet, raw+"?auth_token="+tok, "", nil)
	if !bytes.Equal(down.Raw, mp3) || down.Header.Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("data URL round trip: %d bytes %q", len(down.Raw), down.Header.Get("Content-Type"))
	}
	// Metadata updates keep the file's type and size.
	p := e.call(t, http.MethodPost, base+"/"+m.id(), tok, map[string]any{"name": "renamed", "media_source": "upload", "content_length": 1})
	want(t, p, http.StatusOK)
	if p.data()["content_length"] != float64(len(mp3)) || p.data()["content_type"] != "audio/mpeg" {
		t.Fatalf("metadata update lost file facts: %s", p)
	}

	before := e.writeSeqs(t)
	// Too big → 413; not audio → 415; empty → 400. Nothing changes.
	wantErr(t, e.raw(t, http.MethodPost, raw, tok, make([]byte, testMediaLimit+1), "Content-Type", "audio/wav"),
		http.StatusRequestEntityTooLarge, "request entity too large")
	wantErr(t, e.raw(t, http.MethodPost, raw, tok, make([]byte, 2*testMediaLimit), "Content-Type", "audio/wav"),
		http.StatusRequestEntityTooLarge, "request entity too large")
	wantErr(t, e.raw(t, http.MethodPost, raw, tok, []byte("%PDF-1.4"), "Content-Type", "application/pdf"),
		http.StatusUnsupportedMediaType, "unsupported media type")
	wantErr(t, e.raw(t, http.MethodPost, raw, tok, []byte("data:text/html;base64,PGI+"), "Content-Type", "application/x-base64"),
		http.StatusUnsupportedMediaType, "unsupported media type")
	wantRule(t, e.raw(t, http.MethodPost, raw, tok, []byte("data:audio/wav;base64,!!!"), "Content-Type", "application/x-base64"), "raw", "format")
	wantRule(t, e.raw(t, http.MethodPost, raw, tok, []byte{}, "Content-Type", "audio/wav"), "raw", "minLength")
	wantErr(t, e.raw(t, http.MethodPost, base+"/"+store.NewID()+"/raw", tok, wav, "Content-Type", "audio/wav"), http.StatusNotFound, "bad identifier")
	wantErr(t, e.raw(t, http.MethodDelete, raw, tok, nil), http.StatusMethodNotAllowed, "method not allowed")
	if after := e.writeSeqs(t); after != before {
		t.Fatalf("refused uploads wrote something: %v → %v", before, after)
	}
	// Another account's token cannot read the file.
	b := e.newAccount(t, e.masterTok, e.master, "B")
	wantErr(t, e.raw(t, http.MethodGet, raw, e.accountToken(t, b), nil), http.StatusForbidden, "forbidden")

	// Deleting the media deletes its file.
	want(t, e.call(t, http.MethodDelete, base+"/"+m.id(), tok, nil), http.StatusOK)
	wantErr(t, e.raw(t, http.MethodGet, raw, tok, nil), http.StatusNotFound, "bad identifier")
	if _, err := e.st.Buckets().Media.GetInfo(t.Context(), store.MediaObject(a, m.id())); err == nil {
		t.Fatal("the media file outlived its document")
	}
}

func md5hex(s string) string  { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
func sha1hex(s string) string { h := sha1.Sum([]byte(s)); return hex.EncodeToString(h[:]) }

// TestUserAuth covers user logins and password handling.
func TestUserAuth(t *testing.T) {
	e := newEnv(t)
	acct := e.call(t, http.MethodPut, "/v2/accounts/"+e.master, e.masterTok, map[string]any{"name": "Login Co", "realm": "login.example.com"})
	want(t, acct, http.StatusCreated)
	a := acct.id()
	base := "/v2/accounts/" + a + "/users"
	u := e.call(t, http.MethodPut, base, e.masterTok, map[string]any{"first_name": "Ann", "last_name": "Admin",
		"username": "Ann", "password": "s3cret!", "priv_level": "admin", "pvt_md5_auth": "x"})
	want(t, u, http.StatusCreated)
	if strings.Contains(string(u.Raw), "s3cret!") || u.data()["password"] != nil || hasPrivate(u.data()) != "" {
		t.Fatalf("the password or its hash is returned: %s", u)
	}
	stored := e.stored(t, a, store.TypeUser, u.id())
	if stored.Body["password"] != nil || strings.Contains(str(stored.Body["pvt_md5_auth"]), md5hex("ann:s3cret!")) {
		t.Fatalf("the password is stored in a recoverable form: %v", stored.Body)
	}
	if g := e.call(t, http.MethodGet, base+"/"+u.id(), e.masterTok, nil); strings.Contains(string(g.Raw), "s3cret") || g.data()["password"] != nil {
		t.Fatalf("GET returns the password: %s", g)
	}

	login := func(creds, method, by, val string) *resp {
		t.Helper()
		d := map[string]any{"credentials": creds, by: val}
		if method != "" {
			d["method"] = method
		}
		return e.userAuth(t, d)
	}
	ok := login(md5hex("ann:s3cret!"), "", "account_name", "Login Co")
	want(t, ok, http.StatusCreated)
	if ok.data()["account_id"] != a || ok.data()["owner_id"] != u.id() || str(ok.Env["auth_token"]) == "" {
		t.Fatalf("user_auth answer: %s", ok)
	}
	tok := str(ok.Env["auth_token"])
	want(t, e.call(t, http.MethodGet, base+"/"+u.id(), tok, nil), http.StatusOK)
	want(t, login(sha1hex("ann:s3cret!"), "sha", "account_realm", "LOGIN.example.com"), http.StatusCreated)
	want(t, login(strings.ToUpper(md5hex("ann:s3cret!")), "md5", "account_realm", "login.example.com"), http.StatusCreated)

	for _, c := range []struct{ name, creds, method, by, val string }{
		{"wrong password", md5hex("ann:wrong"), "md5", "account_name", "Login Co"},
		{"wrong sha", sha1hex("ann:wrong"), "sha", "account_realm", "login.example.com"},
		{"md5 sent as sha", md5hex("ann:s3cret!"), "sha", "account_name", "Login Co"},
		{"wrong account", md5hex("ann:s3cret!"), "md5", "account_name", "Other Co"},
		{"wrong realm", md5hex("ann:s3cret!"), "md5", "account_realm", "nowhere.example.com"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := login(c.creds, c.method, c.by, c.val)
			if c.name == "md5 sent as sha" {
				wantRule(t, r, "credentials", "format")
				return
			}
			wantErr(t, r, http.StatusUnauthorized, "invalid credentials")
			if r.Env["auth_token"] != "" {
				t.Fatalf("a refused login carries a token: %s", r)
			}
		})
	}
	wantRule(t, e.userAuth(t, map[string]any{"account_name": "Login Co"}), "credentials", "required")
	wantRule(t, e.userAuth(t, map[string]any{"credentials": md5hex("x"), "method": "sha256"}), "method", "enum")

	// Changing the password: the old one stops working, the new one works.
	p := e.call(t, http.MethodPatch, base+"/"+u.id(), tok, map[string]any{"password": "n3w-pass"})
	want(t, p, http.StatusOK)
	if strings.Contains(string(p.Raw), "n3w-pass") {
		t.Fatalf("PATCH returns the password: %s", p)
	}
	wantErr(t, login(md5hex("ann:s3cret!"), "md5", "account_name", "Login Co"), http.StatusUnauthorized, "invalid credentials")
	want(t, login(md5hex("ann:n3w-pass"), "md5", "account_name", "Login Co"), http.StatusCreated)
	// A rename needs the password again.
	wantRule(t, e.call(t, http.MethodPatch, base+"/"+u.id(), tok, map[string]any{"username": "annie"}), "password", "required")
	// Disabled users cannot log in.
	want(t, e.call(t, http.MethodPatch, base+"/"+u.id(), e.masterTok, map[string]any{"enabled": false}), http.StatusOK)
	wantErr(t, login(md5hex("ann:n3w-pass"), "md5", "account_name", "Login Co"), http.StatusUnauthorized, "invalid credentials")
	// A rename with the password moves the login; removing the username ends it.
	want(t, e.call(t, http.MethodPatch, base+"/"+u.id(), e.masterTok, map[string]any{"enabled": true, "username": "annie", "password": "p3"}), http.StatusOK)
	wantErr(t, login(md5hex("ann:n3w-pass"), "md5", "account_name", "Login Co"), http.StatusUnauthorized, "invalid credentials")
	want(t, login(sha1hex("annie:p3"), "sha", "account_name", "Login Co"), http.StatusCreated)
	want(t, e.call(t, http.MethodPatch, base+"/"+u.id(), e.masterTok, map[string]any{"username": nil}), http.StatusOK)
	wantErr(t, login(sha1hex("annie:p3"), "sha", "account_name", "Login Co"), http.StatusUnauthorized, "invalid credentials")
	if b := e.stored(t, a, store.TypeUser, u.id()).Body; str(b["pvt_md5_auth"]) != "" || str(b["pvt_sha1_auth"]) != "" {
		t.Fatalf("credentials kept after the username was removed: %v", b)
	}
}
