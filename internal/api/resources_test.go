package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/store"
)

// badField is one invalid value and the rule it must fail.
type badField struct {
	field string         // dotted path in the validation error
	set   map[string]any // merged into a valid body
	rule  string
}

// resourceSpec describes one document collection for the table tests.
type resourceSpec struct {
	path    string
	docType string
	// body returns a valid body; n makes unique fields unique.
	body func(n int64) map[string]any
	// required is a required field removed to provoke "required" (none: "").
	required string
	bad      []badField
	// unique is the field that must be unique and how to copy it.
	unique     string
	copyUnique func(from map[string]any) map[string]any
	putID      bool
}

func specs() []resourceSpec {
	return []resourceSpec{
		{path: "users", docType: store.TypeUser,
			body: func(n int64) map[string]any {
				return map[string]any{"first_name": "First", "last_name": fmt.Sprint("Last", n), "username": fmt.Sprint("user", n),
					"email": fmt.Sprintf("u%d@example.com", n)}
			},
			required: "first_name",
			bad: []badField{
				{"first_name", map[string]any{"first_name": 5}, "type"},
				{"priv_level", map[string]any{"priv_level": "root"}, "enum"},
				{"last_name", map[string]any{"last_name": ""}, "minLength"},
				{"username", map[string]any{"username": "bad name!"}, "pattern"},
			},
			unique:     "username",
			copyUnique: func(f map[string]any) map[string]any { return map[string]any{"username": f["username"]} },
		},
		{path: "devices", docType: store.TypeDevice, putID: true,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("phone ", n), "device_type": "softphone",
					"sip": map[string]any{"username": fmt.Sprint("sip", n), "password": "secret123"}}
			},
			required: "name",
			bad: []badField{
				{"enabled", map[string]any{"enabled": "yes"}, "type"},
				{"sip.invite_format", map[string]any{"sip": map[string]any{"username": "zz99", "invite_format": "bogus"}}, "enum"},
				{"sip.username", map[string]any{"sip": map[string]any{"username": "a"}}, "minLength"},
				{"name", map[string]any{"name": strings.Repeat("n", 129)}, "maxLength"},
			},
			unique:     "sip.username",
			copyUnique: func(f map[string]any) map[string]any { return map[string]any{"sip": f["sip"]} },
		},
		{path: "callflows", docType: store.TypeCallflow,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("flow ", n), "numbers": []any{fmt.Sprint(1000 + n)},
					"flow": map[string]any{"module": "hangup", "data": map[string]any{}}}
			},
			required: "flow",
			bad: []badField{
				{"numbers", map[string]any{"numbers": "100"}, "type"},
				{"flow.module", map[string]any{"flow": map[string]any{"module": "no_such_module", "data": map[string]any{}}}, "enum"},
				{"name", map[string]any{"name": strings.Repeat("n", 129)}, "maxLength"},
			},
			unique:     "numbers",
			copyUnique: func(f map[string]any) map[string]any { return map[string]any{"numbers": f["numbers"]} },
		},
		{path: "vmboxes", docType: store.TypeVMBox,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("box ", n), "mailbox": fmt.Sprint(5000 + n), "pin": "1234"}
			},
			required: "mailbox",
			bad: []badField{
				{"require_pin", map[string]any{"require_pin": "no"}, "type"},
				{"media_extension", map[string]any{"media_extension": "ogg"}, "enum"},
				{"pin", map[string]any{"pin": "12"}, "minLength"},
				{"mailbox", map[string]any{"mailbox": "12a"}, "pattern"},
			},
			unique:     "mailbox",
			copyUnique: func(f map[string]any) map[string]any { return map[string]any{"mailbox": f["mailbox"]} },
		},
		{path: "menus", docType: store.TypeMenu,
			body:     func(n int64) map[string]any { return map[string]any{"name": fmt.Sprint("menu ", n), "retries": 3} },
			required: "name",
			bad: []badField{
				{"retries", map[string]any{"retries": "3"}, "type"},
				{"retries", map[string]any{"retries": 11}, "maximum"},
				{"record_pin", map[string]any{"record_pin": "1"}, "minLength"},
			},
		},
		{path: "groups", docType: store.TypeGroup,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("group ", n), "endpoints": map[string]any{}}
			},
			required: "endpoints",
			bad: []badField{
				{"endpoints", map[string]any{"endpoints": []any{}}, "type"},
				{"name", map[string]any{"name": ""}, "minLength"},
			},
		},
		{path: "temporal_rules", docType: store.TypeTemporalRule,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("rule ", n), "cycle": "weekly", "wdays": []any{"monday"}}
			},
			required: "cycle",
			bad: []badField{
				{"interval", map[string]any{"interval": "1"}, "type"},
				{"cycle", map[string]any{"cycle": "hourly"}, "enum"},
				{"month", map[string]any{"month": 13}, "maximum"},
				{"time_window_start", map[string]any{"time_window_start": -1}, "minimum"},
			},
		},
		{path: "temporal_rules_sets", docType: store.TypeTemporalRulesSet,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("set ", n), "temporal_rules": []any{}}
			},
			required: "name",
			bad: []badField{
				{"temporal_rules", map[string]any{"temporal_rules": "x"}, "type"},
				{"name", map[string]any{"name": ""}, "minLength"},
			},
		},
		{path: "conferences", docType: store.TypeConference, putID: true,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("conf ", n), "conference_numbers": []any{fmt.Sprint(7000 + n)}}
			},
			bad: []badField{
				{"max_participants", map[string]any{"max_participants": "x"}, "type"},
				{"max_participants", map[string]any{"max_participants": -1}, "minimum"},
				{"conference_numbers", map[string]any{"conference_numbers": []any{"1", "1"}}, "uniqueItems"},
			},
		},
		{path: "media", docType: store.TypeMedia,
			body: func(n int64) map[string]any {
				return map[string]any{"name": fmt.Sprint("media ", n), "media_source": "upload", "description": "greeting"}
			},
			required: "name",
			bad: []badField{
				{"streamable", map[string]any{"streamable": "x"}, "type"},
				{"media_source", map[string]any{"media_source": "fax"}, "enum"},
				{"description", map[string]any{"description": ""}, "minLength"},
			},
		},
	}
}

