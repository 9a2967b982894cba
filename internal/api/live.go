package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strowger/strowger/internal/store"
)

// RegistrationSource reads an account's SIP bindings (the edge writes them).
type RegistrationSource interface {
	// List returns the account's live bindings in Kazoo's registration shape.
	List(ctx context.Context, account string) ([]map[string]any, error)
	// Flush removes every binding of the account.
	Flush(ctx context.Context, account string) (int, error)
	// FlushUser removes every binding of one SIP username in the account.
	FlushUser(ctx context.Context, account, username string) (int, error)
}

// ChannelSource reads an account's live calls (the media nodes write them).
type ChannelSource interface {
	List(ctx context.Context, account string) ([]map[string]any, error)
}

// CDRSource reads an account's call detail records.
type CDRSource interface {
	// List returns the CDRs created in [from, to], oldest first. An error
	// with a TooLarge() bool method reporting true means the range holds
	// more records than the source serves at once (answered 416).
	List(ctx context.Context, account string, from, to time.Time) ([]map[string]any, error)
	// Get returns one CDR, store.ErrNotFound when absent.
	Get(ctx context.Context, account, id string) (map[string]any, error)
}

// maxCDRRange is Kazoo's crossbar.maximum_range: 31 days and an hour.
const maxCDRRange = 31*24*time.Hour + time.Hour

func (s *Server) liveRoutes() {
	s.handle("/v2/accounts/{account}/registrations", map[string]handlerFunc{
		http.MethodGet:    s.listRegistrations,
		http.MethodDelete: s.flushRegistrations,
	}, false)
	s.handle("/v2/accounts/{account}/registrations/count", map[string]handlerFunc{http.MethodGet: s.countRegistrations}, false)
	s.handle("/v2/accounts/{account}/registrations/{username}", map[string]handlerFunc{http.MethodDelete: s.flushUserRegistrations}, false)
	s.handle("/v2/accounts/{account}/devices/status", map[string]handlerFunc{http.MethodGet: s.deviceStatus}, false)
	s.handle("/v2/accounts/{account}/channels", map[string]handlerFunc{http.MethodGet: s.listChannels}, false)
	s.handle("/v2/accounts/{account}/channels/{uuid}", map[string]handlerFunc{http.MethodGet: s.getChannel}, false)
	s.handle("/v2/accounts/{account}/users/{user}/channels", map[string]handlerFunc{http.MethodGet: s.listOwnChannels("user", store.TypeUser)}, false)
	s.handle("/v2/accounts/{account}/devices/{device}/channels", map[string]handlerFunc{http.MethodGet: s.listOwnChannels("device", store.TypeDevice)}, false)
	s.handle("/v2/accounts/{account}/cdrs", map[string]handlerFunc{http.MethodGet: s.listCDRs}, false)
	s.handle("/v2/accounts/{account}/cdrs/{id}", map[string]handlerFunc{http.MethodGet: s.getCDR}, false)
	s.handle("/v2/accounts/{account}/cdrs/interaction", map[string]handlerFunc{http.MethodGet: s.listInteractions}, false)
	s.handle("/v2/accounts/{account}/cdrs/legs/{interaction}", map[string]handlerFunc{http.MethodGet: s.listInteractionLegs}, false)
	s.handle("/v2/accounts/{account}/users/{user}/cdrs", map[string]handlerFunc{http.MethodGet: s.listUserCDRs}, false)
}

// adminReach is reach plus admin rights: live state is an administrator's view.
func (s *Server) adminReach(rq *request) error {
	if _, err := s.reach(rq); err != nil {
		return err
	}
	if !rq.p.admin() {
		return errForbidden()
	}
	return nil
}

// adminRegistrations checks admin reach and reads the account's bindings
// (none when no source is wired).
func (s *Server) adminRegistrations(rq *request) ([]map[string]any, error) {
	if err := s.adminReach(rq); err != nil {
		return nil, err
	}
	if s.Registrations == nil {
		return []map[string]any{}, nil
	}
	regs, err := s.Registrations.List(rq.r.Context(), rq.account)
	if err != nil {
		return nil, err
	}
	if regs == nil {
		regs = []map[string]any{}
	}
	return regs, nil
}

func (s *Server) listRegistrations(rq *request) error {
	regs, err := s.adminRegistrations(rq)
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, regs, 0)
	return nil
}

