package api

import (
	"errors"
	"net/http"

	"github.com/strowger/strowger/internal/schema"
	"github.com/strowger/strowger/internal/store"
)

// limitsID is the fixed ID of an account's limits document, as in Kazoo.
const limitsID = "limits"

// getLimits returns the account's limits (the schema's defaults when none
// have been set).
func (s *Server) getLimits(rq *request) error {
	if _, err := s.reach(rq); err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	d, err := s.st.Get(rq.r.Context(), rq.account, store.TypeLimits, limitsID)
	if errors.Is(err, store.ErrNotFound) {
		body := map[string]any{}
		schema.ApplyDefaults("limits", body)
		body["id"] = limitsID
		rq.reply(http.StatusOK, body, 0)
		return nil
	}
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, publicView(d), d.Rev)
	return nil
}

// setLimits replaces the limits. Only an ancestor (reseller) or the master
// may: an account cannot raise its own limits.
func (s *Server) setLimits(rq *request) error {
	acct, err := s.reach(rq)
	if err != nil {
		return err
	}
	if !s.ancestorOf(rq.p, acct) {
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
	stripPrivate(body)
	schema.ApplyDefaults("limits", body)
	if v := schema.Validate("limits", body); !v.Empty() {
		return errValidation(v)
	}
	ctx := rq.r.Context()
	d, err := s.st.Update(ctx, rq.account, store.TypeLimits, limitsID, rev, func(map[string]any) (map[string]any, error) {
		return cloneJSON(body), nil
	})
	if errors.Is(err, store.ErrNotFound) && rev == 0 {
		d, err = s.st.Create(ctx, &store.Doc{Account: rq.account, Type: store.TypeLimits, ID: limitsID, Body: body})
		if errors.Is(err, store.ErrExists) {
			return errConflict()
		}
	}
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, publicView(d), d.Rev)
	return nil
}