// merge returns a copy of base with over's keys set.
func merge(base, over map[string]any) map[string]any {
	out := clone(base)
	for k, v := range over {
		out[k] = v
	}
	return out
}

// TestResourceVerbs runs every verb on every document collection.
func TestResourceVerbs(t *testing.T) {
	e := newEnv(t)
	for _, sp := range specs() {
		t.Run(sp.path, func(t *testing.T) {
			t.Parallel()
			acct := e.newAccount(t, e.masterTok, e.master, "verbs "+sp.path)
			tok := e.accountToken(t, acct)
			base := "/v2/accounts/" + acct + "/" + sp.path
			testResourceVerbs(t, e, sp, acct, tok, base)
		})
	}
}

func testResourceVerbs(t *testing.T, e *env, sp resourceSpec, acct, tok, base string) {
	// PUT creates: 201, an ID, a revision, an ETag; private fields are
	// ignored; client fields are kept.
	body := sp.body(e.n())
	body["ui_metadata"] = map[string]any{"ui": "monster-ui", "version": "4.3"}
	body["pvt_type"] = "account"
	body["pvt_account_id"] = e.master
	body["pvt_evil"] = true
	body["_id"] = "x"
	body["id"] = store.NewID()
	cr := e.call(t, http.MethodPut, base, tok, body)
	want(t, cr, http.StatusCreated)
	id := cr.id()
	if !store.IsID(id) || id == body["id"] {
		t.Fatalf("created id %q (client sent %q)", id, body["id"])
	}
	if cr.rev() == "" || cr.Header.Get("ETag") != `"`+cr.rev()+`"` || cr.Env["status"] != "success" {
		t.Fatalf("revision %q ETag %q: %s", cr.rev(), cr.Header.Get("ETag"), cr)
	}
	if cr.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("Content-Type %q", cr.Header.Get("Content-Type"))
	}
	if k := hasPrivate(cr.data()); k != "" {
		t.Fatalf("private field %s returned: %s", k, cr)
	}
	if !sameJSON(cr.data()["ui_metadata"], body["ui_metadata"]) {
		t.Fatalf("ui_metadata did not round-trip: %s", cr)
	}
	for k, v := range body {
		if strings.HasPrefix(k, "pvt_") || strings.HasPrefix(k, "_") || k == "id" {
			continue
		}
		if !containsJSON(cr.data()[k], v) {
			t.Fatalf("field %s: sent %v, got %v", k, v, cr.data()[k])
		}
	}
	sd := e.stored(t, acct, sp.docType, id)
	if sd.Body["pvt_type"] != sp.docType || sd.Body["pvt_account_id"] != acct || sd.Body["pvt_evil"] != nil || sd.Body["_id"] != nil {
		t.Fatalf("stored private fields were set by the client: %v", sd.Body)
	}
	if strconv.FormatUint(sd.Rev, 10) != cr.rev() {
		t.Fatalf("revision %s is not the store's %d", cr.rev(), sd.Rev)
	}

	// GET returns the same fields, revision and ETag.
	g := e.call(t, http.MethodGet, base+"/"+id, tok, nil)
	want(t, g, http.StatusOK)
	if !sameJSON(g.data(), cr.data()) || g.rev() != cr.rev() || g.Header.Get("ETag") != cr.Header.Get("ETag") {
		t.Fatalf("GET differs from the create:\n%s\n%s", g, cr)
	}

	// POST replaces: a field left out is gone, private fields stay private.
	repl := without(g.data(), "ui_metadata", "id")
	repl["name"] = "replaced"
	repl["custom"] = map[string]any{"a": "b"}
	repl["removable"] = "yes"
	repl["pvt_type"] = "hacked"
	p := e.call(t, http.MethodPost, base+"/"+id, tok, repl)
	want(t, p, http.StatusOK)
	if _, ok := p.data()["ui_metadata"]; ok || p.data()["name"] != "replaced" || !sameJSON(p.data()["custom"], repl["custom"]) {
		t.Fatalf("POST did not replace: %s", p)
	}
	if k := hasPrivate(p.data()); k != "" || e.stored(t, acct, sp.docType, id).Body["pvt_type"] != sp.docType {
		t.Fatalf("POST touched private fields (%s): %s", k, p)
	}
	if p.rev() == g.rev() || p.Header.Get("ETag") != `"`+p.rev()+`"` {
		t.Fatalf("POST revision %q after %q", p.rev(), g.rev())
	}

	// PATCH merges; null removes a key; nested objects merge.
	pa := e.call(t, http.MethodPatch, base+"/"+id, tok, map[string]any{
		"custom": map[string]any{"c": "d"}, "removable": nil, "patched": true})
	want(t, pa, http.StatusOK)
	pd := pa.data()
	if _, ok := pd["removable"]; ok {
		t.Fatalf("PATCH null kept the key: %s", pa)
	}
	if !sameJSON(pd["custom"], map[string]any{"a": "b", "c": "d"}) || pd["patched"] != true {
		t.Fatalf("PATCH did not merge: %s", pa)
	}
	for k, v := range without(p.data(), "removable", "custom", "patched") {
		if !sameJSON(pd[k], v) {
			t.Fatalf("PATCH lost %s: %v → %v", k, v, pd[k])
		}
	}

	// A stale If-Match is a conflict; the same write without it applies.
	stale := `"` + g.rev() + `"`
	c := e.call(t, http.MethodPost, base+"/"+id, tok, merge(without(pd, "id"), map[string]any{"name": "stale"}), "If-Match", stale)
	wantErr(t, c, http.StatusConflict, "conflicting documents")
	if got := e.stored(t, acct, sp.docType, id); strconv.FormatUint(got.Rev, 10) != pa.rev() {
		t.Fatalf("a refused write changed the revision: %d", got.Rev)
	}
	ok := e.call(t, http.MethodPost, base+"/"+id, tok, merge(without(pd, "id"), map[string]any{"name": "fresh"}))
	want(t, ok, http.StatusOK)
	cur := e.call(t, http.MethodPatch, base+"/"+id, tok, map[string]any{"name": "current"}, "If-Match", `"`+ok.rev()+`"`)
	want(t, cur, http.StatusOK)
	wantErr(t, e.call(t, http.MethodPatch, base+"/"+id, tok, map[string]any{"name": "x"}, "If-Match", `"`+ok.rev()+`"`),
		http.StatusConflict, "conflicting documents")
	wantRule(t, e.call(t, http.MethodPatch, base+"/"+id, tok, map[string]any{"name": "x"}, "If-Match", "banana"), "If-Match", "format")

	// Validation errors name the field and the rule; nothing is stored.
	t.Run("validation", func(t *testing.T) {
		before := e.listIDs(t, tok, base)
		if sp.required != "" {
			b := sp.body(e.n())
			delete(b, sp.required)
			r := e.call(t, http.MethodPut, base, tok, b)
			wantRule(t, r, sp.required, "required")
			// On POST too.
			r = e.call(t, http.MethodPost, base+"/"+id, tok, without(cur.data(), sp.required, "id"))
			wantRule(t, r, sp.required, "required")
		}
		for _, bf := range sp.bad {
			r := e.call(t, http.MethodPut, base, tok, merge(sp.body(e.n()), bf.set))
			wantRule(t, r, bf.field, bf.rule)
			r = e.call(t, http.MethodPatch, base+"/"+id, tok, bf.set)
			wantRule(t, r, bf.field, bf.rule)
		}
		if after := e.listIDs(t, tok, base); !slices.Equal(before, after) {
			t.Fatalf("invalid creates stored something: %v → %v", before, after)
		}
		if got := e.stored(t, acct, sp.docType, id); strconv.FormatUint(got.Rev, 10) != cur.rev() {
			t.Fatalf("invalid updates changed the document")
		}
	})

	// Uniqueness: a second document with the same value is refused.
	if sp.unique != "" {
		t.Run("unique", func(t *testing.T) {
			first := e.call(t, http.MethodPut, base, tok, sp.body(e.n()))
			want(t, first, http.StatusCreated)
			dup := merge(sp.body(e.n()), sp.copyUnique(first.data()))
			r := e.call(t, http.MethodPut, base, tok, dup)
			wantRule(t, r, sp.unique, "unique")
			// Moving another document onto the value is refused too.
			other := e.call(t, http.MethodPut, base, tok, sp.body(e.n()))
			want(t, other, http.StatusCreated)
			r = e.call(t, http.MethodPatch, base+"/"+other.id(), tok, sp.copyUnique(first.data()))
			wantRule(t, r, sp.unique, "unique")
			// Once the holder is deleted the value is free again.
			want(t, e.call(t, http.MethodDelete, base+"/"+first.id(), tok, nil), http.StatusOK)
			want(t, e.call(t, http.MethodPut, base, tok, dup), http.StatusCreated)
		})
	}

	// Request-level errors.
	t.Run("errors", func(t *testing.T) {
		for _, bad := range []string{`{"data":`, `not json`, `{"data":{"name":"x",}}`, `[1,2]`} {
			wantErr(t, e.raw(t, http.MethodPut, base, tok, []byte(bad)), http.StatusBadRequest, "failed to parse request body")
			wantErr(t, e.raw(t, http.MethodPost, base+"/"+id, tok, []byte(bad)), http.StatusBadRequest, "failed to parse request body")
		}
		wantErr(t, e.raw(t, http.MethodPut, base, tok, []byte(``)), http.StatusBadRequest, "failed to parse request body")
		wantRule(t, e.raw(t, http.MethodPut, base, tok, []byte(`{"data":[1]}`)), "data", "type")
		wantRule(t, e.raw(t, http.MethodPut, base, tok, []byte(`{"name":"no envelope"}`)), "data", "required")
		big := []byte(`{"data":{"name":"` + strings.Repeat("x", 1<<20) + `"}}`)
		wantErr(t, e.raw(t, http.MethodPut, base, tok, big), http.StatusRequestEntityTooLarge, "request entity too large")
		wantErr(t, e.raw(t, http.MethodPatch, base+"/"+id, tok, big), http.StatusRequestEntityTooLarge, "request entity too large")
		wantErr(t, e.call(t, http.MethodPatch, base, tok, map[string]any{}), http.StatusMethodNotAllowed, "method not allowed")
		wantErr(t, e.call(t, http.MethodDelete, base, tok, nil), http.StatusMethodNotAllowed, "method not allowed")
		wantErr(t, e.call(t, "FROB", base+"/"+id, tok, nil), http.StatusMethodNotAllowed, "method not allowed")
		if !sp.putID {
			wantErr(t, e.call(t, http.MethodPut, base+"/"+id, tok, sp.body(e.n())), http.StatusMethodNotAllowed, "method not allowed")
		}
		wantErr(t, e.call(t, http.MethodGet, base+"/"+store.NewID(), tok, nil), http.StatusNotFound, "bad identifier")
		wantErr(t, e.call(t, http.MethodPost, base+"/"+store.NewID(), tok, sp.body(e.n())), http.StatusNotFound, "bad identifier")
		wantErr(t, e.call(t, http.MethodGet, base+"/not-an-id", tok, nil), http.StatusNotFound, "bad identifier")
		wantErr(t, e.call(t, http.MethodGet, base, "", nil), http.StatusUnauthorized, "invalid credentials")
		wantErr(t, e.call(t, http.MethodGet, base, "garbage.token.here", nil), http.StatusUnauthorized, "invalid credentials")
		if got := e.stored(t, acct, sp.docType, id); strconv.FormatUint(got.Rev, 10) != cur.rev() {
			t.Fatalf("a refused request changed the document")
		}
	})

	// PUT with a chosen ID.
	if sp.putID {
		t.Run("put_id", func(t *testing.T) {
			chosen := store.NewID()
			r := e.call(t, http.MethodPut, base+"/"+chosen, tok, sp.body(e.n()))
			want(t, r, http.StatusCreated)
			if r.id() != chosen {
				t.Fatalf("PUT /%s created %s", chosen, r.id())
			}
			wantRule(t, e.call(t, http.MethodPut, base+"/"+chosen, tok, sp.body(e.n())), "id", "unique")
			wantRule(t, e.call(t, http.MethodPut, base+"/NOT-AN-ID", tok, sp.body(e.n())), "id", "pattern")
		})
	}

	// DELETE, then GET → 404 bad identifier.
	d := e.call(t, http.MethodDelete, base+"/"+id, tok, nil)
	want(t, d, http.StatusOK)
	if d.id() != id || hasPrivate(d.data()) != "" {
		t.Fatalf("DELETE answer: %s", d)
	}
	gone := e.call(t, http.MethodGet, base+"/"+id, tok, nil)
	wantErr(t, gone, http.StatusNotFound, "bad identifier")
	wantErr(t, e.call(t, http.MethodDelete, base+"/"+id, tok, nil), http.StatusNotFound, "bad identifier")
	wantErr(t, e.call(t, http.MethodPatch, base+"/"+id, tok, map[string]any{"x": 1}), http.StatusNotFound, "bad identifier")
	if slices.Contains(e.listIDs(t, tok, base), id) {
		t.Fatalf("deleted %s is still listed", id)
	}
}

