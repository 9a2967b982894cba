package api_test

import (
	"encoding/base64"
	"net/http"
	"testing"
)

// loginAccount makes an account with an admin user ann/s3cret!, a plain
// user bob/b0b, and a callflow routing did and extension 100.
func loginAccount(t *testing.T, e *env, name, did string) (acct, ann, bob string) {
	t.Helper()
	acct = e.newAccount(t, e.masterTok, e.master, name)
	base := "/v2/accounts/" + acct
	u := e.call(t, http.MethodPut, base+"/users", e.masterTok, map[string]any{"first_name": "Ann", "last_name": "A",
		"username": "ann", "password": "s3cret!", "priv_level": "admin"})
	want(t, u, http.StatusCreated)
	b := e.call(t, http.MethodPut, base+"/users", e.masterTok, map[string]any{"first_name": "Bob", "last_name": "B",
		"username": "bob", "password": "b0b", "priv_level": "user"})
	want(t, b, http.StatusCreated)
	want(t, e.call(t, http.MethodPut, base+"/callflows", e.masterTok, map[string]any{
		"numbers": []any{did, "100"}, "flow": map[string]any{"module": "hangup", "data": map[string]any{}}}), http.StatusCreated)
	return acct, u.id(), b.id()
}

// user_auth finds the account by a phone number one of its callflows
// routes, written as people write numbers.
func TestUserAuthByPhoneNumber(t *testing.T) {
	e := newEnv(t)
	acct, ann, _ := loginAccount(t, e, "Phone Co", "+14155550100")
	loginAccount(t, e, "Other Co", "+14155550111") // same credentials and extension
	other := e.newAccount(t, e.masterTok, e.master, "Third Co")
	want(t, e.call(t, http.MethodPut, "/v2/accounts/"+other+"/callflows", e.masterTok, map[string]any{
		"numbers": []any{"+442071838750"}, "flow": map[string]any{"module": "hangup", "data": map[string]any{}}}), http.StatusCreated)

	for _, n := range []string{"+14155550100", "14155550100", "+1 (415) 555-0100", "+1.415.555.0100"} {
		r := e.userAuth(t, map[string]any{"credentials": md5hex("ann:s3cret!"), "phone_number": n})
		want(t, r, http.StatusCreated)
		if r.data()["account_id"] != acct || r.data()["owner_id"] != ann {
			t.Fatalf("phone %q logged into %v/%v, want %s/%s", n, r.data()["account_id"], r.data()["owner_id"], acct, ann)
		}
	}
	want(t, e.userAuth(t, map[string]any{"credentials": sha1hex("ann:s3cret!"), "method": "sha", "phone_number": "+14155550100"}), http.StatusCreated)
	for name, d := range map[string]map[string]any{
		"wrong password":          {"credentials": md5hex("ann:nope"), "phone_number": "+14155550100"},
		"unrouted number":         {"credentials": md5hex("ann:s3cret!"), "phone_number": "+14155550199"},
		"another account's":       {"credentials": md5hex("ann:s3cret!"), "phone_number": "+442071838750"},
		"an extension, not a DID": {"credentials": md5hex("ann:s3cret!"), "phone_number": "100"},
		"not a number":            {"credentials": md5hex("ann:s3cret!"), "phone_number": "call me"},
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, e.userAuth(t, d), http.StatusUnauthorized, "invalid credentials")
		})
	}
	wantRule(t, e.userAuth(t, map[string]any{"credentials": md5hex("x"), "phone_number": ""}), "phone_number", "minLength")

	// Deleting the callflow ends logins by its number.
	list := e.call(t, http.MethodGet, "/v2/accounts/"+acct+"/callflows", e.masterTok, nil)
	want(t, list, http.StatusOK)
	for _, cf := range list.list() {
		want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+acct+"/callflows/"+str(cf.(map[string]any)["id"]), e.masterTok, nil), http.StatusOK)
	}
	wantErr(t, e.userAuth(t, map[string]any{"credentials": md5hex("ann:s3cret!"), "phone_number": "+14155550100"}),
		http.StatusUnauthorized, "invalid credentials")
}

func basic(acct, digest string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(acct+":"+digest))
}