func (s *Server) countRegistrations(rq *request) error {
	regs, err := s.adminRegistrations(rq)
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, map[string]any{"count": len(regs)}, 0)
	return nil
}

// flushWith checks admin reach and answers how many bindings flush removed
// (none when no source is wired).
func (s *Server) flushWith(rq *request, flush func(ctx context.Context, src RegistrationSource) (int, error)) error {
	if err := s.adminReach(rq); err != nil {
		return err
	}
	n := 0
	if s.Registrations != nil {
		var err error
		if n, err = flush(rq.r.Context(), s.Registrations); err != nil {
			return err
		}
	}
	rq.reply(http.StatusOK, map[string]any{"flushed": n}, 0)
	return nil
}

func (s *Server) flushRegistrations(rq *request) error {
	return s.flushWith(rq, func(ctx context.Context, src RegistrationSource) (int, error) {
		return src.Flush(ctx, rq.account)
	})
}

func (s *Server) flushUserRegistrations(rq *request) error {
	return s.flushWith(rq, func(ctx context.Context, src RegistrationSource) (int, error) {
		return src.FlushUser(ctx, rq.account, rq.r.PathValue("username"))
	})
}

// deviceStatus answers Kazoo's [{device_id, registered}] for the account's
// registered devices.
func (s *Server) deviceStatus(rq *request) error {
	regs, err := s.adminRegistrations(rq)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	out := []map[string]any{}
	for _, r := range regs {
		id, _ := r["authorizing_id"].(string)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, map[string]any{"device_id": id, "registered": true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["device_id"].(string) < out[j]["device_id"].(string) })
	rq.reply(http.StatusOK, out, 0)
	return nil
}

func (s *Server) listChannels(rq *request) error {
	if err := s.adminReach(rq); err != nil {
		return err
	}
	chans, err := s.channels(rq)
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, append([]map[string]any{}, chans...), 0)
	return nil
}

// channels reads the account's live channels (none without a source).
func (s *Server) channels(rq *request) ([]map[string]any, error) {
	if s.Channels == nil {
		return nil, nil
	}
	return s.Channels.List(rq.r.Context(), rq.account)
}

// getChannel is GET /channels/{uuid}: one live leg of the account.
func (s *Server) getChannel(rq *request) error {
	if err := s.adminReach(rq); err != nil {
		return err
	}
	id := rq.r.PathValue("uuid")
	chans, err := s.channels(rq)
	if err != nil {
		return err
	}
	for _, c := range chans {
		if c["uuid"] == id {
			rq.reply(http.StatusOK, c, 0)
			return nil
		}
	}
	return errBadIdentifier(id)
}

// listOwnChannels serves /users/{U}/channels and /devices/{D}/channels:
// the live legs a user owns or a device places or receives. An admin sees
// any; a user sees its own and its devices'. An unknown id is 404.
func (s *Server) listOwnChannels(param, typ string) handlerFunc {
	return func(rq *request) error {
		if _, err := s.reach(rq); err != nil {
			return err
		}
		id := rq.r.PathValue(param)
		doc, err := s.st.Get(rq.r.Context(), rq.account, typ, id)
		if errors.Is(err, store.ErrNotFound) {
			return errBadIdentifier(id)
		}
		if err != nil {
			return err
		}
		owner := id
		if typ == store.TypeDevice {
			owner, _ = doc.Body["owner_id"].(string)
		}
		if !rq.p.admin() && (rq.p.Owner == "" || rq.p.Owner != owner) {
			return errForbidden()
		}
		chans, err := s.channels(rq)
		if err != nil {
			return err
		}
		field := "owner_id"
		if typ == store.TypeDevice {
			field = "authorizing_id"
		}
		rq.reply(http.StatusOK, keepRows(chans, func(c map[string]any) bool { return c[field] == id }), 0)
		return nil
	}
}

// cdrQuery is a CDR listing request: the created range and Kazoo's
// listing parameters.
type cdrQuery struct {
	from, to time.Time
	lq       *listQuery
}

