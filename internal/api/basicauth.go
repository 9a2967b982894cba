package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/store"
)

// MethodBasic names HTTP Basic authentication in principals.
const MethodBasic = "cb_basic_auth"

// maxCachedBasic bounds the verified Basic credentials cache.
const maxCachedBasic = 10000

// basicEntry remembers one verified Basic credential: which user it logs
// in, and the stored credential hash that matched, so a password change
// (new hash) or a deleted user ends it without a second slow hash.
type basicEntry struct {
	account, user, field, hash string
}

// basicAuth authenticates Kazoo's HTTP Basic scheme: the user name is the
// authorizing account's ID, the password the hex MD5 (32 characters) or
// SHA-1 (40) of lowercase(username):password of a user of that account —
// the same digest user_auth takes. It returns the principal of that user,
// with the user's priv_level.
//
// The first use of a credential costs one slow hash (argon2id) and counts
// against the per-address login limit; it is then cached, and every later
// request re-reads the user to check that the credential still matches and
// the user is enabled.
func (s *Server) basicAuth(rq *request, header string) (*principal, error) {
	acct, digest, field, ok := parseBasic(header)
	if !ok {
		return nil, errInvalidCredentials()
	}
	ctx := rq.r.Context()
	sum := sha256.Sum256([]byte(acct + ":" + digest))
	key := string(sum[:])
	if v, ok := s.basic.Load(key); ok {
		e := v.(basicEntry)
		u, err := s.st.Get(ctx, e.account, store.TypeUser, e.user)
		if err == nil && str(u.Body[e.field]) == e.hash {
			return s.basicPrincipal(acct, u)
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		s.basic.Delete(key)
	}
	if !s.allowLogin(rq.r) {
		return nil, errTooMany()
	}
	hash := auth.CredentialHash(acct, digest)
	u, err := s.st.UserByCredential(ctx, acct, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidCredentials()
	}
	if err != nil {
		return nil, err
	}
	if str(u.Body[field]) != hash {
		return nil, errInvalidCredentials()
	}
	if s.basicCount.Add(1) > maxCachedBasic {
		s.basic.Clear()
		s.basicCount.Store(0)
	}
	s.basic.Store(key, basicEntry{account: acct, user: u.ID, field: field, hash: hash})
	return s.basicPrincipal(acct, u)
}

// parseBasic decodes the credentials of a Basic Authorization header (the
// part after "Basic "): the account ID, the lowercased hex digest, and the
// user field that stores its slow hash.
func parseBasic(header string) (acct, digest, field string, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(header))
	if err != nil {
		return "", "", "", false
	}
	acct, digest, ok = strings.Cut(string(raw), ":")
	digest = strings.ToLower(digest)
	if !ok || !store.IsID(acct) || (len(digest) != 32 && len(digest) != 40) {
		return "", "", "", false
	}
	if _, err := hex.DecodeString(digest); err != nil {
		return "", "", "", false
	}
	field = "pvt_md5_auth"
	if len(digest) == 40 {
		field = "pvt_sha1_auth"
	}
	return acct, digest, field, true
}

func (s *Server) basicPrincipal(acct string, u *store.Doc) (*principal, error) {
	if u.Body["enabled"] == false {
		return nil, errInvalidCredentials()
	}
	priv := str(u.Body["priv_level"])
	if priv != auth.PrivAdmin {
		priv = auth.PrivUser
	}
	return &principal{Account: acct, Owner: u.ID, PrivLevel: priv, Method: MethodBasic, Master: acct == s.Master}, nil
}