// listIDs walks every page of a listing and returns the IDs in order.
func (e *env) listIDs(t testing.TB, tok, base string) []string {
	t.Helper()
	ids, _ := e.walk(t, tok, base, "page_size=3")
	return ids
}

// walk follows next_start_key through every page; it returns the IDs and
// the listing entries.
func (e *env) walk(t testing.TB, tok, base, query string) ([]string, []map[string]any) {
	t.Helper()
	var ids []string
	var items []map[string]any
	next := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("pagination does not end")
		}
		q := query
		if next != "" {
			q += "&start_key=" + next
		}
		r := e.call(t, http.MethodGet, base+"?"+q, tok, nil)
		want(t, r, http.StatusOK)
		l := r.list()
		if l == nil {
			t.Fatalf("listing data is not an array: %s", r)
		}
		if ps, ok := r.Env["page_size"].(float64); !ok || int(ps) != len(l) {
			t.Fatalf("page_size %v for %d items", r.Env["page_size"], len(l))
		}
		for _, it := range l {
			m := it.(map[string]any)
			if k := hasPrivate(m); k != "" {
				t.Fatalf("listing shows %s", k)
			}
			ids = append(ids, str(m["id"]))
			items = append(items, m)
		}
		if len(l) > 0 && r.Env["start_key"] == nil {
			t.Fatalf("no start_key: %s", r)
		}
		nk, has := r.Env["next_start_key"]
		if !has {
			return ids, items
		}
		next = str(nk)
		if next == "" || len(l) == 0 {
			t.Fatalf("bad next_start_key: %s", r)
		}
	}
}

