package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/api"
	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// testMediaLimit keeps media uploads small in tests.
const testMediaLimit = 64 << 10

// env is one API over a real embedded NATS JetStream, served over HTTP.
type env struct {
	bus       *bustest.Server
	st        *store.Store
	clock     *clock.Fake
	url       string
	master    string
	masterKey string
	masterTok string
	seq       atomic.Int64
}

// newEnv starts NATS, provisions the store, creates the master account the
// way the node's bootstrap does, and authenticates with its API key.
func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	srv := bustest.Start(t)
	b, err := store.Provision(ctx, srv.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st := store.New(b, srv.Conn, log, clk)
	signer, err := auth.NewSigner(ctx, st, store.SystemSigningKey, time.Hour, clk)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{bus: srv, st: st, clock: clk}
	e.master, e.masterKey = createMaster(t, st)
	a := api.New(api.Config{NodeName: "test", Version: "test", MaxMediaBytes: testMediaLimit, LoginBurst: 100000},
		api.Deps{Store: st, Signer: signer, Log: log, Clock: clk, Master: e.master})
	t.Cleanup(a.Close)
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	e.url = hs.URL
	e.masterTok = e.apiAuth(t, e.masterKey)
	return e
}

// createMaster writes the master account as internal/node's bootstrap does.
func createMaster(t testing.TB, st *store.Store) (id, key string) {
	t.Helper()
	ctx := context.Background()
	key = auth.NewAPIKey()
	id = store.NewID()
	_, err := st.Create(ctx, &store.Doc{Account: id, Type: store.TypeAccount, ID: id, Body: map[string]any{
		"name": "Master Account", "realm": "master.strowger.local", "enabled": true,
		"pvt_tree": []any{}, "pvt_superduper_admin": true, "pvt_reseller": true, "pvt_api_key": key,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := st.SetMasterAccount(ctx, id); err != nil || got != id {
		t.Fatalf("SetMasterAccount: %q %v", got, err)
	}
	return id, key
}

// n returns a number unique within the env, for unique field values.
func (e *env) n() int64 { return e.seq.Add(1) }

// resp is one HTTP answer.
type resp struct {
	Code   int
	Header http.Header
	Raw    []byte
	Env    map[string]any
}

func (r *resp) String() string {
	return fmt.Sprintf("%d %s", r.Code, truncate(string(r.Raw), 600))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// data is the envelope's data as an object (nil when it is not one).
func (r *resp) data() map[string]any {
	m, _ := r.Env["data"].(map[string]any)
	return m
}

// list is the envelope's data as an array.
func (r *resp) list() []any {
	l, _ := r.Env["data"].([]any)
	return l
}

func (r *resp) id() string { return str(r.data()["id"]) }

func (r *resp) rev() string { return str(r.Env["revision"]) }

func str(v any) string {
	s, _ := v.(string)
	return s
}

// raw sends a request with a raw body and headers given as name, value pairs.
func (e *env) raw(t testing.TB, method, path, tok string, body []byte, hdr ...string) *resp {
	t.Helper()
	r, err := e.do(method, path, tok, body, hdr...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// do is raw without a testing.TB, for other goroutines.
func (e *env) do(method, path, tok string, body []byte, hdr ...string) (*resp, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	r := &resp{Code: res.StatusCode, Header: res.Header, Raw: b}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") && len(b) > 0 {
		if err := json.Unmarshal(b, &r.Env); err != nil {
			return nil, fmt.Errorf("%s %s: answer is not a JSON object: %v: %s", method, path, err, b)
		}
	}
	return r, nil
}

// call sends {"data": data} (no body when data is nil).
func (e *env) call(t testing.TB, method, path, tok string, data any, hdr ...string) *resp {
	t.Helper()
	var body []byte
	if data != nil {
		var err error
		if body, err = json.Marshal(map[string]any{"data": data}); err != nil {
			t.Fatal(err)
		}
	}
	return e.raw(t, method, path, tok, body, hdr...)
}

// want checks the status code.
func want(t testing.TB, r *resp, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("want %d, got %s", code, r)
	}
}

// wantErr checks an error envelope: code, Kazoo's message, the exact
// Content-Type Monster UI needs.
func wantErr(t testing.TB, r *resp, code int, message string) {
	t.Helper()
	want(t, r, code)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q on an error, want exactly application/json", ct)
	}
	if r.Env["status"] != "error" || r.Env["error"] != strconv.Itoa(code) || r.Env["message"] != message {
		t.Fatalf("want error %d %q, got %s", code, message, r)
	}
	if str(r.Env["request_id"]) == "" || r.Header.Get("X-Request-ID") != r.Env["request_id"] {
		t.Fatalf("request_id missing or not in X-Request-ID: %s", r)
	}
}

// wantRule checks a 400 validation error names field with rule.
func wantRule(t testing.TB, r *resp, field, rule string) {
	t.Helper()
	wantErr(t, r, http.StatusBadRequest, "validation error")
	rules, _ := r.data()[field].(map[string]any)
	d, _ := rules[rule].(map[string]any)
	if d == nil || str(d["message"]) == "" {
		t.Fatalf("want data.%s.%s with a message, got %s", field, rule, r)
	}
}

// apiAuth trades an API key for a token.
func (e *env) apiAuth(t testing.TB, key string) string {
	t.Helper()
	r := e.call(t, http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": key})
	want(t, r, http.StatusCreated)
	tok := str(r.Env["auth_token"])
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("auth_token is not a JWT: %s", r)
	}
	return tok
}

// newAccount creates a child of parent with tok and returns its ID.
func (e *env) newAccount(t testing.TB, tok, parent, name string) string {
	t.Helper()
	r := e.call(t, http.MethodPut, "/v2/accounts/"+parent, tok, map[string]any{"name": name})
	want(t, r, http.StatusCreated)
	if !store.IsID(r.id()) {
		t.Fatalf("account id %q", r.id())
	}
	return r.id()
}

// accountToken returns an API-key token for an account (read through the API).
func (e *env) accountToken(t testing.TB, acct string) string {
	t.Helper()
	r := e.call(t, http.MethodGet, "/v2/accounts/"+acct+"/api_key", e.masterTok, nil)
	want(t, r, http.StatusOK)
	return e.apiAuth(t, str(r.data()["api_key"]))
}

// userAuth logs in with Kazoo's credentials hash.
func (e *env) userAuth(t testing.TB, data map[string]any) *resp {
	t.Helper()
	return e.call(t, http.MethodPut, "/v2/user_auth", "", data)
}

// stored reads a document straight from the store.
func (e *env) stored(t testing.TB, acct, typ, id string) *store.Doc {
	t.Helper()
	d, err := e.st.Get(context.Background(), acct, typ, id)
	if err != nil {
		t.Fatalf("store get %s %s: %v", typ, id, err)
	}
	return d
}

// writeSeqs is the last sequence of every stream documents and files live
// in: any write anywhere moves one of them.
func (e *env) writeSeqs(t testing.TB) [3]uint64 {
	t.Helper()
	ctx := context.Background()
	var out [3]uint64
	for i, name := range []string{"KV_" + store.BucketDocs, "KV_" + store.BucketIndex, "OBJ_" + store.ObjectMedia} {
		s, err := e.bus.JS.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = info.State.LastSeq
	}
	return out
}

// without returns a copy of m without the keys.
func without(m map[string]any, keys ...string) map[string]any {
	out := clone(m)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// clone deep-copies a JSON value through encoding.
func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// sameJSON compares two values as JSON.
func sameJSON(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// hasPrivate reports a pvt_ or _ key anywhere at the top of m.
func hasPrivate(m map[string]any) string {
	for k := range m {
		if strings.HasPrefix(k, "pvt_") || strings.HasPrefix(k, "_") {
			return k
		}
	}
	return ""
}

// containsJSON reports whether got has everything sub has (objects may
// carry more keys, such as schema defaults).
func containsJSON(got, sub any) bool {
	g, s := clone(map[string]any{"v": got})["v"], clone(map[string]any{"v": sub})["v"]
	return containsValue(g, s)
}

func containsValue(got, sub any) bool {
	sm, ok := sub.(map[string]any)
	if !ok {
		return reflect.DeepEqual(got, sub)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range sm {
		if !containsValue(gm[k], v) {
			return false
		}
	}
	return true
}
