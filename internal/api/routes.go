package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/callflow"
	// The API validates every callflow module's data on save: it needs the
	// modules registered whoever builds the server.
	_ "github.com/strowger/strowger/internal/callflow/modules/all"
	"github.com/strowger/strowger/internal/store"
	"github.com/strowger/strowger/internal/validation"
)

// routes is the one table of every endpoint.
func (s *Server) routes() {
	// Authentication.
	s.handle("/v2/api_auth", map[string]handlerFunc{http.MethodPut: s.apiAuth}, true)
	s.handle("/v2/user_auth", map[string]handlerFunc{http.MethodPut: s.userAuth}, true)
	s.handle("/v2/user_auth/{token}", map[string]handlerFunc{http.MethodGet: s.tokenInfo}, false)

	// The account tree.
	s.handle("/v2/accounts", map[string]handlerFunc{http.MethodPut: s.createAccount}, false)
	s.handle("/v2/accounts/{account}", map[string]handlerFunc{
		http.MethodGet:    s.getAccount,
		http.MethodPut:    s.createAccount,
		http.MethodPost:   func(rq *request) error { return s.updateAccount(rq, false) },
		http.MethodPatch:  func(rq *request) error { return s.updateAccount(rq, true) },
		http.MethodDelete: s.deleteAccount,
	}, false)
	s.handle("/v2/accounts/{account}/children", map[string]handlerFunc{http.MethodGet: s.accountChildren}, false)
	s.handle("/v2/accounts/{account}/descendants", map[string]handlerFunc{http.MethodGet: s.accountDescendants}, false)
	s.handle("/v2/accounts/{account}/siblings", map[string]handlerFunc{http.MethodGet: s.accountSiblings}, false)
	s.handle("/v2/accounts/{account}/parents", map[string]handlerFunc{http.MethodGet: s.accountParents}, false)
	s.handle("/v2/accounts/{account}/tree", map[string]handlerFunc{http.MethodGet: s.accountParents}, false)
	s.handle("/v2/accounts/{account}/api_key", map[string]handlerFunc{
		http.MethodGet: s.getAPIKey,
		http.MethodPut: s.regenerateAPIKey,
	}, false)
	s.handle("/v2/accounts/{account}/limits", map[string]handlerFunc{
		http.MethodGet:  s.getLimits,
		http.MethodPost: s.setLimits,
	}, false)

	for _, res := range s.resources() {
		s.resourceRoutes(res)
	}
	s.mediaRoutes()
	s.liveRoutes()

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rq := &request{w: w, r: r, srv: s, id: newRequestID()}
		rq.fail(&apiError{code: http.StatusNotFound, message: "not found",
			data: map[string]any{"message": "no such endpoint: " + r.URL.Path}})
	})
}

// resources lists the document collections and their rules.
func (s *Server) resources() []*resource {
	return []*resource{
		{path: "users", docType: store.TypeUser, schema: "users", patch: true, users: userSelf,
			summary: []string{"username", "email", "first_name", "last_name", "priv_level", "presence_id", "enabled"},
			prepare: s.prepareUser, private: []string{"pvt_md5_auth", "pvt_sha1_auth"}},
		{path: "devices", docType: store.TypeDevice, schema: "devices", patch: true, putID: true, users: userOwned,
			summary: []string{"name", "sip.username", "mac_address", "owner_id", "enabled", "device_type"},
			prepare: s.prepareOwned},
		{path: "callflows", docType: store.TypeCallflow, schema: "callflows", patch: true,
			summary: []string{"name", "numbers", "patterns", "featurecode", "flags"},
			prepare: s.prepareCallflow},
		{path: "vmboxes", docType: store.TypeVMBox, schema: "vmboxes", patch: true, users: userOwned,
			summary: []string{"name", "mailbox", "owner_id"},
			prepare: s.prepareOwned},
		{path: "menus", docType: store.TypeMenu, schema: "menus", patch: true,
			summary: []string{"name"}, prepare: s.prepareMedia("media.greeting", "media.invalid_media", "media.transfer_media", "media.exit_media")},
		{path: "groups", docType: store.TypeGroup, schema: "groups", patch: true,
			summary: []string{"name", "endpoints"}, prepare: s.prepareGroup},
		{path: "temporal_rules", docType: store.TypeTemporalRule, schema: "temporal_rules", patch: true,
			summary: []string{"name", "cycle"}},
		{path: "temporal_rules_sets", docType: store.TypeTemporalRulesSet, schema: "temporal_rules_sets", patch: true,
			summary: []string{"name", "temporal_rules"}, prepare: s.prepareRuleSet},
		{path: "conferences", docType: store.TypeConference, schema: "conferences", patch: true, putID: true,
			summary: []string{"name", "owner_id", "conference_numbers", "member.numbers"}, prepare: s.prepareOwned},
		{path: "media", docType: store.TypeMedia, schema: "media", patch: true,
			summary:     []string{"name", "media_source", "language", "content_type", "content_length"},
			prepare:     s.prepareMediaDoc,
			afterDelete: s.deleteMediaObject},
	}
}