// parseCDRQuery reads created_from/created_to (Gregorian seconds; default
// the last day) and the listing parameters.
func (s *Server) parseCDRQuery(rq *request) (*cdrQuery, error) {
	q := rq.r.URL.Query()
	now := s.clock.Now()
	to, from := now, now.Add(-24*time.Hour)
	var err error
	if v := q.Get("created_to"); v != "" {
		if to, err = parseGregorian("created_to", v); err != nil {
			return nil, err
		}
		if q.Get("created_from") == "" {
			from = to.Add(-24 * time.Hour)
		}
	}
	if v := q.Get("created_from"); v != "" {
		if from, err = parseGregorian("created_from", v); err != nil {
			return nil, err
		}
	}
	if to.Before(from) {
		return nil, fieldError("created_to", "date_range", "created_to is before created_from")
	}
	if to.Sub(from) > maxCDRRange {
		return nil, fieldError("created_from", "date_range", fmt.Sprintf("the range may span at most %s", maxCDRRange))
	}
	lq, err := parseListQuery(q, s.cfg.PageSize, s.cfg.MaxPageSize)
	if err != nil {
		return nil, err
	}
	// The source applies the created range; CDRs have no pvt_created for
	// the generic filter to test.
	lq.filters = slices.DeleteFunc(lq.filters, func(f filter) bool { return strings.HasPrefix(f.kind, "created_") })
	// CDRs list newest first unless asked otherwise, as Kazoo does.
	if q.Get("ascending") == "" && q.Get("descending") == "" {
		lq.ascending = false
	}
	return &cdrQuery{from: from, to: to, lq: lq}, nil
}

// cdrs reads the account's CDRs in the query's range, oldest first.
func (s *Server) cdrs(rq *request, cq *cdrQuery) ([]map[string]any, error) {
	if s.CDRs == nil {
		return nil, nil
	}
	cdrs, err := s.CDRs.List(rq.r.Context(), rq.account, cq.from, cq.to)
	if err != nil {
		var big interface{ TooLarge() bool }
		if errors.As(err, &big) && big.TooLarge() {
			return nil, &apiError{code: http.StatusRequestedRangeNotSatisfiable, message: "range not satisfiable",
				data: map[string]any{"message": err.Error()}}
		}
		return nil, err
	}
	return cdrs, nil
}

// replyCDRs filters, orders and pages rows (CDR bodies) and answers them
// as JSON or CSV. Pages run in time order: the key is the creation time,
// then the id.
func (s *Server) replyCDRs(rq *request, cq *cdrQuery, rows []map[string]any) error {
	docs := make([]*store.Doc, 0, len(rows))
	for _, c := range rows {
		id, _ := c["id"].(string)
		docs = append(docs, &store.Doc{ID: fmt.Sprintf("%012d.%s", toInt(c["timestamp"]), id), Body: c})
	}
	page, next, err := cq.lq.page(docs, s.cfg.MaxUnpaginated)
	if err != nil {
		return err
	}
	out := make([]map[string]any, 0, len(page))
	for _, d := range page {
		out = append(out, d.Body)
	}
	if wantsCSV(rq.r) {
		return writeCSV(rq, out)
	}
	start := ""
	if len(page) > 0 {
		start = encodeStartKey(page[0].ID)
	}
	rq.replyPage(out, len(out), start, next)
	return nil
}

// serveCDRs answers a CDR listing: it checks access with authorize, reads
// the query's range and answers the rows pick keeps, paged as JSON or CSV.
func (s *Server) serveCDRs(rq *request, authorize func(*request) error, pick func(rows []map[string]any) []map[string]any) error {
	if err := authorize(rq); err != nil {
		return err
	}
	cq, err := s.parseCDRQuery(rq)
	if err != nil {
		return err
	}
	rows, err := s.cdrs(rq, cq)
	if err != nil {
		return err
	}
	return s.replyCDRs(rq, cq, pick(rows))
}

// listCDRs serves the account's CDRs in a Gregorian-seconds range (default:
// the last day), paginated, as JSON or CSV.
func (s *Server) listCDRs(rq *request) error {
	return s.serveCDRs(rq, s.adminReach, func(rows []map[string]any) []map[string]any { return rows })
}

// interactionOf is the interaction a CDR belongs to: its interaction_id,
// or for a record without one its own call.
func interactionOf(c map[string]any) string {
	if id, _ := c["interaction_id"].(string); id != "" {
		return id
	}
	id, _ := c["call_id"].(string)
	return id
}