// Kazoo's HTTP Basic authentication: account ID and the md5 (or sha1) of
// username:password, with the user's privileges and the account tree's
// reach, checked again on every request.
func TestBasicAuth(t *testing.T) {
	e := newEnv(t)
	acct, ann, bob := loginAccount(t, e, "Basic Co", "+14155550100")
	child := e.newAccount(t, e.accountToken(t, acct), acct, "Basic Child")
	sibling, _, _ := loginAccount(t, e, "Sibling Co", "+14155550111")
	get := func(path, authz string) *resp {
		t.Helper()
		return e.raw(t, http.MethodGet, path, "", nil, "Authorization", authz)
	}
	annMD5 := basic(acct, md5hex("ann:s3cret!"))
	r := get("/v2/accounts/"+acct+"/users", annMD5)
	want(t, r, http.StatusOK)
	if r.Env["version"] == nil || r.Env["auth_token"] != "" {
		t.Fatalf("authenticated envelope: %s", r)
	}
	want(t, get("/v2/accounts/"+acct+"/users", annMD5), http.StatusOK) // cached
	want(t, get("/v2/accounts/"+acct+"/users", basic(acct, sha1hex("ann:s3cret!"))), http.StatusOK)
	want(t, get("/v2/accounts/"+acct+"/users", "basic "+base64.StdEncoding.EncodeToString([]byte(acct+":"+md5hex("ann:s3cret!")))), http.StatusOK)
	// An admin reaches descendants, never siblings; a plain user only itself.
	want(t, get("/v2/accounts/"+child, annMD5), http.StatusOK)
	wantErr(t, get("/v2/accounts/"+sibling+"/users", annMD5), http.StatusForbidden, "forbidden")
	bobAuth := basic(acct, md5hex("bob:b0b"))
	want(t, get("/v2/accounts/"+acct+"/users/"+bob, bobAuth), http.StatusOK)
	wantErr(t, get("/v2/accounts/"+acct+"/users/"+ann, bobAuth), http.StatusForbidden, "forbidden")
	// Writes work too, as the user.
	w := e.raw(t, http.MethodPut, "/v2/accounts/"+acct+"/devices", "", []byte(`{"data":{"name":"basic phone"}}`), "Authorization", annMD5)
	want(t, w, http.StatusCreated)

	for name, h := range map[string]string{
		"wrong password":         basic(acct, md5hex("ann:wrong")),
		"credentials of another": basic(sibling, md5hex("bob:nope")),
		"right user, other acct": basic(child, md5hex("ann:s3cret!")),
		"not an account id":      basic("basic-co", md5hex("ann:s3cret!")),
		"digest not hex":         basic(acct, "zz"+md5hex("ann:s3cret!")[2:]),
		"digest wrong length":    basic(acct, md5hex("ann:s3cret!")[:30]),
		"no colon":               "Basic " + base64.StdEncoding.EncodeToString([]byte(acct)),
		"not base64":             "Basic %%%",
		"other scheme":           "Digest username=ann",
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, get("/v2/accounts/"+acct+"/users", h), http.StatusUnauthorized, "invalid credentials")
		})
	}

	// A password change, a disabled user, a deleted account: each ends the
	// cached credential at once.
	want(t, e.call(t, http.MethodPatch, "/v2/accounts/"+acct+"/users/"+ann, e.masterTok, map[string]any{"password": "n3w"}), http.StatusOK)
	wantErr(t, get("/v2/accounts/"+acct+"/users", annMD5), http.StatusUnauthorized, "invalid credentials")
	annNew := basic(acct, md5hex("ann:n3w"))
	want(t, get("/v2/accounts/"+acct+"/users", annNew), http.StatusOK)
	want(t, e.call(t, http.MethodPatch, "/v2/accounts/"+acct+"/users/"+ann, e.masterTok, map[string]any{"enabled": false}), http.StatusOK)
	wantErr(t, get("/v2/accounts/"+acct+"/users", annNew), http.StatusUnauthorized, "invalid credentials")
	want(t, e.call(t, http.MethodPatch, "/v2/accounts/"+acct+"/users/"+ann, e.masterTok, map[string]any{"enabled": true}), http.StatusOK)
	want(t, get("/v2/accounts/"+acct+"/users", annNew), http.StatusOK)
	want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+child, e.masterTok, nil), http.StatusOK)
	want(t, e.call(t, http.MethodDelete, "/v2/accounts/"+acct, e.masterTok, nil), http.StatusOK)
	wantErr(t, get("/v2/accounts/"+acct+"/users", annNew), http.StatusUnauthorized, "invalid credentials")
}
