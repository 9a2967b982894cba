package edge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// publishDocEvent sends what the store sends after a document write.
func (en *env) publishDocEvent(docType, id string) {
	en.t.Helper()
	data, _ := json.Marshal(store.DocEvent{Action: "updated", Account: testAcct, Type: docType, ID: id, Rev: 2})
	if err := en.srv.Conn.Publish(bus.DocEvent(testAcct, docType, id), data); err != nil {
		en.t.Fatal(err)
	}
	if err := en.srv.Conn.Flush(); err != nil {
		en.t.Fatal(err)
	}
}

// awaitCacheEmpty waits (bounded) until document events emptied the edge's
// credential cache: they arrive asynchronously.
func (en *env) awaitCacheEmpty() {
	en.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for en.e.creds.len() != 0 {
		if time.Now().After(deadline) {
			en.t.Fatalf("credential cache still holds %d entries", en.e.creds.len())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestCredentialCacheFollowsDeviceEvents(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	u := en.udpUA()
	o := regOpts{user: "alice", pass: "alicepw", contacts: []string{"<sip:alice@192.0.2.1>"}, expires: "600"}
	if r := u.doRegister(o); r.StatusCode != 200 {
		t.Fatalf("register: %d", r.StatusCode)
	}
	// The password changes in the directory: the cache still serves the
	// old one until the device's document event arrives.
	en.dir.add(testRealm, "alice", "newpw")
	if r := u.doRegister(o); r.StatusCode != 200 {
		t.Fatalf("cached credential not used: %d", r.StatusCode)
	}
	en.publishDocEvent(store.TypeDevice, "dev-alice")
	en.awaitCacheEmpty()
	o.pass = "newpw"
	if r := u.doRegister(o); r.StatusCode != 200 {
		t.Fatalf("new password after the event: %d", r.StatusCode)
	}
	o.pass = "alicepw"
	if r := u.doRegister(o); r.StatusCode != 403 {
		t.Fatalf("old password after change: %d", r.StatusCode)
	}
}

func TestCredentialCacheForgetsUnknownUsersOnAccountEvent(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	u := en.udpUA()
	o := regOpts{user: "carol", pass: "carolpw", contacts: []string{"<sip:carol@192.0.2.1>"}, expires: "600"}
	if r := u.doRegister(o); r.StatusCode != 403 {
		t.Fatalf("unknown user: %d", r.StatusCode)
	}
	en.dir.add(testRealm, "carol", "carolpw")
	// "Not found" entries go with account events (a new realm may make
	// them known) and with device events.
	en.publishDocEvent(store.TypeAccount, testAcct)
	en.awaitCacheEmpty()
	if r := u.doRegister(o); r.StatusCode != 200 {
		t.Fatalf("new user after the event: %d", r.StatusCode)
	}
}

func TestCredentialCacheExpiresAndIsBounded(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	dir := &memDir{m: map[string]store.SIPCredential{}}
	dir.add(testRealm, "alice", "pw1")
	var reconnects uint64
	c := newCredCache(dir, clk, 3, func() uint64 { return reconnects })
	ctx := context.Background()
	get := func(user string) store.SIPCredential {
		t.Helper()
		cred, _, err := c.SIPCredential(ctx, testRealm, user)
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}
	get("alice")
	dir.add(testRealm, "alice", "pw2")
	if got := get("alice").Password; got != "pw1" {
		t.Fatalf("not cached: %s", got)
	}
	clk.Advance(credTTL + time.Second)
	if got := get("alice").Password; got != "pw2" {
		t.Fatalf("not expired: %s", got)
	}
	dir.add(testRealm, "alice", "pw3")
	reconnects++
	if got := get("alice").Password; got != "pw3" {
		t.Fatalf("not reset on reconnect: %s", got)
	}
	for _, u := range []string{"x1", "x2", "x3", "x4", "x5"} {
		get(u)
		if c.len() > 3 {
			t.Fatalf("cache grew to %d entries, bound 3", c.len())
		}
	}
}

// raceDir delivers an invalidation while a lookup is in flight.
type raceDir struct {
	*memDir
	during func()
}

func (d raceDir) SIPCredential(ctx context.Context, realm, user string) (store.SIPCredential, bool, error) {
	c, ok, err := d.memDir.SIPCredential(ctx, realm, user)
	d.during()
	return c, ok, err
}

func TestCredentialCacheDropsLookupRacingAnEvent(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	dir := &memDir{m: map[string]store.SIPCredential{}}
	dir.add(testRealm, "alice", "pw1")
	var c *credCache
	c = newCredCache(raceDir{dir, func() { c.invalidate(store.DocEvent{Account: testAcct, Type: store.TypeDevice}) }},
		clk, 10, func() uint64 { return 0 })
	if _, ok, err := c.SIPCredential(context.Background(), testRealm, "alice"); !ok || err != nil {
		t.Fatalf("lookup: %v %v", ok, err)
	}
	if c.len() != 0 {
		t.Fatal("a result read before an invalidation was cached")
	}
}
