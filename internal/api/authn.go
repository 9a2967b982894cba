package api

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/schema"
	"github.com/strowger/strowger/internal/store"
)

// maxNameCandidates bounds how many same-named accounts a login tries
// (each try is one slow hash).
const maxNameCandidates = 5

// apiAuth serves PUT /v2/api_auth: an account's API key for an admin token.
func (s *Server) apiAuth(rq *request) error {
	if !s.allowLogin(rq.r) {
		return errTooMany()
	}
	data, _, err := rq.decodeEnvelope()
	if err != nil {
		return err
	}
	if v := schema.Validate("api_auth", data); !v.Empty() {
		return errValidation(v)
	}
	key, _ := data["api_key"].(string)
	acct, err := s.st.AccountByAPIKey(rq.r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		return errInvalidCredentials()
	}
	if err != nil {
		return err
	}
	return s.issue(rq, acct, "", auth.MethodAPIKey, auth.PrivAdmin)
}

// userAuth serves PUT /v2/user_auth: Kazoo's md5/sha1 credentials of
// "username:password" plus the account's realm, name or a phone number
// one of its callflows routes (compared by digits: "+1 415 555 0100" and
// "14155550100" are the same number).
func (s *Server) userAuth(rq *request) error {
	if !s.allowLogin(rq.r) {
		return errTooMany()
	}
	data, _, err := rq.decodeEnvelope()
	if err != nil {
		return err
	}
	schema.ApplyDefaults("user_auth", data)
	if v := schema.Validate("user_auth", data); !v.Empty() {
		return errValidation(v)
	}
	creds := strings.ToLower(str(data["credentials"]))
	method := str(data["method"])
	wantLen := 32
	if method == "sha" {
		wantLen = 40
	}
	if _, err := hex.DecodeString(creds); err != nil || len(creds) != wantLen {
		return fieldError("credentials", "format", "credentials must be the hex "+method+" digest of username:password")
	}
	ctx := rq.r.Context()
	var candidates []string
	if realm := str(data["account_realm"]); realm != "" {
		a, err := s.st.AccountByRealm(ctx, realm)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if a != "" {
			candidates = append(candidates, a)
		}
	} else if name := str(data["account_name"]); name != "" {
		found, err := s.st.AccountsByName(ctx, name)
		if err != nil {
			return err
		}
		candidates = found
	} else if number := str(data["phone_number"]); number != "" {
		// The account that routes the number in one of its callflows.
		found, err := s.st.AccountsByPhoneNumber(ctx, number)
		if err != nil {
			return err
		}
		candidates = found
	}
	if len(candidates) > maxNameCandidates {
		candidates = candidates[:maxNameCandidates]
	}
	if len(candidates) == 0 {
		// Spend the same slow hash as a real attempt: timing must not tell
		// whether the account exists.
		auth.CredentialHash(store.NewID(), creds)
		return errInvalidCredentials()
	}
	for _, acct := range candidates {
		u, err := s.st.UserByCredential(ctx, acct, auth.CredentialHash(acct, creds))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if u.Body["enabled"] == false {
			return errInvalidCredentials()
		}
		a, err := s.st.Account(ctx, acct)
		if err != nil || a.Body["enabled"] == false {
			return errInvalidCredentials()
		}
		priv := str(u.Body["priv_level"])
		if priv != auth.PrivAdmin {
			priv = auth.PrivUser
		}
		return s.issue(rq, acct, u.ID, auth.MethodUser, priv)
	}
	return errInvalidCredentials()
}

// issue signs a token and answers with Kazoo's auth response.
func (s *Server) issue(rq *request, account, owner, method, priv string) error {
	a, err := s.st.Account(rq.r.Context(), account)
	if err != nil {
		return err
	}
	tok, err := s.Signer.Issue(auth.Claims{AccountID: account, OwnerID: owner, Method: method, PrivLevel: priv})
	if err != nil {
		return err
	}
	rq.token = tok
	rq.p = &principal{Account: account, Owner: owner, PrivLevel: priv, Method: method, Master: account == s.Master}
	view := s.accountView(a)
	data := map[string]any{
		"account_id":   account,
		"account_name": a.Body["name"],
		"is_reseller":  view["is_reseller"],
		"reseller_id":  view["reseller_id"],
		"language":     langOr(a.Body["language"]),
		"apps":         []any{},
		"expires_in":   int(s.Signer.TTL().Seconds()),
	}
	if owner != "" {
		data["owner_id"] = owner
	}
	if account == s.Master {
		data["is_superduper_admin"] = true
	}
	rq.reply(http.StatusCreated, data, 0)
	return nil
}

// tokenInfo serves GET /v2/user_auth/{token}: the claims of a token the
// caller holds.
func (s *Server) tokenInfo(rq *request) error {
	c, err := s.Signer.Verify(rq.r.PathValue("token"))
	if err != nil || c.AccountID != rq.p.Account {
		return errBadIdentifier("token")
	}
	data := map[string]any{"account_id": c.AccountID, "method": c.Method, "priv_level": c.PrivLevel}
	if c.OwnerID != "" {
		data["owner_id"] = c.OwnerID
	}
	if c.ExpiresAt != nil {
		data["exp"] = c.ExpiresAt.Unix()
	}
	rq.reply(http.StatusOK, data, 0)
	return nil
}

func langOr(v any) string {
	if s, ok := v.(string); ok && s != "" {
		return s
	}
	return "en-us"
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
