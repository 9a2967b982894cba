package api

import (
	"errors"
	"slices"
	"strings"

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

// authenticate reads the token (X-Auth-Token header, or the auth_token
// query parameter used for media links) and sets rq.p.
func (s *Server) authenticate(rq *request) error {
	tok := rq.r.Header.Get("X-Auth-Token")
	if tok == "" {
		tok = rq.r.URL.Query().Get("auth_token")
	}
	if tok == "" {
		if a := rq.r.Header.Get("Authorization"); strings.HasPrefix(a, "Bearer ") {
			tok = strings.TrimPrefix(a, "Bearer ")
		}
	}
	if tok == "" {
		return errInvalidCredentials()
	}
	c, err := s.Signer.Verify(tok)
	if err != nil {
		return errInvalidCredentials()
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
		if rq.p.Master {
			return nil, errBadIdentifier(rq.account)
		}
		return nil, errForbidden()
	}
	if err != nil {
		return nil, err
	}
	if !s.canReach(rq.p, acct) {
		return nil, errForbidden()
	}
	return acct, nil
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
