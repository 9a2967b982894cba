package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/schema"
	"github.com/strowger/strowger/internal/store"
)

// maxTreeWalk bounds descendant listings.
const maxTreeWalk = 10000

// accountView is an account's public view plus Kazoo's computed fields.
func (s *Server) accountView(d *store.Doc) map[string]any {
	out := publicView(d)
	out["created"] = d.Body["pvt_created"]
	out["superduper_admin"] = d.ID == s.Master
	out["is_reseller"] = d.Body["pvt_reseller"] == true || d.ID == s.Master
	tree := store.Tree(d.Body)
	out["reseller_id"] = s.Master
	if len(tree) > 0 {
		out["reseller_id"] = tree[0]
	}
	if v, ok := d.Body["pvt_reseller_id"].(string); ok && v != "" {
		out["reseller_id"] = v
	}
	if out["reseller_id"] == "" {
		delete(out, "reseller_id")
	}
	return out
}

// createAccount serves PUT /v2/accounts (a child of the token's account)
// and PUT /v2/accounts/{A} (a child of A).
func (s *Server) createAccount(rq *request) error {
	if !rq.p.admin() {
		return errForbidden()
	}
	if rq.account == "" {
		rq.account = rq.p.Account
	}
	parent, err := s.reach(rq)
	if err != nil {
		return err
	}
	body, _, err := rq.decodeEnvelope()
	if err != nil {
		return err
	}
	id := store.NewID()
	stripPrivate(body)
	// A missing or empty realm is generated; one of the wrong type is left
	// for the schema to reject.
	if realm, isString := body["realm"].(string); body["realm"] == nil || realm == "" && isString {
		body["realm"] = generatedRealm(s.cfg.RealmSuffix)
	} else if isString {
		body["realm"] = strings.ToLower(realm)
	}
	schema.ApplyDefaults("accounts", body)
	if v := schema.Validate("accounts", body); !v.Empty() {
		return errValidation(v)
	}
	tree := append(slices.Clone(store.Tree(parent.Body)), parent.ID)
	body["pvt_tree"] = tree
	body["pvt_api_key"] = auth.NewAPIKey()
	d, err := s.st.Create(rq.r.Context(), &store.Doc{Account: id, Type: store.TypeAccount, ID: id, Body: body})
	if err != nil {
		return asValidation(err)
	}
	rq.reply(http.StatusCreated, s.accountView(d), d.Rev)
	return nil
}

func generatedRealm(suffix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:]) + "." + suffix
}

func (s *Server) getAccount(rq *request) error {
	d, err := s.reach(rq)
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, s.accountView(d), d.Rev)
	return nil
}

func (s *Server) updateAccount(rq *request, merge bool) error {
	if _, err := s.reach(rq); err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	rev, err := ifMatch(rq.r)
	if err != nil {
		return err
	}
	body, _, err := rq.decodeEnvelope()
	if err != nil {
		return err
	}
	d, err := s.st.Update(rq.r.Context(), rq.account, store.TypeAccount, rq.account, rev, func(cur map[string]any) (map[string]any, error) {
		next := cloneJSON(body)
		stripPrivate(next)
		for _, computed := range []string{"created", "superduper_admin", "is_reseller", "reseller_id"} {
			delete(next, computed)
		}
		if merge {
			next = mergePatch(publicBody(cur), next)
		}
		if realm, ok := next["realm"].(string); ok {
			next["realm"] = strings.ToLower(realm)
		}
		if v := schema.Validate("accounts", next); !v.Empty() {
			return nil, errValidation(v)
		}
		return next, nil
	})
	if err != nil {
		return asValidation(err)
	}
	rq.reply(http.StatusOK, s.accountView(d), d.Rev)
	return nil
}

// deleteAccount removes an account and every document in it. It is refused
// while the account has descendants, for the master account, and for the
// caller's own account.
func (s *Server) deleteAccount(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	if !rq.p.admin() || acct.ID == s.Master || acct.ID == rq.p.Account {
		return errForbidden()
	}
	ctx := rq.r.Context()
	kids, err := s.st.Children(ctx, acct.ID)
	if err != nil {
		return err
	}
	if len(kids) > 0 {
		return &apiError{code: http.StatusBadRequest, message: "account has descendants",
			data: map[string]any{"message": "delete the account's sub-accounts first", "cause": kids}}
	}
	if err := s.purgeAccount(ctx, acct.ID); err != nil {
		return err
	}
	d, err := s.st.Delete(ctx, acct.ID, store.TypeAccount, acct.ID, 0)
	if err != nil {
		return err
	}
	s.forgetAccount(acct.ID)
	rq.reply(http.StatusOK, s.accountView(d), d.Rev)
	return nil
}

