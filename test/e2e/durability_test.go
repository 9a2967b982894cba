package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAcknowledgedWritesSurviveKill9 writes devices from several clients,
// kills the server with SIGKILL in the middle of the loop, restarts it on
// the same data, and finds every write that was acknowledged.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	data := t.TempDir()
	p := start(t, "--data", data, "--master-api-key", masterKey(), "--roles", "nats,api")
	c := newClient(p.addr)
	master := c.Login(t, masterKey())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	acked := map[string]string{} // device id → name
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 5000 && ctx.Err() == nil; i++ {
				name := fmt.Sprintf("w%d-%d", w, i)
				code, env, err := c.Request(ctx, http.MethodPut, "/v2/accounts/"+master+"/devices",
					map[string]any{"name": name, "sip": map[string]any{"username": name, "password": "secret123"}})
				if err != nil || code != http.StatusCreated {
					return // the server is gone: only acknowledged writes count
				}
				mu.Lock()
				acked[field(env, "data", "id").(string)] = name
				mu.Unlock()
			}
		}(w)
	}
	// Kill once a good number of writes have been acknowledged.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 300 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.Kill()
	cancel()
	wg.Wait()
	if len(acked) < 300 {
		t.Fatalf("only %d writes acknowledged before the deadline", len(acked))
	}

	p2 := start(t, "--data", data, "--master-api-key", masterKey(), "--roles", "nats,api")
	c2 := newClient(p2.addr)
	c2.Login(t, masterKey())
	missing := 0
	for id, name := range acked {
		code, env, err := c2.Request(context.Background(), http.MethodGet, "/v2/accounts/"+master+"/devices/"+id, nil)
		if err != nil || code != http.StatusOK || field(env, "data", "name") != name {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged device %s (%s) lost: %d %v", id, name, code, err)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	t.Logf("%d acknowledged writes all present after kill -9", len(acked))
}

// TestRestartKeepsDataAndGeneratedMasterKey starts with no key (one is
// generated and saved), stops cleanly with SIGTERM, and restarts.
func TestRestartKeepsDataAndGeneratedMasterKey(t *testing.T) {
	data := t.TempDir()
	p := start(t, "--data", data, "--roles", "nats,api")
	keyFile := filepath.Join(data, "master-api-key")
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatalf("master key not saved: %v\n%s", err, p.Log())
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("master key file mode %v", fi.Mode().Perm())
	}
	key := strings.TrimSpace(string(raw))
	if !strings.Contains(p.Log(), key) {
		t.Fatal("generated key was not printed")
	}
	c := newClient(p.addr)
	master := c.Login(t, key)
	code, env, err := c.Request(context.Background(), http.MethodPut, "/v2/accounts/"+master,
		map[string]any{"name": "Persisted", "realm": "persisted.example.com"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("create account: %d %v %v", code, err, env)
	}
	child := field(env, "data", "id").(string)
	if err := p.Term(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}

	p2 := start(t, "--data", data, "--roles", "nats,api")
	if strings.Contains(p2.Log(), "Master account created") {
		t.Fatal("a second master account was created on restart")
	}
	c2 := newClient(p2.addr)
	if got := c2.Login(t, key); got != master {
		t.Fatalf("master changed: %s → %s", master, got)
	}
	code, env, err = c2.Request(context.Background(), http.MethodGet, "/v2/accounts/"+child, nil)
	if err != nil || code != http.StatusOK || field(env, "data", "realm") != "persisted.example.com" {
		t.Fatalf("account after restart: %d %v %v", code, err, env)
	}
	// The old token is still valid: the signing key persisted too.
	c2.Token = c.Token
	if code, _, _ := c2.Request(context.Background(), http.MethodGet, "/v2/accounts/"+master, nil); code != http.StatusOK {
		t.Fatalf("token from before the restart refused: %d", code)
	}
}

// TestDemoAccount checks --demo creates a usable account once.
func TestDemoAccount(t *testing.T) {
	data := t.TempDir()
	p := start(t, "--data", data, "--master-api-key", masterKey(), "--roles", "nats,api", "--demo")
	out := p.Log()
	for _, want := range []string{"SIP username 100", "SIP username 101", "web login alice"} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
	c := newClient(p.addr)
	master := c.Login(t, masterKey())
	code, env, err := c.Request(context.Background(), http.MethodGet, "/v2/accounts/"+master+"/children", nil)
	if err != nil || code != http.StatusOK {
		t.Fatal(code, err)
	}
	kids := env["data"].([]any)
	if len(kids) != 1 {
		t.Fatalf("children %v", kids)
	}
	demo := kids[0].(map[string]any)["id"].(string)
	code, env, _ = c.Request(context.Background(), http.MethodGet, "/v2/accounts/"+demo+"/callflows", nil)
	if code != http.StatusOK || len(env["data"].([]any)) != 2 {
		t.Fatalf("demo callflows: %d %v", code, env)
	}
	if err := p.Term(); err != nil {
		t.Fatal(err)
	}
	p2 := start(t, "--data", data, "--master-api-key", masterKey(), "--roles", "nats,api", "--demo")
	c2 := newClient(p2.addr)
	c2.Login(t, masterKey())
	_, env, _ = c2.Request(context.Background(), http.MethodGet, "/v2/accounts/"+master+"/children", nil)
	if len(env["data"].([]any)) != 1 {
		t.Fatal("demo account created twice")
	}
}