// TestResourceListing checks pagination, filters and time ranges on every
// collection.
func TestResourceListing(t *testing.T) {
	e := newEnv(t)
	for _, sp := range specs() {
		t.Run(sp.path, func(t *testing.T) {
			t.Parallel()
			acct := e.newAccount(t, e.masterTok, e.master, "list "+sp.path)
			tok := e.accountToken(t, acct)
			base := "/v2/accounts/" + acct + "/" + sp.path
			const n = 7
			var ids []string
			created := map[string]int64{}
			for i := 0; i < n; i++ {
				b := sp.body(e.n())
				b["color"] = []string{"red", "blue"}[i%2]
				if i%3 == 0 {
					b["ui_metadata"] = map[string]any{"origin": "ui"}
				}
				b["rank"] = i
				r := e.call(t, http.MethodPut, base, tok, b)
				want(t, r, http.StatusCreated)
				ids = append(ids, r.id())
				created[r.id()] = toInt(e.stored(t, acct, sp.docType, r.id()).Body["pvt_created"])
				e.clock.Advance(time.Second)
			}
			sorted := slices.Sorted(slices.Values(ids))

			// Every page size walks every document exactly once, in ID order.
			for _, size := range []int{1, 2, 3, 7, 50} {
				got, _ := e.walk(t, tok, base, "page_size="+strconv.Itoa(size))
				if !slices.Equal(got, sorted) {
					t.Fatalf("page_size=%d walked %v, want %v", size, got, sorted)
				}
			}
			// Descending order walks them backwards.
			got, _ := e.walk(t, tok, base, "page_size=2&ascending=false")
			rev := slices.Clone(sorted)
			slices.Reverse(rev)
			if !slices.Equal(got, rev) {
				t.Fatalf("descending walked %v", got)
			}
			// A full page has no next_start_key; paginate=false lists all.
			r := e.call(t, http.MethodGet, base+"?page_size=7", tok, nil)
			if _, has := r.Env["next_start_key"]; has || len(r.list()) != n {
				t.Fatalf("exact page: %s", r)
			}
			if got, _ := e.walk(t, tok, base, "paginate=false"); !slices.Equal(got, sorted) {
				t.Fatalf("paginate=false: %v", got)
			}

			count := func(q string) []string {
				t.Helper()
				got, _ := e.walk(t, tok, base, "page_size=2&"+q)
				return got
			}
			pick := func(f func(i int) bool) []string {
				var out []string
				for i, id := range ids {
					if f(i) {
						out = append(out, id)
					}
				}
				slices.Sort(out)
				return out
			}
			cases := []struct {
				q    string
				want []string
			}{
				{"filter_color=red", pick(func(i int) bool { return i%2 == 0 })},
				{"filter_not_color=red", pick(func(i int) bool { return i%2 == 1 })},
				{"filter_color=green", nil},
				{"filter_rank=3", pick(func(i int) bool { return i == 3 })},
				{"filter_ui_metadata.origin=ui", pick(func(i int) bool { return i%3 == 0 })},
				{"has_key=ui_metadata", pick(func(i int) bool { return i%3 == 0 })},
				{"key_missing=ui_metadata", pick(func(i int) bool { return i%3 != 0 })},
				{"filter_color=blue&has_key=ui_metadata", pick(func(i int) bool { return i%2 == 1 && i%3 == 0 })},
				{"has_key=pvt_created&filter_color=red", pick(func(i int) bool { return i%2 == 0 })},
				{fmt.Sprintf("created_from=%d", created[ids[4]]), pick(func(i int) bool { return i >= 4 })},
				{fmt.Sprintf("created_to=%d", created[ids[2]]), pick(func(i int) bool { return i <= 2 })},
				{fmt.Sprintf("created_from=%d&created_to=%d", created[ids[1]], created[ids[3]]), pick(func(i int) bool { return i >= 1 && i <= 3 })},
			}
			for _, c := range cases {
				if got := count(c.q); !slices.Equal(got, c.want) {
					t.Errorf("%s: got %v, want %v", c.q, got, c.want)
				}
			}
			for _, bad := range []struct{ q, field, rule string }{
				{"page_size=0", "page_size", "minimum"},
				{"page_size=abc", "page_size", "minimum"},
				{"start_key=***", "start_key", "format"},
				{"created_from=yesterday", "created_from", "type"},
				{"created_to=-5", "created_to", "type"},
				{"filter_=x", "filter_", "minLength"},
				{"filter_not_=x", "filter_not_", "minLength"},
				{"has_key=", "has_key", "minLength"},
			} {
				wantRule(t, e.call(t, http.MethodGet, base+"?"+bad.q, tok, nil), bad.field, bad.rule)
			}
		})
	}
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case float64:
		return int64(x)
	case interface{ Int64() (int64, error) }:
		n, _ := x.Int64()
		return n
	}
	return 0
}

