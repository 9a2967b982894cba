package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/store"
)

// principal is who a token speaks for.
type principal struct {
	Account   string
	Owner     string // the user, for user_auth tokens
	PrivLevel string
	Method    string
	Master    bool
}

// admin reports whether the principal manages its account (API keys and
// admin users do; plain users reach only their own things).
func (p *principal) admin() bool { return p.PrivLevel != auth.PrivUser }

// authenticate reads the credentials and sets rq.p: a token in the
// X-Auth-Token header, the auth_token query parameter (media links) or an
// "Authorization: Bearer" header; or Kazoo's HTTP Basic credentials
// (basicauth.go).
func (s *Server) authenticate(rq *request) error {
	tok := rq.r.Header.Get("X-Auth-Token")
	if tok == "" {
		tok = rq.r.URL.Query().Get("auth_token")
	}
	if tok == "" {
		a := rq.r.Header.Get("Authorization")
		scheme, rest, _ := strings.Cut(a, " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			tok = strings.TrimSpace(rest)
		case strings.EqualFold(scheme, "Basic"):
			p, err := s.basicAuth(rq, rest)
			if err != nil {
				return err
			}
			if err := s.accountLive(rq, p.Account); err != nil {
				return err
			}
			rq.p = p
			return nil
		}
	}
	if tok == "" {
		tok = s.envelopeToken(rq)
	}
	if tok == "" {
		return errInvalidCredentials()
	}
	c, err := s.verifyToken(tok)
	if err != nil {
		return errInvalidCredentials()
	}
	// A valid signature is not enough: the token's account must still exist.
	if err := s.accountLive(rq, c.AccountID); err != nil {
		return err
	}
	rq.token = tok
	rq.p = &principal{Account: c.AccountID, Owner: c.OwnerID, PrivLevel: c.PrivLevel, Method: c.Method,
		Master: c.AccountID == s.Master}
	return nil
}

// reach loads the path's account and checks that the principal may act on
// it: its own account or a descendant (any account for the master). A plain
// user reaches only its own account. A missing account answers like a
// forbidden one, so tokens cannot probe for other tenants' IDs.
func (s *Server) reach(rq *request) (*store.Doc, error) {
	if !store.IsID(rq.account) {
		if rq.p.Master {
			return nil, errBadIdentifier(rq.account)
		}
		return nil, errForbidden()
	}
	acct, err := s.st.Account(rq.r.Context(), rq.account)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.missingAccount(rq)
	}
	if err != nil {
		return nil, err
	}
	if !s.canReach(rq.p, acct) {
		return nil, errForbidden()
	}
	return acct, nil
}

