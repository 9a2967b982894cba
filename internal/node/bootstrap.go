package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/store"
)

// masterKeyFile is where a generated master API key is saved (mode 0600).
const masterKeyFile = "master-api-key"

// bootstrapMaster creates the master ("superduper admin") account on the
// first start and makes its API key the given one when a key is given.
// A generated key is printed once to out and saved under dataDir.
func bootstrapMaster(ctx context.Context, st *store.Store, dataDir, givenKey string, out io.Writer) (string, error) {
	master, err := st.MasterAccount(ctx)
	if err == nil {
		if givenKey != "" {
			d, err := st.Account(ctx, master)
			if err != nil {
				return "", fmt.Errorf("reading master account: %w", err)
			}
			if d.Body["pvt_api_key"] != givenKey {
				if err := st.SetPrivate(ctx, master, store.TypeAccount, master, "pvt_api_key", givenKey); err != nil {
					return "", fmt.Errorf("setting master api key: %w", err)
				}
			}
		}
		return master, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	key := givenKey
	if key == "" {
		key = auth.NewAPIKey()
	}
	id := store.NewID()
	_, err = st.Create(ctx, &store.Doc{Account: id, Type: store.TypeAccount, ID: id, Body: map[string]any{
		"name":                 "Master Account",
		"realm":                "master.strowger.local",
		"enabled":              true,
		"pvt_tree":             []any{},
		"pvt_superduper_admin": true,
		"pvt_reseller":         true,
		"pvt_api_key":          key,
	}})
	if err != nil {
		return "", fmt.Errorf("creating master account: %w", err)
	}
	recorded, err := st.SetMasterAccount(ctx, id)
	if err != nil {
		return "", err
	}
	if recorded != id {
		// Another node created the master first: drop ours.
		_, _ = st.Delete(ctx, id, store.TypeAccount, id, 0)
		return recorded, nil
	}
	if givenKey == "" {
		path := filepath.Join(dataDir, masterKeyFile)
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("saving master api key: %w", err)
		}
		fmt.Fprintf(out, "\nMaster account created: %s\nMaster API key (shown once, saved to %s):\n  %s\n\n", id, path, key)
	}
	return id, nil
}

// demoAccountKey marks that the demo account exists.
const demoAccountKey = "demo_account"

// bootstrapDemo creates, once, a demo account whose realm is the SIP
// address's host, with two users, two phones, extensions 100 and 101 and a
// voicemail box, and prints the phones' SIP credentials.
func bootstrapDemo(ctx context.Context, st *store.Store, master, sipAddr string, out io.Writer) error {
	host, port, _ := net.SplitHostPort(sipAddr)
	if v, err := st.SystemValue(ctx, demoAccountKey); err == nil {
		printDemo(ctx, st, string(v), host, port, nil, out)
		return nil
	}
	realm := host
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		realm = "demo.strowger.local"
	}
	acct := store.NewID()
	create := func(typ, id string, body map[string]any) error {
		_, err := st.Create(ctx, &store.Doc{Account: acct, Type: typ, ID: id, Body: body})
		if err != nil {
			return fmt.Errorf("creating demo %s: %w", typ, err)
		}
		return nil
	}
	if err := create(store.TypeAccount, acct, map[string]any{
		"name": "Demo", "realm": realm, "enabled": true, "timezone": "UTC",
		"pvt_tree": []any{master}, "pvt_api_key": auth.NewAPIKey(),
	}); err != nil {
		return err
	}
	type person struct{ first, login, ext string }
	var userIDs []string
	logins := map[string]string{}
	for _, p := range []person{{"Alice", "alice", "100"}, {"Bob", "bob", "101"}} {
		uid, did := store.NewID(), store.NewID()
		userIDs = append(userIDs, uid)
		pw := auth.NewAPIKey()[:12]
		logins[p.login] = pw
		md5hex, sha1hex := auth.Credentials(p.login, pw)
		if err := create(store.TypeUser, uid, map[string]any{
			"first_name": p.first, "last_name": "Demo", "username": p.login, "priv_level": "admin",
			"enabled": true, "presence_id": p.ext,
			"caller_id":    map[string]any{"internal": map[string]any{"name": p.first, "number": p.ext}},
			"pvt_md5_auth": auth.CredentialHash(acct, md5hex), "pvt_sha1_auth": auth.CredentialHash(acct, sha1hex),
		}); err != nil {
			return err
		}
		if err := create(store.TypeDevice, did, map[string]any{
			"name": p.first + "'s phone", "device_type": "softphone", "owner_id": uid, "enabled": true,
			"sip": map[string]any{"username": p.ext, "password": auth.NewAPIKey()[:16], "method": "password",
				"invite_format": "contact", "expire_seconds": 300},
		}); err != nil {
			return err
		}
	}
	vmbox := store.NewID()
	if err := create(store.TypeVMBox, vmbox, map[string]any{
		"name": "Alice's voicemail", "mailbox": "100", "owner_id": userIDs[0], "pin": "1234",
		"require_pin": true, "check_if_owner": true,
	}); err != nil {
		return err
	}
	for i, ext := range []string{"100", "101"} {
		flow := map[string]any{"module": "user", "data": map[string]any{"id": userIDs[i], "timeout": 20}, "children": map[string]any{}}
		if i == 0 {
			flow["children"] = map[string]any{"_": map[string]any{"module": "voicemail",
				"data": map[string]any{"id": vmbox}, "children": map[string]any{}}}
		}
		if err := create(store.TypeCallflow, store.NewID(), map[string]any{
			"name": "Extension " + ext, "numbers": []any{ext}, "flow": flow,
		}); err != nil {
			return err
		}
	}
	if _, err := st.CreateSystemValue(ctx, demoAccountKey, []byte(acct)); err != nil {
		return err
	}
	printDemo(ctx, st, acct, host, port, logins, out)
	return nil
}

// printDemo prints the demo phones' credentials; web logins only on the
// start that created them, since their passwords are stored as hashes.
func printDemo(ctx context.Context, st *store.Store, acct, host, port string, logins map[string]string, out io.Writer) {
	a, err := st.Account(ctx, acct)
	if err != nil {
		return
	}
	devices, _ := st.List(ctx, acct, store.TypeDevice)
	fmt.Fprintf(out, "Demo account %q (id %s), SIP domain %s, server %s port %s (UDP/TCP)\n",
		a.Body["name"], acct, a.Body["realm"], host, port)
	for _, d := range devices {
		sip, _ := d.Body["sip"].(map[string]any)
		fmt.Fprintf(out, "  phone %-16s SIP username %-4v password %v\n", d.Body["name"], sip["username"], sip["password"])
	}
	for _, login := range []string{"alice", "bob"} {
		if pw, ok := logins[login]; ok {
			fmt.Fprintf(out, "  web login %-8s password %s (account name %q; shown once)\n", login, pw, a.Body["name"])
		}
	}
	fmt.Fprintf(out, "  dial 100 or 101 to ring the other phone\n\n")
}
