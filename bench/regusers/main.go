// Command regusers provisions the registration benchmark's subscribers in
// a running Strowger through the REST API: one account whose realm is the
// benchmark domain, and one device per user with the SIP credentials of
// ../shared/bench's contract (userNNNNN / pwNNNNN). It is a benchmark setup
// tool, run by bench/reg.sh; it is idempotent (a device that already exists
// counts as done).
//
//	go run ./bench/regusers -api http://127.0.0.1:48000 -key MASTERKEY -n 10000 -realm sip.test
//
// It prints the account ID on stdout.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	api := flag.String("api", "http://127.0.0.1:48000", "Strowger REST API base URL")
	key := flag.String("key", "", "master API key")
	n := flag.Int("n", 10000, "number of users")
	realm := flag.String("realm", "sip.test", "account realm (SIP domain)")
	workers := flag.Int("workers", 16, "concurrent requests")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after")
	flag.Parse()
	if *key == "" || *n <= 0 || *workers <= 0 {
		fmt.Fprintln(os.Stderr, "regusers: -key is required; -n and -workers must be positive")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	acct, err := run(ctx, *api, *key, *n, *realm, *workers)
	if err != nil {
		fmt.Fprintln(os.Stderr, "regusers:", err)
		os.Exit(1)
	}
	fmt.Println(acct)
}

type client struct {
	base, token string
	hc          *http.Client
}

// do sends one request with a {"data":...} envelope and decodes the reply.
func (c *client) do(ctx context.Context, method, path string, data any) (int, map[string]any, error) {
	var body io.Reader
	if data != nil {
		b, err := json.Marshal(map[string]any{"data": data})
		if err != nil {
			return 0, nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	var env map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: decoding reply (%d): %w", method, path, resp.StatusCode, err)
	}
	return resp.StatusCode, env, nil
}

func run(ctx context.Context, api, key string, n int, realm string, workers int) (string, error) {
	c := &client{base: api, hc: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	code, env, err := c.do(ctx, http.MethodPut, "/v2/api_auth", map[string]any{"api_key": key})
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated && code != http.StatusOK {
		return "", fmt.Errorf("api_auth: %d %v", code, env)
	}
	c.token, _ = env["auth_token"].(string)
	master, _ := env["data"].(map[string]any)["account_id"].(string)
	acct, err := benchAccount(ctx, c, master, realm)
	if err != nil {
		return "", err
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				user := fmt.Sprintf("user%05d", i)
				code, env, err := c.do(ctx, http.MethodPut, "/v2/accounts/"+acct+"/devices", map[string]any{
					"name": user, "sip": map[string]any{"username": user, "password": fmt.Sprintf("pw%05d", i)}})
				if err == nil && code != http.StatusCreated && !exists(code, env) {
					err = fmt.Errorf("creating device %s: %d %v", user, code, env)
				}
				if err != nil {
					errs <- err
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return "", err
	}
	if int(done.Load()) != n {
		return "", fmt.Errorf("provisioned %d of %d devices: %w", done.Load(), n, ctx.Err())
	}
	return acct, nil
}

// benchAccount finds the child account with the realm, or creates it.
func benchAccount(ctx context.Context, c *client, master, realm string) (string, error) {
	code, env, err := c.do(ctx, http.MethodGet, "/v2/accounts/"+master+"/children", nil)
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("listing accounts: %d %v", code, env)
	}
	list, _ := env["data"].([]any)
	for _, x := range list {
		a, _ := x.(map[string]any)
		if a["realm"] == realm {
			id, _ := a["id"].(string)
			return id, nil
		}
	}
	code, env, err = c.do(ctx, http.MethodPut, "/v2/accounts/"+master, map[string]any{"name": "sipbench", "realm": realm})
	if err != nil {
		return "", err
	}
	if code != http.StatusCreated {
		return "", fmt.Errorf("creating account with realm %s: %d %v", realm, code, env)
	}
	id, _ := env["data"].(map[string]any)["id"].(string)
	if id == "" {
		return "", errors.New("created account has no id")
	}
	return id, nil
}

// exists reports a uniqueness refusal: the device was made by an earlier run.
func exists(code int, env map[string]any) bool {
	if code != http.StatusBadRequest && code != http.StatusConflict {
		return false
	}
	b, _ := json.Marshal(env)
	return bytes.Contains(b, []byte("unique"))
}