// listInteractions serves one CDR per interaction (a call with all its
// legs): the leg that came into the platform, else the earliest.
func (s *Server) listInteractions(rq *request) error {
	return s.serveCDRs(rq, s.adminReach, func(rows []map[string]any) []map[string]any {
		first := map[string]map[string]any{}
		var order []string
		for _, c := range rows { // oldest first
			key := interactionOf(c)
			cur, seen := first[key]
			switch {
			case !seen:
				first[key] = c
				order = append(order, key)
			case cur["call_direction"] != "inbound" && c["call_direction"] == "inbound":
				first[key] = c
			}
		}
		out := make([]map[string]any, 0, len(order))
		for _, k := range order {
			out = append(out, first[k])
		}
		return out
	})
}

// listInteractionLegs serves every CDR of one interaction in the range.
func (s *Server) listInteractionLegs(rq *request) error {
	want := rq.r.PathValue("interaction")
	return s.serveCDRs(rq, s.adminReach, func(rows []map[string]any) []map[string]any {
		return keepRows(rows, func(c map[string]any) bool { return interactionOf(c) == want })
	})
}

// keepRows returns, in a new slice, the rows keep reports true for; the
// source's slice is left as it was.
func keepRows(rows []map[string]any, keep func(map[string]any) bool) []map[string]any {
	out := []map[string]any{}
	for _, c := range rows {
		if keep(c) {
			out = append(out, c)
		}
	}
	return out
}

// listUserCDRs serves the CDRs of the legs a user owned. A user may read
// their own; administrators any user's of the accounts they reach.
func (s *Server) listUserCDRs(rq *request) error {
	user := rq.r.PathValue("user")
	return s.serveCDRs(rq, func(rq *request) error {
		if _, err := s.reach(rq); err != nil {
			return err
		}
		if !rq.p.admin() && rq.p.Owner != user {
			return errForbidden()
		}
		if _, err := s.st.Get(rq.r.Context(), rq.account, store.TypeUser, user); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errBadIdentifier(user)
			}
			return err
		}
		return nil
	}, func(rows []map[string]any) []map[string]any {
		return keepRows(rows, func(c map[string]any) bool {
			ccv, _ := c["custom_channel_vars"].(map[string]any)
			return ccv["owner_id"] == user
		})
	})
}

func (s *Server) getCDR(rq *request) error {
	if err := s.adminReach(rq); err != nil {
		return err
	}
	if s.CDRs == nil {
		return errBadIdentifier(rq.r.PathValue("id"))
	}
	c, err := s.CDRs.Get(rq.r.Context(), rq.account, rq.r.PathValue("id"))
	if err != nil {
		return err
	}
	rq.reply(http.StatusOK, c, 0)
	return nil
}

func parseGregorian(field, v string) (time.Time, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fieldError(field, "type", field+" must be Gregorian seconds (a whole number)")
	}
	return store.FromGregorian(n), nil
}

func wantsCSV(r *http.Request) bool {
	a := r.URL.Query().Get("accept")
	if a == "" {
		a = r.Header.Get("Accept")
	}
	return strings.Contains(a, "text/csv") || a == "csv"
}

// writeCSV answers a listing as CSV: one column per key seen, sorted,
// nested values as JSON.
func writeCSV(rq *request, rows []map[string]any) error {
	colSet := map[string]bool{}
	for _, r := range rows {
		for k := range r {
			colSet[k] = true
		}
	}
	cols := make([]string, 0, len(colSet))
	for k := range colSet {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(cols)
	for _, r := range rows {
		rec := make([]string, len(cols))
		for i, c := range cols {
			switch v := r[c].(type) {
			case nil:
			case string:
				rec[i] = v
			default:
				b, _ := json.Marshal(v)
				rec[i] = string(b)
			}
		}
		_ = w.Write(rec)
	}
	w.Flush()
	name := rq.r.URL.Query().Get("file_name")
	if name == "" {
		name = "cdrs.csv"
	}
	h := rq.w.Header()
	h.Set("Content-Type", "text/csv")
	h.Set("X-File-Name", name)
	h.Set("Content-Disposition", `attachment; filename="`+strings.ReplaceAll(name, `"`, "")+`"`)
	h.Set("X-Request-ID", rq.id)
	rq.w.WriteHeader(http.StatusOK)
	_, _ = rq.w.Write(buf.Bytes())
	return nil
}