// envelopeToken reads the auth_token of a JSON request envelope, Kazoo's
// last place for a token. Uploads (audio, base64 media) are not JSON
// envelopes and are not read here.
func (s *Server) envelopeToken(rq *request) string {
	if rq.r.Body == nil || rq.r.Body == http.NoBody {
		return ""
	}
	switch ct, _, _ := strings.Cut(rq.r.Header.Get("Content-Type"), ";"); strings.TrimSpace(strings.ToLower(ct)) {
	case "", "application/json", "application/x-www-form-urlencoded":
	default:
		return ""
	}
	body, err := rq.readBody(s.cfg.MaxBodyBytes)
	if err != nil {
		return "" // the handler reports the body's error, after 401
	}
	var env struct {
		AuthToken string `json:"auth_token"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	return env.AuthToken
}

// missingAccount answers a request for an account that does not exist:
// 404 to the master and to the admins of a deleted account's former
// ancestors (Kazoo's "bad identifier"), 403 to everyone else, so tokens
// cannot probe for other tenants' IDs.
func (s *Server) missingAccount(rq *request) error {
	s.trees.Delete(rq.account)
	if rq.p.Master {
		return errBadIdentifier(rq.account)
	}
	tree, gone, err := s.st.DeletedAccountTree(rq.r.Context(), rq.account)
	if err != nil {
		return err
	}
	if gone && rq.p.admin() && slices.Contains(tree, rq.p.Account) {
		return errBadIdentifier(rq.account)
	}
	return errForbidden()
}

// accountLive checks that a token's account still exists: 401 once it is
// deleted, as for any other invalid credential. Live accounts are
// remembered in the tree cache, so this costs a lookup once per account.
func (s *Server) accountLive(rq *request, account string) error {
	if _, ok := s.cachedTree(account); ok {
		return nil
	}
	d, err := s.st.Account(rq.r.Context(), account)
	if errors.Is(err, store.ErrNotFound) {
		return errInvalidCredentials()
	}
	if err != nil {
		return err
	}
	s.rememberTree(d)
	return nil
}

func (s *Server) rememberTree(d *store.Doc) {
	tree := store.Tree(d.Body)
	anyTree := make([]any, len(tree))
	for i, x := range tree {
		anyTree[i] = x
	}
	s.trees.Store(d.ID, &treeEntry{tree: anyTree, at: s.clock.Now()})
}

// treeEntry is a cached account ancestry and when it was read.
type treeEntry struct {
	tree []any
	at   time.Time
}

// treeTTL bounds how long a cached account is trusted without a read: a
// node that missed a deletion event (a reconnect) stops honouring the
// deleted account's tokens and cached reads within this time.
const treeTTL = time.Minute

// cachedTree returns an account's cached ancestry while it is fresh.
func (s *Server) cachedTree(account string) ([]any, bool) {
	v, ok := s.trees.Load(account)
	if !ok {
		return nil, false
	}
	e := v.(*treeEntry)
	if s.clock.Now().Sub(e.at) >= treeTTL {
		s.trees.CompareAndDelete(account, v)
		return nil, false
	}
	return e.tree, true
}

// verifyToken verifies a token, remembering verified ones until they
// expire: a signature check and a JSON decode per request is the largest
// cost of a small GET.
func (s *Server) verifyToken(tok string) (*auth.Claims, error) {
	now := s.clock.Now()
	if v, ok := s.tokens.Load(tok); ok {
		c := v.(*auth.Claims)
		if c.ExpiresAt != nil && now.Before(c.ExpiresAt.Time) {
			return c, nil
		}
		s.tokens.Delete(tok)
	}
	c, err := s.Signer.Verify(tok)
	if err != nil {
		return nil, err
	}
	if s.tokenCount.Add(1) > maxCachedTokens {
		// Crude bound: start over rather than track recency.
		s.tokens.Clear()
		s.tokenCount.Store(0)
	}
	s.tokens.Store(tok, c)
	return c, nil
}

// maxCachedTokens bounds the verified-token cache.
const maxCachedTokens = 100000

// reachTree is reach for handlers that need only the account's position in
// the tree, which never changes after creation. Reads are served from
// memory; writes always load the account, so that no node writes into an
// account another node has deleted.
func (s *Server) reachTree(rq *request) error {
	if v, ok := s.cachedTree(rq.account); ok && rq.r.Method == http.MethodGet {
		d := &store.Doc{ID: rq.account, Body: map[string]any{"pvt_tree": v}}
		if !s.canReach(rq.p, d) {
			return errForbidden()
		}
		return nil
	}
	d, err := s.reach(rq)
	if err != nil {
		return err
	}
	s.rememberTree(d)
	return nil
}

func (s *Server) canReach(p *principal, acct *store.Doc) bool {
	if p.Master {
		return true
	}
	if acct.ID == p.Account {
		return true
	}
	if !p.admin() {
		return false
	}
	return slices.Contains(store.Tree(acct.Body), p.Account)
}

// ancestorOf reports whether the principal's account is a strict ancestor
// of acct (or the principal is the master): who may set an account's limits.
func (s *Server) ancestorOf(p *principal, acct *store.Doc) bool {
	if p.Master {
		return true
	}
	return p.admin() && slices.Contains(store.Tree(acct.Body), p.Account)
}
