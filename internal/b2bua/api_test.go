package b2bua

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/strowger/strowger/internal/api"
	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/cdr"
	"github.com/strowger/strowger/internal/store"
)

// apiClient is the REST API over the env's store, with the live sources the
// media role feeds (CDR reader, channels), so tests check calls the way a
// Kazoo client sees them.
type apiClient struct {
	h      http.Handler
	token  string
	signer *auth.Signer
}

var apiClients sync.Map // *env → *apiClient

func (en *env) api() *apiClient {
	en.t.Helper()
	if c, ok := apiClients.Load(en); ok {
		return c.(*apiClient)
	}
	log := testLogger()
	signer, err := auth.NewSigner(en.t.Context(), en.st, store.SystemSigningKey, time.Hour, en.clk)
	if err != nil {
		en.t.Fatal(err)
	}
	srv := api.New(api.Config{NodeName: "test", Version: "test"}, api.Deps{
		Store: en.st, Signer: signer, Log: log, Clock: en.clk, Master: en.acct,
		Channels: NewChannels(en.st.Buckets().Calls, en.clk),
		CDRs:     cdr.NewReader(en.srv.JS, log, cdr.ReaderOptions{}),
	})
	en.t.Cleanup(func() { srv.Close(); apiClients.Delete(en) })
	tok, err := signer.Issue(auth.Claims{AccountID: en.acct, Method: "cb_api_auth", PrivLevel: "admin"})
	if err != nil {
		en.t.Fatal(err)
	}
	c := &apiClient{h: srv.Handler(), token: tok, signer: signer}
	apiClients.Store(en, c)
	return c
}

// get reads a list endpoint of the env's account and decodes its data.
func (en *env) apiList(path string) []map[string]any {
	en.t.Helper()
	c := en.api()
	req := httptest.NewRequest(http.MethodGet, "/v2/accounts/"+en.acct+path, nil)
	req.Header.Set("X-Auth-Token", c.token)
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		en.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	var env struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
		en.t.Fatalf("GET %s: %v", path, err)
	}
	return env.Data
}
