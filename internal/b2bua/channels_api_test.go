package b2bua

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/callflow"
)

// apiGet reads path of the env's account with token ("" is the admin's)
// and returns the status and the decoded data.
func (en *env) apiGet(path, token string) (int, json.RawMessage) {
	en.t.Helper()
	c := en.api()
	if token == "" {
		token = c.token
	}
	req := httptest.NewRequest(http.MethodGet, "/v2/accounts/"+en.acct+path, nil)
	req.Header.Set("X-Auth-Token", token)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &env)
	return rec.Code, env.Data
}

// userToken is a priv_level user token of one of the env's users.
func (en *env) userToken(login string) string {
	en.t.Helper()
	tok, err := en.api().signer.Issue(auth.Claims{AccountID: en.acct, OwnerID: en.users[login], Method: "cb_user_auth", PrivLevel: "user"})
	if err != nil {
		en.t.Fatal(err)
	}
	return tok
}

// TestChannelsOfUserDeviceAndUUID: Kazoo's /users/{U}/channels,
// /devices/{D}/channels and /channels/{UUID} during a call, each showing
// only its own legs, readable by the owner and refused to another user.
func TestChannelsOfUserDeviceAndUUID(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	en.setRouter(en.bridgeTo(callflow.BridgeRequest{Endpoints: en.endpoints("101")}))
	alice, bob := en.registeredPair()
	d, bd := answerCall(en, alice, bob)

	list := func(path, token string, want int) []map[string]any {
		t.Helper()
		code, data := en.apiGet(path, token)
		if code != want {
			t.Fatalf("GET %s: %d, want %d (%s)", path, code, want, data)
		}
		var out []map[string]any
		if code == http.StatusOK {
			if err := json.Unmarshal(data, &out); err != nil {
				t.Fatalf("GET %s: %v", path, err)
			}
		}
		return out
	}
	legs := list("/users/"+en.users["bob"]+"/channels", "", http.StatusOK)
	if len(legs) != 1 || legs[0]["owner_id"] != en.users["bob"] || legs[0]["direction"] != "outbound" {
		t.Fatalf("bob's channels: %v", legs)
	}
	legs = list("/devices/"+en.devs["100"]+"/channels", "", http.StatusOK)
	if len(legs) != 1 || legs[0]["authorizing_id"] != en.devs["100"] || legs[0]["call_id"] != d.callID {
		t.Fatalf("alice's device channels: %v", legs)
	}
	if legs := list("/devices/"+en.devs["102"]+"/channels", "", http.StatusOK); len(legs) != 0 {
		t.Fatalf("carol is not in the call: %v", legs)
	}
	// The owner reads their own; another user is refused.
	if legs := list("/users/"+en.users["alice"]+"/channels", en.userToken("alice"), http.StatusOK); len(legs) != 1 {
		t.Fatalf("alice's own channels: %v", legs)
	}
	list("/devices/"+en.devs["100"]+"/channels", en.userToken("alice"), http.StatusOK)
	list("/users/"+en.users["alice"]+"/channels", en.userToken("carol"), http.StatusForbidden)
	list("/devices/"+en.devs["100"]+"/channels", en.userToken("carol"), http.StatusForbidden)
	list("/channels", en.userToken("alice"), http.StatusForbidden)
	// Unknown ids are 404.
	list("/users/"+en.devs["100"]+"/channels", "", http.StatusNotFound)
	list("/devices/ffffffffffffffffffffffffffffffff/channels", "", http.StatusNotFound)

	uuid, _ := legs[0]["uuid"].(string)
	code, data := en.apiGet("/channels/"+uuid, "")
	var one map[string]any
	if code != http.StatusOK || json.Unmarshal(data, &one) != nil || one["uuid"] != uuid || one["call_id"] != d.callID {
		t.Fatalf("GET /channels/%s: %d %s", uuid, code, data)
	}
	if code, _ := en.apiGet("/channels/no-such-call", ""); code != http.StatusNotFound {
		t.Fatalf("unknown channel: %d", code)
	}

	bob.hangUp(bd, alice)
	en.noLiveCalls()
	waitFor(t, "bob's channels to empty", func() bool {
		return len(list("/users/"+en.users["bob"]+"/channels", "", http.StatusOK)) == 0
	})
	if code, _ := en.apiGet("/channels/"+uuid, ""); code != http.StatusNotFound {
		t.Fatalf("ended channel: %d", code)
	}
}
