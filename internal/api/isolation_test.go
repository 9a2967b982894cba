package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

// principalSpec is one token of the matrix.
type principalSpec struct {
	name   string
	tok    string
	acct   string
	admin  bool
	master bool
	owner  string // the user, for user tokens
}

// tree is the account tree of the matrix: master → R → {A → A1, B}.
type tree struct {
	ids      map[string]string   // name → ID
	ancestry map[string][]string // ID → ancestor IDs, root first
	children map[string]bool     // ID → has children
}

func (tr tree) reach(p principalSpec, target string) bool {
	if p.master || target == p.acct {
		return true
	}
	return p.admin && slices.Contains(tr.ancestry[target], p.acct)
}

// userScope mirrors what a plain user may do per collection.
var userScope = map[string]string{"users": "self", "devices": "owned", "vmboxes": "owned"}

// TestTenantIsolation runs every verb of every resource with every token
// against every account of the tree, checks the exact status, and checks
// that a refused request wrote nothing.
func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	m := e.masterTok
	tr := tree{ids: map[string]string{"M": e.master}, ancestry: map[string][]string{e.master: nil}, children: map[string]bool{}}
	tr.ids["R"] = e.newAccount(t, m, e.master, "R")
	rTok := e.accountToken(t, tr.ids["R"])
	tr.ids["A"] = e.newAccount(t, rTok, tr.ids["R"], "Isolation A")
	tr.ids["B"] = e.newAccount(t, rTok, tr.ids["R"], "B")
	aKey := e.accountToken(t, tr.ids["A"])
	tr.ids["A1"] = e.newAccount(t, aKey, tr.ids["A"], "A1")
	M, R, A, B, A1 := tr.ids["M"], tr.ids["R"], tr.ids["A"], tr.ids["B"], tr.ids["A1"]
	tr.ancestry[R] = []string{M}
	tr.ancestry[A] = []string{M, R}
	tr.ancestry[B] = []string{M, R}
	tr.ancestry[A1] = []string{M, R, A}
	tr.children[M], tr.children[R], tr.children[A] = true, true, true
	accounts := []string{"M", "R", "A", "B", "A1"}

	// A's users: an admin and a plain user who owns a device and a vmbox.
	usersA := "/v2/accounts/" + A + "/users"
	adm := e.call(t, http.MethodPut, usersA, aKey, map[string]any{"first_name": "Ada", "last_name": "Admin",
		"username": "ada", "password": "adapass", "priv_level": "admin"})
	want(t, adm, http.StatusCreated)
	plain := e.call(t, http.MethodPut, usersA, aKey, map[string]any{"first_name": "Pat", "last_name": "Plain",
		"username": "pat", "password": "patpass"})
	want(t, plain, http.StatusCreated)
	if plain.data()["priv_level"] != "user" {
		t.Fatalf("default priv_level: %s", plain)
	}
	login := func(user, pass string) string {
		r := e.userAuth(t, map[string]any{"credentials": md5hex(user + ":" + pass), "account_name": "Isolation A"})
		want(t, r, http.StatusCreated)
		return str(r.Env["auth_token"])
	}
	principals := []principalSpec{
		{name: "master", tok: m, acct: M, admin: true, master: true},
		{name: "R key", tok: rTok, acct: R, admin: true},
		{name: "A key", tok: aKey, acct: A, admin: true},
		{name: "A admin", tok: login("ada", "adapass"), acct: A, admin: true, owner: adm.id()},
		{name: "A user", tok: login("pat", "patpass"), acct: A, owner: plain.id()},
		{name: "B key", tok: e.accountToken(t, B), acct: B, admin: true},
	}

	// One document of every collection in every account (owned by A's admin in A).
	fixtures := map[string]map[string]string{} // account → path → ID
	for _, name := range accounts {
		acct := tr.ids[name]
		fixtures[acct] = map[string]string{}
		for _, sp := range specs() {
			b := sp.body(e.n())
			if acct == A && userScope[sp.path] == "owned" {
				b["owner_id"] = adm.id()
			}
			r := e.call(t, http.MethodPut, "/v2/accounts/"+acct+"/"+sp.path, m, b)
			want(t, r, http.StatusCreated)
			fixtures[acct][sp.path] = r.id()
		}
	}
	// The plain user's own things.
	ownDevice := e.call(t, http.MethodPut, "/v2/accounts/"+A+"/devices", aKey, map[string]any{"name": "pat's phone",
		"owner_id": plain.id(), "sip": map[string]any{"username": "patphone", "password": "secret123"}})
	want(t, ownDevice, http.StatusCreated)
	ownBox := e.call(t, http.MethodPut, "/v2/accounts/"+A+"/vmboxes", aKey, map[string]any{"name": "pat's box",
		"mailbox": "4242", "owner_id": plain.id()})
	want(t, ownBox, http.StatusCreated)

	// refused runs a request that must be refused and checks nothing was written.
	refused := func(t *testing.T, code int, msg string, f func() *resp) {
		t.Helper()
		before := e.writeSeqs(t)
		r := f()
		wantErr(t, r, code, msg)
		if after := e.writeSeqs(t); after != before {
			t.Fatalf("a refused request wrote something: %v → %v", before, after)
		}
	}
	expect := func(t *testing.T, code int, f func() *resp) *resp {
		t.Helper()
		if code == http.StatusForbidden {
			refused(t, code, "forbidden", f)
			return nil
		}
		r := f()
		want(t, r, code)
		return r
	}
	ok := func(allowed bool, code int) int {
		if allowed {
			return code
		}
		return http.StatusForbidden
	}

	for _, p := range principals {
		for _, tname := range accounts {
			target := tr.ids[tname]
			reach := tr.reach(p, target)
			t.Run(p.name+"→"+tname, func(t *testing.T) {
				acctPath := "/v2/accounts/" + target
				for _, sp := range specs() {
					base := acctPath + "/" + sp.path
					fix := fixtures[target][sp.path]
					admin := reach && p.admin
					scope := ""
					if reach && !p.admin {
						scope = userScope[sp.path]
					}
					t.Run(sp.path, func(t *testing.T) {
						// Listing: admins see all; plain users with a scope see only theirs.
						r := expect(t, ok(admin || scope != "", http.StatusOK), func() *resp { return e.call(t, http.MethodGet, base, p.tok, nil) })
						if r != nil {
							got := ids(r.list())
							switch {
							case admin && !slices.Contains(got, fix):
								t.Fatalf("admin listing misses the fixture: %v", got)
							case scope == "self" && !slices.Equal(got, []string{p.owner}):
								t.Fatalf("plain user lists users %v", got)
							case scope == "owned":
								own := ownDevice.id()
								if sp.path == "vmboxes" {
									own = ownBox.id()
								}
								if !slices.Equal(got, []string{own}) {
									t.Fatalf("plain user lists %s %v", sp.path, got)
								}
							}
						}
						// Item verbs on the fixture (never the plain user's own).
						before := e.stored(t, target, sp.docType, fix)
						expect(t, ok(admin, http.StatusOK), func() *resp { return e.call(t, http.MethodGet, base+"/"+fix, p.tok, nil) })
						post := without(publicOf(before), "id")
						post["touched_by"] = p.name
						expect(t, ok(admin, http.StatusOK), func() *resp { return e.call(t, http.MethodPost, base+"/"+fix, p.tok, post) })
						expect(t, ok(admin, http.StatusOK), func() *resp {
							return e.call(t, http.MethodPatch, base+"/"+fix, p.tok, map[string]any{"patched_by": p.name})
						})
						after := e.stored(t, target, sp.docType, fix)
						if !admin && (after.Rev != before.Rev || !sameJSON(after.Body, before.Body)) {
							t.Fatalf("refused writes changed the document")
						}
						if admin && (after.Body["touched_by"] != p.name || after.Body["patched_by"] != p.name) {
							t.Fatalf("allowed writes did not apply: %v", after.Body)
						}
						expect(t, ok(admin, http.StatusCreated), func() *resp { return e.call(t, http.MethodPut, base, p.tok, sp.body(e.n())) })
						if sp.putID {
							expect(t, ok(admin, http.StatusCreated), func() *resp {
								return e.call(t, http.MethodPut, base+"/"+store.NewID(), p.tok, sp.body(e.n()))
							})
						}
						if admin {
							victim := e.call(t, http.MethodPut, base, m, sp.body(e.n()))
							want(t, victim, http.StatusCreated)
							want(t, e.call(t, http.MethodDelete, base+"/"+victim.id(), p.tok, nil), http.StatusOK)
							wantErr(t, e.call(t, http.MethodGet, base+"/"+victim.id(), m, nil), http.StatusNotFound, "bad identifier")
						} else {
							refused(t, http.StatusForbidden, "forbidden", func() *resp { return e.call(t, http.MethodDelete, base+"/"+fix, p.tok, nil) })
							e.stored(t, target, sp.docType, fix)
						}
						if sp.path == "media" {
							raw := base + "/" + fix + "/raw"
							expect(t, ok(admin, http.StatusOK), func() *resp {
								return e.raw(t, http.MethodPost, raw, p.tok, []byte("RIFFdata"), "Content-Type", "audio/wav")
							})
							expect(t, ok(admin, http.StatusOK), func() *resp { return e.raw(t, http.MethodGet, raw, p.tok, nil) })
						}
					})
				}

				// The account itself and its sub-resources.
				admin := reach && p.admin
				expect(t, ok(reach, http.StatusOK), func() *resp { return e.call(t, http.MethodGet, acctPath, p.tok, nil) })
				cur := e.stored(t, target, store.TypeAccount, target)
				expect(t, ok(admin, http.StatusOK), func() *resp {
					return e.call(t, http.MethodPatch, acctPath, p.tok, map[string]any{"patched_by": p.name})
				})
				expect(t, ok(admin, http.StatusOK), func() *resp {
					return e.call(t, http.MethodPost, acctPath, p.tok, merge(without(publicOf(cur), "id"), map[string]any{"posted_by": p.name}))
				})
				if !admin && e.stored(t, target, store.TypeAccount, target).Rev != cur.Rev {
					t.Fatal("refused account writes changed the account")
				}
				for _, sub := range []string{"children", "descendants", "api_key", "limits", "registrations", "registrations/count",
					"channels", "cdrs", "devices/status"} {
					expect(t, ok(admin, http.StatusOK), func() *resp { return e.call(t, http.MethodGet, acctPath+"/"+sub, p.tok, nil) })
				}
				expect(t, ok(admin, http.StatusOK), func() *resp { return e.call(t, http.MethodDelete, acctPath+"/registrations", p.tok, nil) })
				expect(t, ok(admin, http.StatusOK), func() *resp {
					return e.call(t, http.MethodDelete, acctPath+"/registrations/someone", p.tok, nil)
				})
				for _, sub := range []string{"parents", "tree"} {
					r := expect(t, ok(reach, http.StatusOK), func() *resp { return e.call(t, http.MethodGet, acctPath+"/"+sub, p.tok, nil) })
					if r != nil {
						for _, id := range ids(r.list()) {
							if id != p.acct && !tr.reach(p, id) {
								t.Fatalf("%s shows an account above the token's: %s", sub, id)
							}
						}
					}
				}
				sibOK := reach
				if anc := tr.ancestry[target]; reach && len(anc) > 0 {
					sibOK = tr.reach(p, anc[len(anc)-1])
				}
				expect(t, ok(sibOK, http.StatusOK), func() *resp { return e.call(t, http.MethodGet, acctPath+"/siblings", p.tok, nil) })
				limitsOK := admin && (p.master || slices.Contains(tr.ancestry[target], p.acct))
				expect(t, ok(limitsOK, http.StatusOK), func() *resp {
					return e.call(t, http.MethodPost, acctPath+"/limits", p.tok, map[string]any{"calls": 10})
				})
				expect(t, ok(admin, http.StatusCreated), func() *resp { return e.call(t, http.MethodPut, acctPath+"/api_key", p.tok, nil) })
				child := expect(t, ok(admin, http.StatusCreated), func() *resp {
					return e.call(t, http.MethodPut, acctPath, p.tok, map[string]any{"name": "child of " + tname})
				})
				if child != nil {
					// The new child is the token's to delete, and leaves the tree as it was.
					want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+child.id(), p.tok, nil), http.StatusOK)
				}
				switch {
				case !admin || target == M || target == p.acct:
					refused(t, http.StatusForbidden, "forbidden", func() *resp { return e.call(t, http.MethodDelete, acctPath, p.tok, nil) })
				case tr.children[target]:
					refused(t, http.StatusBadRequest, "account has descendants", func() *resp { return e.call(t, http.MethodDelete, acctPath, p.tok, nil) })
				}
			})
		}
	}

	// What a plain user may do with its own things.
	t.Run("plain user", func(t *testing.T) {
		pu := principals[4]
		base := "/v2/accounts/" + A
		me := base + "/users/" + pu.owner
		want(t, e.call(t, http.MethodGet, me, pu.tok, nil), http.StatusOK)
		// It cannot raise its own privileges, by PATCH or POST.
		r := e.call(t, http.MethodPatch, me, pu.tok, map[string]any{"priv_level": "admin", "timezone": "Europe/Berlin"})
		want(t, r, http.StatusOK)
		if r.data()["priv_level"] != "user" || r.data()["timezone"] != "Europe/Berlin" {
			t.Fatalf("PATCH own user: %s", r)
		}
		r = e.call(t, http.MethodPost, me, pu.tok, map[string]any{"first_name": "Pat", "last_name": "Plain", "username": "pat", "priv_level": "admin"})
		want(t, r, http.StatusOK)
		if got := e.stored(t, A, store.TypeUser, pu.owner); got.Body["priv_level"] != "user" {
			t.Fatalf("a plain user raised its priv_level: %v", got.Body["priv_level"])
		}
		// Its login still works (the POST kept its credentials).
		want(t, e.userAuth(t, map[string]any{"credentials": md5hex("pat:patpass"), "account_realm": str(e.stored(t, A, store.TypeAccount, A).Body["realm"])}), http.StatusCreated)
		// Another user of the account is out of reach.
		refused(t, http.StatusForbidden, "forbidden", func() *resp { return e.call(t, http.MethodGet, base+"/users/"+adm.id(), pu.tok, nil) })
		refused(t, http.StatusForbidden, "forbidden", func() *resp {
			return e.call(t, http.MethodPatch, base+"/users/"+adm.id(), pu.tok, map[string]any{"priv_level": "user"})
		})
		refused(t, http.StatusForbidden, "forbidden", func() *resp { return e.call(t, http.MethodDelete, me, pu.tok, nil) })
		// Its own device and vmbox: read and edit, never re-own, create or delete.
		for _, own := range []struct{ path, typ, id string }{{"devices", store.TypeDevice, ownDevice.id()}, {"vmboxes", store.TypeVMBox, ownBox.id()}} {
			item := base + "/" + own.path + "/" + own.id
			g := e.call(t, http.MethodGet, item, pu.tok, nil)
			want(t, g, http.StatusOK)
			p := e.call(t, http.MethodPatch, item, pu.tok, map[string]any{"name": "renamed by pat"})
			want(t, p, http.StatusOK)
			before := e.writeSeqs(t)
			wantRule(t, e.call(t, http.MethodPatch, item, pu.tok, map[string]any{"owner_id": adm.id()}), "owner_id", "forbidden")
			wantRule(t, e.call(t, http.MethodPatch, item, pu.tok, map[string]any{"owner_id": nil}), "owner_id", "forbidden")
			wantRule(t, e.call(t, http.MethodPost, item, pu.tok, merge(without(p.data(), "id"), map[string]any{"owner_id": adm.id()})), "owner_id", "forbidden")
			wantErr(t, e.call(t, http.MethodDelete, item, pu.tok, nil), http.StatusForbidden, "forbidden")
			wantErr(t, e.call(t, http.MethodPut, base+"/"+own.path, pu.tok, map[string]any{"name": "new", "owner_id": pu.owner, "mailbox": "4343"}),
				http.StatusForbidden, "forbidden")
			if after := e.writeSeqs(t); after != before {
				t.Fatalf("refused requests wrote: %v → %v", before, after)
			}
			if got := e.stored(t, A, own.typ, own.id); got.Body["owner_id"] != pu.owner {
				t.Fatalf("owner changed: %v", got.Body["owner_id"])
			}
		}
		// An admin may re-own the device.
		want(t, e.call(t, http.MethodPatch, base+"/devices/"+ownDevice.id(), principals[3].tok, map[string]any{"owner_id": adm.id()}), http.StatusOK)
		refused(t, http.StatusForbidden, "forbidden", func() *resp { return e.call(t, http.MethodGet, base+"/devices/"+ownDevice.id(), pu.tok, nil) })
		// A token cannot be looked at by someone else's token.
		wantErr(t, e.call(t, http.MethodGet, "/v2/user_auth/"+m, pu.tok, nil), http.StatusNotFound, "bad identifier")
	})
}

// publicOf is a stored body without private fields.
func publicOf(d *store.Doc) map[string]any {
	out := map[string]any{}
	for k, v := range d.Body {
		if !strings.HasPrefix(k, "pvt_") && !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return clone(out)
}
