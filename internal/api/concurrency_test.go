package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// parallelN is how many clients race in each concurrency test.
const parallelN = 16

// race sends n requests at once (released together) and returns the answers.
func (e *env) race(t *testing.T, n int, req func(i int) (method, path string, data any, hdr []string)) []*resp {
	t.Helper()
	out := make([]*resp, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		method, path, data, hdr := req(i)
		body, err := json.Marshal(map[string]any{"data": data})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			out[i], errs[i] = e.do(method, path, e.masterTok, body, hdr...)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// codes counts answers by status.
func codes(rs []*resp) map[int]int {
	c := map[int]int{}
	for _, r := range rs {
		c[r.Code]++
	}
	return c
}

func TestConcurrentUpdates(t *testing.T) {
	e := newEnv(t)
	a := e.newAccount(t, e.masterTok, e.master, "A")
	base := "/v2/accounts/" + a + "/devices"
	d := e.call(t, http.MethodPut, base, e.masterTok, map[string]any{"name": "contended", "sip": map[string]any{"username": "contended"}})
	want(t, d, http.StatusCreated)
	item := base + "/" + d.id()

	t.Run("same If-Match", func(t *testing.T) {
		for _, verb := range []string{http.MethodPost, http.MethodPatch} {
			cur := e.call(t, http.MethodGet, item, e.masterTok, nil)
			rs := e.race(t, parallelN, func(i int) (string, string, any, []string) {
				body := merge(without(cur.data(), "id"), map[string]any{"name": fmt.Sprintf("writer %d", i)})
				return verb, item, body, []string{"If-Match", cur.Header.Get("ETag")}
			})
			c := codes(rs)
			if c[http.StatusOK] != 1 || c[http.StatusConflict] != parallelN-1 {
				t.Fatalf("%s: want one 200 and %d 409, got %v", verb, parallelN-1, c)
			}
			var winner *resp
			for _, r := range rs {
				if r.Code == http.StatusOK {
					winner = r
				} else {
					wantErr(t, r, http.StatusConflict, "conflicting documents")
				}
			}
			got := e.call(t, http.MethodGet, item, e.masterTok, nil)
			if got.data()["name"] != winner.data()["name"] || got.rev() != winner.rev() {
				t.Fatalf("the stored document is not the winner's: %s vs %s", got, winner)
			}
		}
	})

	t.Run("patches of different fields", func(t *testing.T) {
		rs := e.race(t, parallelN, func(i int) (string, string, any, []string) {
			return http.MethodPatch, item, map[string]any{fmt.Sprintf("field_%d", i): i,
				"nested": map[string]any{fmt.Sprintf("k%d", i): true}}, nil
		})
		if c := codes(rs); c[http.StatusOK] != parallelN {
			t.Fatalf("want %d 200, got %v", parallelN, c)
		}
		got := e.call(t, http.MethodGet, item, e.masterTok, nil).data()
		nested, _ := got["nested"].(map[string]any)
		for i := range parallelN {
			if got[fmt.Sprintf("field_%d", i)] != float64(i) || nested[fmt.Sprintf("k%d", i)] != true {
				t.Fatalf("patch %d was lost: %v", i, got)
			}
		}
	})
}

func TestConcurrentCreatesAreUnique(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, path, field string
		body              func(i int) map[string]any
	}{
		{"device sip.username", "devices", "sip.username", func(i int) map[string]any {
			return map[string]any{"name": fmt.Sprint("phone ", i), "sip": map[string]any{"username": "shared", "password": "secret123"}}
		}},
		{"callflow number", "callflows", "numbers", func(i int) map[string]any {
			return map[string]any{"numbers": []any{fmt.Sprint(900 + i), "777"}, "flow": map[string]any{"module": "hangup", "data": map[string]any{}}}
		}},
		{"callflow pattern", "callflows", "patterns", func(i int) map[string]any {
			return map[string]any{"patterns": []any{"^\\+1(\\d{10})$"}, "flow": map[string]any{"module": "hangup", "data": map[string]any{}}}
		}},
		{"vmbox mailbox", "vmboxes", "mailbox", func(i int) map[string]any {
			return map[string]any{"name": fmt.Sprint("box ", i), "mailbox": "3000"}
		}},
		{"user username", "users", "username", func(i int) map[string]any {
			return map[string]any{"first_name": "F", "last_name": fmt.Sprint(i), "username": "same"}
		}},
		{"account realm", "", "realm", func(i int) map[string]any {
			return map[string]any{"name": fmt.Sprint("child ", i), "realm": "contested.example.com"}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := e.newAccount(t, e.masterTok, e.master, "race "+c.name)
			path := "/v2/accounts/" + a
			if c.path != "" {
				path += "/" + c.path
			}
			rs := e.race(t, parallelN, func(i int) (string, string, any, []string) {
				return http.MethodPut, path, c.body(i), nil
			})
			got := codes(rs)
			if got[http.StatusCreated] < 1 || got[http.StatusCreated]+got[http.StatusBadRequest] != parallelN {
				t.Fatalf("want 201 or 400 only, at least one 201, got %v", got)
			}
			for _, r := range rs {
				if r.Code == http.StatusBadRequest {
					wantRule(t, r, c.field, "unique")
				}
			}
			if got[http.StatusCreated] != 1 {
				t.Fatalf("want one 201 and %d 400, got %v", parallelN-1, got)
			}
			// The losers left no partial state: exactly one document holds the value.
			list := path + "?page_size=1000"
			if c.path == "" {
				list = path + "/children"
			}
			r := e.call(t, http.MethodGet, list, e.masterTok, nil)
			want(t, r, http.StatusOK)
			if n := len(r.list()); n != 1 {
				t.Fatalf("%d documents after the race, want 1: %s", n, r)
			}
			// Numbers the losers claimed alongside the contested one are free again.
			if c.field == "numbers" {
				for i := range parallelN {
					if rs[i].Code != http.StatusCreated {
						want(t, e.call(t, http.MethodPut, path, e.masterTok, map[string]any{"numbers": []any{fmt.Sprint(900 + i)},
							"flow": map[string]any{"module": "hangup", "data": map[string]any{}}}), http.StatusCreated)
					}
				}
			}
		})
	}
}
