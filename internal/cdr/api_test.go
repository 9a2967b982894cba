package cdr_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/api"
	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// apiEnv is the REST API over a real embedded JetStream with the CDR
// reader wired in as the node wires it, plus a writer to file records.
type apiEnv struct {
	url     string
	w       *cdr.Writer
	now     time.Time
	tok     string // the master account's token
	master  string
	t       testing.TB
	created map[string]string // account name → id
}

func newAPIEnv(t testing.TB) *apiEnv {
	t.Helper()
	return newAPIEnvWith(t, cdr.ReaderOptions{})
}

func newAPIEnvWith(t testing.TB, opts cdr.ReaderOptions) *apiEnv {
	t.Helper()
	ctx := context.Background()
	srv := bustest.Start(t)
	b, err := store.Provision(ctx, srv.JS, store.ProvisionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	clk := clock.NewFake(now)
	st := store.New(b, srv.Conn, quiet(), clk)
	signer, err := auth.NewSigner(ctx, st, store.SystemSigningKey, time.Hour, clk)
	if err != nil {
		t.Fatal(err)
	}
	key := auth.NewAPIKey()
	master := store.NewID()
	if _, err := st.Create(ctx, &store.Doc{Account: master, Type: store.TypeAccount, ID: master, Body: map[string]any{
		"name": "Master Account", "realm": "master.strowger.local", "enabled": true,
		"pvt_tree": []any{}, "pvt_superduper_admin": true, "pvt_reseller": true, "pvt_api_key": key,
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetMasterAccount(ctx, master); err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Config{NodeName: "test", Version: "test", LoginBurst: 1000}, api.Deps{
		Store: st, Signer: signer, Log: quiet(), Clock: clk, Master: master,
		CDRs: cdr.NewReader(srv.JS, quiet(), opts),
	})
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(hs.Close)
	e := &apiEnv{url: hs.URL, w: cdr.NewWriter(srv.JS, quiet()), now: now, master: master, t: t}
	r := e.do(http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": key})
	e.want(r, http.StatusCreated)
	e.tok, _ = r.env["auth_token"].(string)
	return e
}

type answer struct {
	code int
	hdr  http.Header
	raw  []byte
	env  map[string]any
}

func (e *apiEnv) do(method, path, tok string, data any, hdr ...string) *answer {
	e.t.Helper()
	var body io.Reader
	if data != nil {
		b, _ := json.Marshal(map[string]any{"data": data})
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("X-Auth-Token", tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := &answer{code: res.StatusCode, hdr: res.Header, raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a.env); err != nil {
			e.t.Fatalf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return a
}

func (e *apiEnv) want(a *answer, code int) {
	e.t.Helper()
	if a.code != code {
		e.t.Fatalf("want %d, got %d %s", code, a.code, a.raw)
	}
}

// account creates a sub-account of master and returns its id and an
// admin token for it.
func (e *apiEnv) account(name string) (id, tok string) {
	e.t.Helper()
	r := e.do(http.MethodPut, "/v2/accounts/"+e.master, e.tok, map[string]any{"name": name})
	e.want(r, http.StatusCreated)
	id, _ = r.env["data"].(map[string]any)["id"].(string)
	r = e.do(http.MethodGet, "/v2/accounts/"+id+"/api_key", e.tok, nil)
	e.want(r, http.StatusOK)
	key, _ := r.env["data"].(map[string]any)["api_key"].(string)
	r = e.do(http.MethodPut, "/v2/api_auth", "", map[string]any{"api_key": key})
	e.want(r, http.StatusCreated)
	tok, _ = r.env["auth_token"].(string)
	return id, tok
}

func (e *apiEnv) write(recs ...cdr.Record) {
	e.t.Helper()
	for _, r := range recs {
		if err := e.w.Write(context.Background(), r); err != nil {
			e.t.Fatal(err)
		}
	}
}

func dataIDs(a *answer) []string {
	l, _ := a.env["data"].([]any)
	out := make([]string, len(l))
	for i, v := range l {
		out[i], _ = v.(map[string]any)["id"].(string)
	}
	return out
}

func greg(t time.Time) string { return fmt.Sprint(store.GregorianSeconds(t)) }

func TestAPIListsCDRsInRange(t *testing.T) {
	e := newAPIEnv(t)
	acct, tok := e.account("cdr range")
	var recs []cdr.Record
	for i := range 5 {
		recs = append(recs, record(acct, fmt.Sprintf("range-%d", i), e.now.Add(-time.Duration(5-i)*time.Hour)))
	}
	e.write(recs...)
	path := "/v2/accounts/" + acct + "/cdrs"

	// Default: the last day, newest first.
	r := e.do(http.MethodGet, path, tok, nil)
	e.want(r, http.StatusOK)
	if got := dataIDs(r); strings.Join(got, ",") != strings.Join([]string{recs[4].ID, recs[3].ID, recs[2].ID, recs[1].ID, recs[0].ID}, ",") {
		t.Fatalf("default listing %v, want all five newest first", got)
	}

	// created_from/created_to inclusive at both ends.
	q := "?created_from=" + greg(recs[1].Created) + "&created_to=" + greg(recs[3].Created)
	r = e.do(http.MethodGet, path+q, tok, nil)
	e.want(r, http.StatusOK)
	if got := dataIDs(r); strings.Join(got, ",") != strings.Join([]string{recs[3].ID, recs[2].ID, recs[1].ID}, ",") {
		t.Fatalf("ranged listing %v, want records 3,2,1", got)
	}
	r = e.do(http.MethodGet, path+q+"&ascending=true", tok, nil)
	if got := dataIDs(r); strings.Join(got, ",") != strings.Join([]string{recs[1].ID, recs[2].ID, recs[3].ID}, ",") {
		t.Fatalf("ascending listing %v, want records 1,2,3", got)
	}

	// A record's body is Kazoo's, with nothing private.
	l, _ := r.env["data"].([]any)
	first, _ := l[0].(map[string]any)
	if first["call_id"] != "range-1" || first["hangup_code"] != "sip:200" || first["media_server"] != "media-1" {
		t.Fatalf("record body %v", first)
	}
	for k := range first {
		if strings.HasPrefix(k, "pvt_") {
			t.Fatalf("private field %q served", k)
		}
	}

	// Filters still apply on top of the range.
	r = e.do(http.MethodGet, path+"?filter_call_id=range-2", tok, nil)
	if got := dataIDs(r); len(got) != 1 || got[0] != recs[2].ID {
		t.Fatalf("filtered listing %v, want record 2", got)
	}
}

func TestAPIPaginatesCDRs(t *testing.T) {
	e := newAPIEnv(t)
	acct, tok := e.account("cdr pages")
	var want []string
	for i := range 7 {
		r := record(acct, fmt.Sprintf("page-%d", i), e.now.Add(-time.Duration(7-i)*time.Minute))
		e.write(r)
		want = append([]string{r.ID}, want...) // newest first
	}
	var got []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("pagination does not end")
		}
		q := "?page_size=3"
		if next != "" {
			q += "&start_key=" + next
		}
		r := e.do(http.MethodGet, "/v2/accounts/"+acct+"/cdrs"+q, tok, nil)
		e.want(r, http.StatusOK)
		ids := dataIDs(r)
		if len(ids) > 3 {
			t.Fatalf("page of %d, page_size 3", len(ids))
		}
		got = append(got, ids...)
		next, _ = r.env["next_start_key"].(string)
		if next == "" {
			break
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages gave %v, want %v (newest first, each once)", got, want)
	}
}

func TestAPIServesCDRsAsCSV(t *testing.T) {
	e := newAPIEnv(t)
	acct, tok := e.account("cdr csv")
	a := record(acct, "csv-a", e.now.Add(-2*time.Minute))
	b := record(acct, "csv-b", e.now.Add(-time.Minute))
	b.CallerIDName = `Smith, "Bob"`
	e.write(a, b)
	for _, how := range []struct{ query, header string }{{"", "text/csv"}, {"?accept=csv", ""}} {
		var hdr []string
		if how.header != "" {
			hdr = []string{"Accept", how.header}
		}
		r := e.do(http.MethodGet, "/v2/accounts/"+acct+"/cdrs"+how.query, tok, nil, hdr...)
		e.want(r, http.StatusOK)
		if ct := r.hdr.Get("Content-Type"); ct != "text/csv" {
			t.Fatalf("Content-Type %q, want text/csv", ct)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
		if err != nil {
			t.Fatalf("not CSV: %v\n%s", err, r.raw)
		}
		if len(rows) != 3 {
			t.Fatalf("%d rows, want a header and two records:\n%s", len(rows), r.raw)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		for _, k := range []string{"id", "call_id", "caller_id_name", "duration_seconds", "hangup_cause", "custom_channel_vars"} {
			if _, ok := col[k]; !ok {
				t.Fatalf("CSV header %v lacks %q", rows[0], k)
			}
		}
		// Newest first; quoting survives a comma and quotes in a name.
		if rows[1][col["call_id"]] != "csv-b" || rows[1][col["caller_id_name"]] != `Smith, "Bob"` {
			t.Fatalf("first row %v", rows[1])
		}
		if rows[2][col["duration_seconds"]] != "12" || rows[2][col["custom_channel_vars"]] != `{"account_id":"`+acct+`"}` {
			t.Fatalf("second row %v", rows[2])
		}
	}
}

func TestAPIGetsOneCDR(t *testing.T) {
	e := newAPIEnv(t)
	acctA, tokA := e.account("cdr a")
	acctB, tokB := e.account("cdr b")
	a := record(acctA, "get-a", e.now.Add(-time.Minute))
	b := record(acctB, "get-b", e.now.Add(-time.Minute))
	e.write(a, b)

	r := e.do(http.MethodGet, "/v2/accounts/"+acctA+"/cdrs/"+a.ID, tokA, nil)
	e.want(r, http.StatusOK)
	if d, _ := r.env["data"].(map[string]any); d["call_id"] != "get-a" {
		t.Fatalf("got %s", r.raw)
	}
	// Another account's record id, through one's own account: not found.
	r = e.do(http.MethodGet, "/v2/accounts/"+acctA+"/cdrs/"+b.ID, tokA, nil)
	e.want(r, http.StatusNotFound)
	if ct := r.hdr.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("404 Content-Type %q", ct)
	}
	// Another account's path with one's own token: forbidden.
	r = e.do(http.MethodGet, "/v2/accounts/"+acctB+"/cdrs/"+b.ID, tokA, nil)
	if r.code != http.StatusForbidden && r.code != http.StatusUnauthorized {
		t.Fatalf("reading another account's CDR path: %d %s", r.code, r.raw)
	}
	// And its listing holds only its own.
	r = e.do(http.MethodGet, "/v2/accounts/"+acctB+"/cdrs", tokB, nil)
	if got := dataIDs(r); len(got) != 1 || got[0] != b.ID {
		t.Fatalf("account B lists %v", got)
	}
	// Ids that are not record ids.
	for _, id := range []string{"nope", strings.Repeat("A", 32), "%3E"} {
		r = e.do(http.MethodGet, "/v2/accounts/"+acctA+"/cdrs/"+id, tokA, nil)
		e.want(r, http.StatusNotFound)
	}
}

func TestAPIRejectsBadCDRRanges(t *testing.T) {
	e := newAPIEnv(t)
	acct, tok := e.account("cdr bad")
	path := "/v2/accounts/" + acct + "/cdrs"
	for _, c := range []struct{ query, field string }{
		{"?created_from=yesterday", "created_from"},
		{"?created_to=-5", "created_to"},
		{"?created_from=" + greg(e.now) + "&created_to=" + greg(e.now.Add(-time.Hour)), "created_to"},
		{"?created_from=" + greg(e.now.Add(-40*24*time.Hour)) + "&created_to=" + greg(e.now), "created_from"},
	} {
		r := e.do(http.MethodGet, path+c.query, tok, nil)
		e.want(r, http.StatusBadRequest)
		if d, _ := r.env["data"].(map[string]any); d[c.field] == nil {
			t.Fatalf("%s: error does not name %s: %s", c.query, c.field, r.raw)
		}
	}
	r := e.do(http.MethodGet, path, "", nil)
	e.want(r, http.StatusUnauthorized)
}

func TestAPIRefusesARangeOverTheCap(t *testing.T) {
	e := newAPIEnvWith(t, cdr.ReaderOptions{MaxRecords: 2})
	acct, tok := e.account("cdr cap")
	for i := range 3 {
		e.write(record(acct, fmt.Sprintf("cap-%d", i), e.now.Add(-time.Duration(i+1)*time.Minute)))
	}
	r := e.do(http.MethodGet, "/v2/accounts/"+acct+"/cdrs", tok, nil)
	e.want(r, http.StatusRequestedRangeNotSatisfiable)
	if d, _ := r.env["data"].(map[string]any); !strings.Contains(fmt.Sprint(d["message"]), "narrow created_from") {
		t.Fatalf("416 does not say what to do: %s", r.raw)
	}
	// A narrower range is served.
	q := "?created_from=" + greg(e.now.Add(-90*time.Second)) + "&created_to=" + greg(e.now)
	r = e.do(http.MethodGet, "/v2/accounts/"+acct+"/cdrs"+q, tok, nil)
	e.want(r, http.StatusOK)
	if got := dataIDs(r); len(got) != 1 {
		t.Fatalf("narrow range: %v", got)
	}
}

// leg is a record of one leg of an interaction.
func leg(account, callID, interaction, direction string, t time.Time) cdr.Record {
	r := record(account, callID, t)
	r.InteractionID, r.CallDirection = interaction, direction
	return r
}

func TestAPIListsInteractionsAndTheirLegs(t *testing.T) {
	e := newAPIEnv(t)
	acct, tok := e.account("cdr interactions")
	t0 := e.now.Add(-time.Hour)
	// Call 1: the outbound leg hangs up and is written first.
	in1 := leg(acct, "c1-a", "i-1", "inbound", t0)
	out1 := leg(acct, "c1-b", "i-1", "outbound", t0.Add(time.Second))
	// Call 2: two forked outbound legs.
	in2 := leg(acct, "c2-a", "i-2", "inbound", t0.Add(time.Minute))
	out2a := leg(acct, "c2-b", "i-2", "outbound", t0.Add(time.Minute+time.Second))
	out2b := leg(acct, "c2-c", "i-2", "outbound", t0.Add(time.Minute+time.Second))
	// A record without an interaction is its own.
	lone := leg(acct, "c3-a", "", "inbound", t0.Add(2*time.Minute))
	e.write(out1, in1, out2a, in2, out2b, lone)

	base := "/v2/accounts/" + acct + "/cdrs"
	r := e.do(http.MethodGet, base+"/interaction", tok, nil)
	e.want(r, http.StatusOK)
	if got, want := strings.Join(dataIDs(r), ","), strings.Join([]string{lone.ID, in2.ID, in1.ID}, ","); got != want {
		t.Fatalf("interactions %s, want the A legs newest first %s", got, want)
	}
	r = e.do(http.MethodGet, base+"/legs/i-2?ascending=true", tok, nil)
	e.want(r, http.StatusOK)
	got := dataIDs(r)
	if len(got) != 3 || got[0] != in2.ID {
		t.Fatalf("legs of i-2: %v, want the inbound leg then both outbound legs", got)
	}
	r = e.do(http.MethodGet, base+"/legs/nope", tok, nil)
	e.want(r, http.StatusOK)
	if got := dataIDs(r); len(got) != 0 {
		t.Fatalf("legs of an unknown interaction: %v", got)
	}
	// Another account's interaction is not visible.
	other, otherTok := e.account("cdr interactions other")
	e.write(leg(other, "o-a", "i-9", "inbound", t0))
	if got := dataIDs(e.do(http.MethodGet, base+"/legs/i-9", tok, nil)); len(got) != 0 {
		t.Fatalf("another account's legs listed: %v", got)
	}
	if got := dataIDs(e.do(http.MethodGet, "/v2/accounts/"+other+"/cdrs/interaction", otherTok, nil)); len(got) != 1 {
		t.Fatalf("other account's interactions: %v", got)
	}
}

func TestAPIListsAUsersCDRs(t *testing.T) {
	e := newAPIEnv(t)
	acct, tok := e.account("cdr users")
	mkUser := func(name string) string {
		r := e.do(http.MethodPut, "/v2/accounts/"+acct+"/users", tok, map[string]any{
			"first_name": name, "last_name": "Test", "username": name, "password": "Secret-" + name, "priv_level": "user"})
		e.want(r, http.StatusCreated)
		return r.env["data"].(map[string]any)["id"].(string)
	}
	alice, bob := mkUser("alice"), mkUser("bob")
	mine := record(acct, "u-1", e.now.Add(-time.Minute))
	mine.CustomChannelVars["owner_id"] = alice
	theirs := record(acct, "u-2", e.now.Add(-time.Minute))
	theirs.CustomChannelVars["owner_id"] = bob
	e.write(mine, theirs, record(acct, "u-3", e.now.Add(-time.Minute)))

	path := func(u string) string { return "/v2/accounts/" + acct + "/users/" + u + "/cdrs" }
	r := e.do(http.MethodGet, path(alice), tok, nil)
	e.want(r, http.StatusOK)
	if got := dataIDs(r); len(got) != 1 || got[0] != mine.ID {
		t.Fatalf("alice's CDRs as admin: %v", got)
	}
	e.want(e.do(http.MethodGet, path(store.NewID()), tok, nil), http.StatusNotFound)

	login := func(name string) string {
		sum := md5.Sum([]byte(name + ":Secret-" + name))
		r := e.do(http.MethodPut, "/v2/user_auth", "", map[string]any{
			"credentials": hex.EncodeToString(sum[:]), "account_name": "cdr users"})
		e.want(r, http.StatusCreated)
		return r.env["auth_token"].(string)
	}
	aliceTok := login("alice")
	r = e.do(http.MethodGet, path(alice), aliceTok, nil)
	e.want(r, http.StatusOK)
	if got := dataIDs(r); len(got) != 1 || got[0] != mine.ID {
		t.Fatalf("alice's CDRs as alice: %v", got)
	}
	e.want(e.do(http.MethodGet, path(bob), aliceTok, nil), http.StatusForbidden)
	e.want(e.do(http.MethodGet, "/v2/accounts/"+acct+"/cdrs", aliceTok, nil), http.StatusForbidden)
}
