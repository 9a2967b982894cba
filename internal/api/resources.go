package api

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/strowger/strowger/internal/schema"
	"github.com/strowger/strowger/internal/store"
	"github.com/strowger/strowger/internal/validation"
)

// userScope says what a plain (priv_level user) token may do with a resource.
type userScope int

const (
	// userNone: nothing.
	userNone userScope = iota
	// userOwned: read, list and edit documents whose owner_id is the user.
	userOwned
	// userSelf: read, list and edit the user's own user document.
	userSelf
)

// resource describes one document collection under /v2/accounts/{A}/.
type resource struct {
	path    string   // URL segment, e.g. "devices"
	docType string   // store type
	schema  string   // schema name
	summary []string // fields (dotted) of the listing summary; "id" always
	putID   bool     // PUT /{id} creates with a chosen ID
	patch   bool     // PATCH allowed
	users   userScope
	// prepare checks and completes a body before it is stored: references
	// to other documents, derived private fields. cur is nil on create.
	prepare func(ctx context.Context, rq *request, id string, body, cur map[string]any) error
	// afterDelete cleans what the document owned outside the store.
	afterDelete func(ctx context.Context, rq *request, d *store.Doc)
	// private lists the private fields prepare computes on update. The
	// store carries private fields over unchanged on Update, so changed
	// ones are written afterwards with SetPrivate.
	private []string
}

// publicView strips private fields and adds the ID.
func publicView(d *store.Doc) map[string]any {
	out := make(map[string]any, len(d.Body))
	for k, v := range d.Body {
		if strings.HasPrefix(k, "pvt_") || strings.HasPrefix(k, "_") {
			continue
		}
		out[k] = v
	}
	out["id"] = d.ID
	return out
}

// stripPrivate removes fields clients may not set.
func stripPrivate(body map[string]any) {
	for k := range body {
		if strings.HasPrefix(k, "pvt_") || strings.HasPrefix(k, "_") || k == "id" {
			delete(body, k)
		}
	}
}

func (res *resource) summarize(d *store.Doc) map[string]any {
	out := map[string]any{"id": d.ID}
	for _, f := range res.summary {
		path := strings.Split(f, ".")
		if v, ok := lookup(d.Body, path); ok {
			out[path[len(path)-1]] = v
		}
	}
	return out
}

// ifMatch reads the revision a client states (If-Match), 0 when none.
func ifMatch(r *http.Request) (uint64, error) {
	v := strings.TrimSpace(r.Header.Get("If-Match"))
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.Trim(strings.TrimPrefix(v, "W/"), `"`)
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 {
		return 0, fieldError("If-Match", "format", "If-Match must be a revision this server issued")
	}
	return n, nil
}

// userMayTouch applies the plain-user scope to one document.
func (res *resource) userMayTouch(p *principal, d *store.Doc) bool {
	if p.admin() {
		return true
	}
	switch res.users {
	case userSelf:
		return d.ID == p.Owner
	case userOwned:
		owner, _ := d.Body["owner_id"].(string)
		return owner != "" && owner == p.Owner
	}
	return false
}

func (s *Server) resourceRoutes(res *resource) {
	base := "/v2/accounts/{account}/" + res.path
	s.handle(base, map[string]handlerFunc{
		http.MethodGet: func(rq *request) error { return s.listDocs(rq, res) },
		http.MethodPut: func(rq *request) error { return s.createDoc(rq, res, "") },
	}, false)
	item := map[string]handlerFunc{
		http.MethodGet:    func(rq *request) error { return s.getDoc(rq, res) },
		http.MethodPost:   func(rq *request) error { return s.updateDoc(rq, res, false) },
		http.MethodDelete: func(rq *request) error { return s.deleteDoc(rq, res) },
	}
	if res.patch {
		item[http.MethodPatch] = func(rq *request) error { return s.updateDoc(rq, res, true) }
	}
	if res.putID {
		item[http.MethodPut] = func(rq *request) error { return s.createDoc(rq, res, rq.r.PathValue("id")) }
	}
	s.handle(base+"/{id}", item, false)
}

// scope checks account reach and the plain-user scope of a resource.
func (s *Server) scope(rq *request, res *resource) (struct{}, error) {
	if err := s.reachTree(rq); err != nil {
		return struct{}{}, err
	}
	if !rq.p.admin() && res.users == userNone {
		return struct{}{}, errForbidden()
	}
	return struct{}{}, nil
}

func (s *Server) listDocs(rq *request, res *resource) error {
	if _, err := s.scope(rq, res); err != nil {
		return err
	}
	lq, err := parseListQuery(rq.r.URL.Query(), s.cfg.PageSize, s.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	docs, err := s.st.List(rq.r.Context(), rq.account, res.docType)
	if err != nil {
		return err
	}
	if !rq.p.admin() {
		kept := docs[:0]
		for _, d := range docs {
			if res.userMayTouch(rq.p, d) {
				kept = append(kept, d)
			}
		}
		docs = kept
	}
	page, next, err := lq.page(docs, s.cfg.MaxUnpaginated)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(page))
	for _, d := range page {
		out = append(out, res.summarize(d))
	}
	start := ""
	if len(page) > 0 {
		start = encodeStartKey(page[0].ID)
	}
	rq.replyPage(out, len(out), start, next)
	return nil
}