// TestCallflowReferences checks that a flow may only name documents of its
// own account.
func TestCallflowReferences(t *testing.T) {
	e := newEnv(t)
	a := e.newAccount(t, e.masterTok, e.master, "A")
	b := e.newAccount(t, e.masterTok, e.master, "B")
	ta := e.accountToken(t, a)
	devA := e.call(t, http.MethodPut, "/v2/accounts/"+a+"/devices", ta, map[string]any{"name": "a phone"})
	want(t, devA, http.StatusCreated)
	devB := e.call(t, http.MethodPut, "/v2/accounts/"+b+"/devices", e.masterTok, map[string]any{"name": "b phone"})
	want(t, devB, http.StatusCreated)
	flow := func(module, id string) map[string]any {
		return map[string]any{"numbers": []any{"200"}, "flow": map[string]any{"module": module, "data": map[string]any{"id": id}}}
	}
	base := "/v2/accounts/" + a + "/callflows"
	// Another tenant's device, a device that does not exist, a user ID used as a device.
	r := e.call(t, http.MethodPut, base, ta, flow("device", devB.id()))
	wantRule(t, r, "flow.data.id", "not_found")
	wantRule(t, e.call(t, http.MethodPut, base, ta, flow("device", store.NewID())), "flow.data.id", "not_found")
	wantRule(t, e.call(t, http.MethodPut, base, ta, flow("user", devA.id())), "flow.data.id", "not_found")
	// Nested in a child branch too.
	nested := map[string]any{"numbers": []any{"201"}, "flow": map[string]any{"module": "device", "data": map[string]any{"id": devA.id()},
		"children": map[string]any{"_": map[string]any{"module": "device", "data": map[string]any{"id": devB.id()}}}}}
	wantRule(t, e.call(t, http.MethodPut, base, ta, nested), "flow.children._.data.id", "not_found")
	// Unknown module, bad module data.
	wantRule(t, e.call(t, http.MethodPut, base, ta, flow("teleport", devA.id())), "flow.module", "enum")
	wantRule(t, e.call(t, http.MethodPut, base, ta, map[string]any{"numbers": []any{"202"},
		"flow": map[string]any{"module": "device", "data": map[string]any{"id": devA.id(), "timeout": "x"}}}), "flow.data.timeout", "type")
	// No number nor pattern.
	wantRule(t, e.call(t, http.MethodPut, base, ta, map[string]any{"flow": map[string]any{"module": "hangup", "data": map[string]any{}}}), "numbers", "required")
	// A pattern the dialplan could never match (PCRE look-ahead) is refused on save.
	wantRule(t, e.call(t, http.MethodPut, base, ta, map[string]any{"patterns": []any{"^2\\d+$", "^(?=9)\\d+$"},
		"flow": map[string]any{"module": "hangup", "data": map[string]any{}}}), "patterns.1", "format")
	if ids := e.listIDs(t, ta, base); len(ids) != 0 {
		t.Fatalf("refused callflows were stored: %v", ids)
	}
	// The own device is fine; so is pointing a group and a set at own documents only.
	ok := e.call(t, http.MethodPut, base, ta, flow("device", devA.id()))
	want(t, ok, http.StatusCreated)
	// Updating it to point across tenants is refused and changes nothing.
	wantRule(t, e.call(t, http.MethodPost, base+"/"+ok.id(), ta, flow("device", devB.id())), "flow.data.id", "not_found")
	if got := e.call(t, http.MethodGet, base+"/"+ok.id(), ta, nil); !sameJSON(got.data(), ok.data()) {
		t.Fatalf("refused update changed the callflow: %s", got)
	}
	// Groups, rule sets and owned documents are checked the same way.
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+a+"/groups", ta, map[string]any{"name": "g",
		"endpoints": map[string]any{devB.id(): map[string]any{"type": "device"}}}), "endpoints."+devB.id(), "not_found")
	want(t, e.call(t, http.MethodPut, "/v2/accounts/"+a+"/groups", ta, map[string]any{"name": "g",
		"endpoints": map[string]any{devA.id(): map[string]any{"type": "device"}}}), http.StatusCreated)
	ruleB := e.call(t, http.MethodPut, "/v2/accounts/"+b+"/temporal_rules", e.masterTok, map[string]any{"name": "r", "cycle": "daily"})
	want(t, ruleB, http.StatusCreated)
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+a+"/temporal_rules_sets", ta, map[string]any{"name": "s",
		"temporal_rules": []any{ruleB.id()}}), "temporal_rules.0", "not_found")
	userB := e.call(t, http.MethodPut, "/v2/accounts/"+b+"/users", e.masterTok, map[string]any{"first_name": "b", "last_name": "b"})
	want(t, userB, http.StatusCreated)
	for _, res := range []string{"devices", "vmboxes", "conferences"} {
		body := map[string]any{"name": "owned", "owner_id": userB.id()}
		if res == "vmboxes" {
			body["mailbox"] = "999"
		}
		wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+a+"/"+res, ta, body), "owner_id", "not_found")
	}
	mediaB := e.call(t, http.MethodPut, "/v2/accounts/"+b+"/media", e.masterTok, map[string]any{"name": "m"})
	want(t, mediaB, http.StatusCreated)
	wantRule(t, e.call(t, http.MethodPut, "/v2/accounts/"+a+"/menus", ta, map[string]any{"name": "m",
		"media": map[string]any{"greeting": mediaB.id()}}), "media.greeting", "not_found")
	// Same number in two accounts is fine: numbers are unique per account.
	want(t, e.call(t, http.MethodPut, "/v2/accounts/"+b+"/callflows", e.masterTok, map[string]any{"numbers": []any{"200"},
		"flow": map[string]any{"module": "device", "data": map[string]any{"id": devB.id()}}}), http.StatusCreated)
}