// purgeAccount deletes every document of an account but the account
// itself, which goes last so that an interrupted delete can be retried.
func (s *Server) purgeAccount(ctx context.Context, account string) error {
	for _, typ := range []string{store.TypeCallflow, store.TypeDevice, store.TypeVMBox, store.TypeMenu, store.TypeGroup,
		store.TypeTemporalRulesSet, store.TypeTemporalRule, store.TypeConference, store.TypeMedia, store.TypeUser, store.TypeLimits} {
		docs, err := s.st.List(ctx, account, typ)
		if err != nil {
			return err
		}
		for _, d := range docs {
			if _, err := s.st.Delete(ctx, account, typ, d.ID, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if typ == store.TypeMedia {
				_ = s.st.Buckets().Media.Delete(ctx, store.MediaObject(account, d.ID))
			}
		}
	}
	return nil
}

// accountSummaries loads accounts and returns their listing entries.
func (s *Server) accountSummaries(ctx context.Context, ids []string) ([]map[string]any, error) {
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		d, err := s.st.Account(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"id": d.ID, "name": d.Body["name"], "realm": d.Body["realm"],
			"descendants_count": nil, "tree": store.Tree(d.Body)})
	}
	return out, nil
}

func (s *Server) replyAccounts(rq *request, ids []string) error {
	slices.Sort(ids)
	list, err := s.accountSummaries(rq.r.Context(), ids)
	if err != nil {
		return err
	}
	for _, m := range list {
		delete(m, "descendants_count")
	}
	rq.replyPage(list, len(list), "", "")
	return nil
}

func (s *Server) accountChildren(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	kids, err := s.st.Children(rq.r.Context(), acct.ID)
	if err != nil {
		return err
	}
	return s.replyAccounts(rq, kids)
}

func (s *Server) accountDescendants(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	ids, err := s.st.Descendants(rq.r.Context(), acct.ID, maxTreeWalk)
	if err != nil {
		return err
	}
	return s.replyAccounts(rq, ids)
}

// accountSiblings lists the other children of the account's parent. A
// token that does not reach the parent sees nothing of its siblings.
func (s *Server) accountSiblings(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	tree := store.Tree(acct.Body)
	if len(tree) == 0 {
		return s.replyAccounts(rq, nil)
	}
	parent, err := s.st.Account(rq.r.Context(), tree[len(tree)-1])
	if err != nil {
		return err
	}
	if !s.canReach(rq.p, parent) {
		return errForbidden()
	}
	kids, err := s.st.Children(rq.r.Context(), parent.ID)
	if err != nil {
		return err
	}
	var sibs []string
	for _, k := range kids {
		if k != acct.ID {
			sibs = append(sibs, k)
		}
	}
	return s.replyAccounts(rq, sibs)
}

// accountParents lists the ancestors the token may see (root first):
// a token never learns about accounts above its own.
func (s *Server) accountParents(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	tree := store.Tree(acct.Body)
	if !rq.p.Master {
		if i := slices.Index(tree, rq.p.Account); i >= 0 {
			tree = tree[i:]
		} else {
			tree = nil
		}
	}
	list, err := s.accountSummaries(rq.r.Context(), tree)
	if err != nil {
		return err
	}
	for _, m := range list {
		delete(m, "descendants_count")
		delete(m, "tree")
	}
	rq.replyPage(list, len(list), "", "")
	return nil
}

func (s *Server) getAPIKey(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	rq.reply(http.StatusOK, map[string]any{"api_key": acct.Body["pvt_api_key"]}, 0)
	return nil
}

func (s *Server) regenerateAPIKey(rq *request) error {
	if _, err := s.reach(rq); err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	key := auth.NewAPIKey()
	if err := s.st.SetPrivate(rq.r.Context(), rq.account, store.TypeAccount, rq.account, "pvt_api_key", key); err != nil {
		return err
	}
	rq.reply(http.StatusCreated, map[string]any{"api_key": key}, 0)
	return nil
}