func (s *Server) getDoc(rq *request, res *resource) error {
	if _, err := s.scope(rq, res); err != nil {
		return err
	}
	id := rq.r.PathValue("id")
	d, err := s.st.Get(rq.r.Context(), rq.account, res.docType, id)
	if err != nil {
		return err
	}
	if !res.userMayTouch(rq.p, d) {
		return errForbidden()
	}
	rq.reply(http.StatusOK, publicView(d), d.Rev)
	return nil
}

// validate applies defaults (on create) and the schema, then the
// resource's own checks.
func (s *Server) validate(ctx context.Context, rq *request, res *resource, id string, body, cur map[string]any, create bool) error {
	stripPrivate(body)
	if create {
		schema.ApplyDefaults(res.schema, body)
	}
	if v := schema.Validate(res.schema, body); !v.Empty() {
		return errValidation(v)
	}
	if res.prepare != nil {
		return res.prepare(ctx, rq, id, body, cur)
	}
	return nil
}

func (s *Server) createDoc(rq *request, res *resource, id string) error {
	if _, err := s.scope(rq, res); err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	if id != "" && !store.IsID(id) {
		return fieldError("id", "pattern", "IDs are 32 lowercase hexadecimal characters", "cause", id)
	}
	if id == "" {
		id = store.NewID()
	}
	body, _, err := rq.decodeEnvelope()
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	if err := s.validate(ctx, rq, res, id, body, nil, true); err != nil {
		return err
	}
	d, err := s.st.Create(ctx, &store.Doc{Account: rq.account, Type: res.docType, ID: id, Body: body})
	if err != nil {
		return asValidation(err)
	}
	rq.reply(http.StatusCreated, publicView(d), d.Rev)
	return nil
}

// updateDoc serves POST (replace) and PATCH (merge, null removes).
func (s *Server) updateDoc(rq *request, res *resource, merge bool) error {
	if _, err := s.scope(rq, res); err != nil {
		return err
	}
	rev, err := ifMatch(rq.r)
	if err != nil {
		return err
	}
	body, _, err := rq.decodeEnvelope()
	if err != nil {
		return err
	}
	id := rq.r.PathValue("id")
	ctx := rq.r.Context()
	var private map[string]any // computed private fields that changed
	d, err := s.st.Update(ctx, rq.account, res.docType, id, rev, func(cur map[string]any) (map[string]any, error) {
		private = nil
		curDoc := &store.Doc{ID: id, Body: cur}
		if !res.userMayTouch(rq.p, curDoc) {
			return nil, errForbidden()
		}
		next := cloneJSON(body)
		if merge {
			next = mergePatch(publicBody(cur), next)
		}
		if err := s.validate(ctx, rq, res, id, next, cur, false); err != nil {
			return nil, err
		}
		// A plain user cannot hand a document to someone else.
		if !rq.p.admin() && res.users == userOwned && next["owner_id"] != cur["owner_id"] {
			return nil, fieldError("owner_id", "forbidden", "Only an administrator can change the owner")
		}
		for _, k := range res.private {
			if !reflect.DeepEqual(next[k], cur[k]) {
				if private == nil {
					private = map[string]any{}
				}
				private[k] = next[k]
			}
		}
		return next, nil
	})
	if err != nil {
		return asValidation(err)
	}
	if len(private) > 0 {
		for k, v := range private {
			if err := s.st.SetPrivate(ctx, rq.account, res.docType, id, k, v); err != nil {
				return asValidation(err)
			}
		}
		if d, err = s.st.Get(ctx, rq.account, res.docType, id); err != nil {
			return err
		}
	}
	rq.reply(http.StatusOK, publicView(d), d.Rev)
	return nil
}

func (s *Server) deleteDoc(rq *request, res *resource) error {
	if _, err := s.scope(rq, res); err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	rev, err := ifMatch(rq.r)
	if err != nil {
		return err
	}
	d, err := s.st.Delete(rq.r.Context(), rq.account, res.docType, rq.r.PathValue("id"), rev)
	if err != nil {
		return err
	}
	if res.afterDelete != nil {
		res.afterDelete(rq.r.Context(), rq, d)
	}
	rq.reply(http.StatusOK, publicView(d), d.Rev)
	return nil
}

// asValidation passes validation errors from the store (unique rules) on
// as 400s.
func asValidation(err error) error {
	var v validation.Errors
	if errors.As(err, &v) {
		return errValidation(v)
	}
	return err
}

// publicBody is a stored body without private fields.
func publicBody(body map[string]any) map[string]any {
	out := make(map[string]any, len(body))
	for k, v := range body {
		if !strings.HasPrefix(k, "pvt_") && !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return out
}

// mergePatch applies a JSON merge patch (RFC 7396): objects merge
// recursively, null removes a key.
func mergePatch(dst, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(dst, k)
			continue
		}
		if pm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = mergePatch(dm, pm)
				continue
			}
			dst[k] = mergePatch(map[string]any{}, pm)
			continue
		}
		dst[k] = v
	}
	return dst
}

// cloneJSON deep-copies a document body; a nil body becomes an empty one.
func cloneJSON(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return store.CloneJSON(m).(map[string]any)
}