// refExists checks that a referenced document exists in the same account:
// documents may never point into another tenant.
func (s *Server) refExists(ctx context.Context, account, docType, id string) (bool, error) {
	if !store.IsID(id) {
		return false, nil
	}
	_, err := s.st.Get(ctx, account, docType, id)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *Server) checkRef(ctx context.Context, v validation.Errors, account, docType, field, id string) error {
	ok, err := s.refExists(ctx, account, docType, id)
	if err != nil {
		return err
	}
	if !ok {
		v.Add(field, "not_found", fmt.Sprintf("No %s with ID %q in this account", docType, id), "cause", id)
	}
	return nil
}

func done(v validation.Errors) error {
	if v.Empty() {
		return nil
	}
	return errValidation(v)
}

// prepareOwned checks owner_id names a user of the same account.
func (s *Server) prepareOwned(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	v := validation.Errors{}
	if owner, ok := body["owner_id"].(string); ok && owner != "" {
		if err := s.checkRef(ctx, v, rq.account, store.TypeUser, "owner_id", owner); err != nil {
			return err
		}
	}
	return done(v)
}

// prepareUser stores login credentials as slow hashes (never the password)
// and keeps plain users from raising their own privileges.
func (s *Server) prepareUser(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	if !rq.p.admin() {
		body["priv_level"] = cur["priv_level"]
		if body["priv_level"] == nil {
			delete(body, "priv_level")
		}
	}
	password, hasPassword := body["password"].(string)
	delete(body, "password")
	username, _ := body["username"].(string)
	oldUsername := ""
	if cur != nil {
		oldUsername, _ = cur["username"].(string)
	}
	switch {
	case hasPassword && password != "" && username != "":
		md5hex, sha1hex := auth.Credentials(username, password)
		body["pvt_md5_auth"] = auth.CredentialHash(rq.account, md5hex)
		body["pvt_sha1_auth"] = auth.CredentialHash(rq.account, sha1hex)
	case hasPassword && password != "":
		return fieldError("username", "required", "A username is required with a password")
	case cur != nil && !strings.EqualFold(username, oldUsername) && cur["pvt_md5_auth"] != nil:
		if username == "" {
			// Removing the username disables password login.
			delete(body, "pvt_md5_auth")
			delete(body, "pvt_sha1_auth")
			break
		}
		// The stored credentials hash the old username: a rename needs the password.
		return fieldError("password", "required", "A new username needs the password to be set again")
	case cur != nil:
		body["pvt_md5_auth"], body["pvt_sha1_auth"] = cur["pvt_md5_auth"], cur["pvt_sha1_auth"]
	}
	if body["pvt_md5_auth"] == nil {
		delete(body, "pvt_md5_auth")
		delete(body, "pvt_sha1_auth")
	}
	return nil
}

// prepareCallflow validates the flow tree against every module and checks
// that every document it names is in this account.
func (s *Server) prepareCallflow(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	v := validation.Errors{}
	if len(asList(body["numbers"])) == 0 && len(asList(body["patterns"])) == 0 {
		v.Add("numbers", "required", "A callflow needs at least one number or pattern")
	}
	flow, ok := body["flow"]
	if !ok {
		v.Add("flow", "required", "Field is required but missing")
		return done(v)
	}
	refs, errs := callflow.ValidateFlow(flow)
	v.Merge("", errs)
	for _, ref := range refs {
		if ref.Type == store.TypeCallflow && ref.ID == id {
			v.Add(ref.Field, "invalid", "A callflow cannot branch to itself")
			continue
		}
		if err := s.checkRef(ctx, v, rq.account, ref.Type, ref.Field, ref.ID); err != nil {
			return err
		}
	}
	return done(v)
}

// prepareGroup checks every endpoint names a user or device of the account.
func (s *Server) prepareGroup(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	v := validation.Errors{}
	eps, _ := body["endpoints"].(map[string]any)
	for epID, raw := range eps {
		ep, _ := raw.(map[string]any)
		typ, _ := ep["type"].(string)
		if typ != store.TypeUser && typ != store.TypeDevice {
			continue // the schema reports it
		}
		if err := s.checkRef(ctx, v, rq.account, typ, "endpoints."+epID, epID); err != nil {
			return err
		}
	}
	return done(v)
}

// prepareRuleSet checks every temporal rule of a set is in the account.
func (s *Server) prepareRuleSet(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	v := validation.Errors{}
	for i, r := range asList(body["temporal_rules"]) {
		rid, _ := r.(string)
		if err := s.checkRef(ctx, v, rq.account, store.TypeTemporalRule, fmt.Sprintf("temporal_rules.%d", i), rid); err != nil {
			return err
		}
	}
	return done(v)
}

// prepareMedia checks that media fields name media of the account.
func (s *Server) prepareMedia(fields ...string) func(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
	return func(ctx context.Context, rq *request, id string, body, cur map[string]any) error {
		v := validation.Errors{}
		for _, f := range fields {
			val, ok := lookup(body, strings.Split(f, "."))
			mid, _ := val.(string)
			if !ok || mid == "" || !store.IsID(mid) {
				// Kazoo also accepts prompt names and URLs here.
				continue
			}
			if err := s.checkRef(ctx, v, rq.account, store.TypeMedia, f, mid); err != nil {
				return err
			}
		}
		return done(v)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}
