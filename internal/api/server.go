// Package api is the REST role: Kazoo crossbar v2 compatible endpoints over
// the document store, with token authentication and account-tree
// authorization. One routes table (routes.go), one file per resource.
//
// Only internal/node imports api. It reaches live state (registrations,
// calls, CDRs) through the narrow interfaces declared in sources.go.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/strowger/strowger/internal/auth"
	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// Config tunes the API.
type Config struct {
	// NodeName is reported in every envelope's "node".
	NodeName string
	// Version is reported to authenticated callers.
	Version string
	// RealmSuffix forms generated account realms: <8 hex>.<suffix>.
	RealmSuffix string
	// MaxBodyBytes caps JSON request bodies (413 beyond).
	MaxBodyBytes int64
	// MaxMediaBytes caps uploaded media files (413 beyond).
	MaxMediaBytes int64
	// PageSize is the default listing page size; MaxPageSize its cap.
	PageSize, MaxPageSize int
	// MaxUnpaginated caps ?paginate=false listings (416 beyond).
	MaxUnpaginated int
	// LoginRate and LoginBurst limit authentication attempts per client IP.
	LoginRate  rate.Limit
	LoginBurst int
}

func (c *Config) setDefaults() {
	if c.RealmSuffix == "" {
		c.RealmSuffix = "sip.strowger.local"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.MaxMediaBytes == 0 {
		c.MaxMediaBytes = 11 << 20
	}
	if c.PageSize == 0 {
		c.PageSize = 50
	}
	if c.MaxPageSize == 0 {
		c.MaxPageSize = 1000
	}
	if c.MaxUnpaginated == 0 {
		c.MaxUnpaginated = 10000
	}
	if c.LoginRate == 0 {
		c.LoginRate = 2
	}
	if c.LoginBurst == 0 {
		c.LoginBurst = 20
	}
}

// Deps are what the API needs from the node.
type Deps struct {
	Store  *store.Store
	Signer *auth.Signer
	Log    *slog.Logger
	Clock  clock.Clock
	// Master is the master account's ID.
	Master string
	// Live state; any may be nil, and the endpoints then answer empty lists.
	Registrations RegistrationSource
	Channels      ChannelSource
	CDRs          CDRSource
}

// Server is the REST API handler.
type Server struct {
	Deps
	cfg     Config
	st      *store.Store
	log     *slog.Logger
	clock   clock.Clock
	mux     *http.ServeMux
	limMu   sync.Mutex
	limits  map[string]*rate.Limiter
	limSeen time.Time
	// tokens caches verified tokens (string → *auth.Claims).
	tokens     sync.Map
	tokenCount atomic.Int64
	// basic caches verified HTTP Basic credentials (sha256 → basicEntry).
	basic      sync.Map
	basicCount atomic.Int64
	// trees caches account ancestry (account ID → *treeEntry), immutable
	// once created; a fresh entry also means "this account exists".
	// Deletions drop entries: directly on the node that deletes, by
	// document event on the others, and entries age out after treeTTL in
	// case an event was missed.
	trees     sync.Map
	stopWatch func()
}

// New builds the API server.
func New(cfg Config, d Deps) *Server {
	cfg.setDefaults()
	s := &Server{Deps: d, cfg: cfg, st: d.Store, log: d.Log, clock: d.Clock, limits: map[string]*rate.Limiter{}}
	s.mux = http.NewServeMux()
	s.routes()
	s.stopWatch = func() {}
	if s.st != nil {
		stop, err := s.st.WatchDocEvents(bus.DocEventsType(store.TypeAccount), func(ev store.DocEvent) {
			if ev.Action == "deleted" {
				s.forgetAccount(ev.ID)
			}
		})
		if err != nil {
			// Deletions on other nodes then reach this node's caches only
			// through misses; deletions here still invalidate at once.
			s.log.Error("watching account deletions", "err", err)
		} else {
			s.stopWatch = stop
		}
	}
	return s
}

// Close stops the server's background work (its event subscription).
func (s *Server) Close() { s.stopWatch() }

// forgetAccount drops a deleted account from the caches, so neither its
// tokens nor its ancestors' cached reads reach it any more.
func (s *Server) forgetAccount(id string) { s.trees.Delete(id) }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s }

// handlerFunc is an endpoint: it returns nil after replying, or an error
// that becomes the error envelope.
type handlerFunc func(rq *request) error

// ServeHTTP applies the cross-cutting behaviour every endpoint shares.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// CORS: Kazoo's web UI is served from another origin.
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, PUT, POST, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Depth, User-Agent, X-Http-Method-Override, X-File-Size, X-Requested-With, If-Modified-Since, X-File-Name, Cache-Control, X-Auth-Token, If-Match, Accept, Range")
	h.Set("Access-Control-Expose-Headers", "Content-Type, X-Request-ID, ETag, Location, X-File-Name")
	h.Set("Access-Control-Max-Age", "86400")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// Verb tunnelling, as Kazoo allows it.
	if r.Method == http.MethodPost {
		if v := r.URL.Query().Get("verb"); v != "" {
			r.Method = strings.ToUpper(v)
		} else if v := r.Header.Get("X-HTTP-Method-Override"); v != "" {
			r.Method = strings.ToUpper(v)
		} else if v := s.envelopeVerb(r); v != "" {
			r.Method = strings.ToUpper(v)
		}
	}
	s.mux.ServeHTTP(w, r)
}

// envelopeVerb reads the "verb" of a POSTed JSON envelope (Kazoo's
// {"verb":"PUT","data":…}) and puts the body back for the handler. Bodies
// over the size limit are left for the handler to refuse.
func (s *Server) envelopeVerb(r *http.Request) string {
	if r.Body == nil || r.Body == http.NoBody {
		return ""
	}
	switch ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(strings.ToLower(ct)) {
	case "", "application/json", "application/x-www-form-urlencoded":
	default:
		return ""
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBodyBytes+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil || int64(len(head)) > s.cfg.MaxBodyBytes {
		return ""
	}
	var env struct {
		Verb string `json:"verb"`
	}
	if json.Unmarshal(head, &env) != nil {
		return ""
	}
	switch v := strings.ToUpper(env.Verb); v {
	case http.MethodPut, http.MethodDelete, http.MethodPatch:
		return v
	}
	return ""
}

// handle registers an endpoint. verbs maps HTTP methods to handlers; other
// methods get 405 in Kazoo's envelope.
func (s *Server) handle(pattern string, verbs map[string]handlerFunc, public bool) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		rq := &request{w: w, r: r, srv: s, id: newRequestID(), start: s.clock.Now(), account: r.PathValue("account")}
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic in handler", "request_id", rq.id, "path", r.URL.Path, "panic", fmt.Sprint(v))
				rq.fail(errInternal())
			}
		}()
		h, ok := verbs[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = verbs[http.MethodGet]
		}
		if !ok {
			rq.fail(errMethod())
			return
		}
		if !public {
			if err := s.authenticate(rq); err != nil {
				rq.fail(err)
				return
			}
		}
		if err := h(rq); err != nil {
			rq.fail(mapStoreError(err, r.PathValue("id")))
		}
	})
}

// mapStoreError turns store errors into API errors.
func mapStoreError(err error, id string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errBadIdentifier(id)
	case errors.Is(err, store.ErrConflict):
		return errConflict()
	case errors.Is(err, store.ErrExists):
		return fieldError("id", "unique", "A document with this ID already exists", "cause", id)
	case errors.Is(err, context.DeadlineExceeded):
		return errUnavailable()
	}
	return err
}

// allowLogin applies the per-IP limit on authentication attempts.
func (s *Server) allowLogin(r *http.Request) bool {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	s.limMu.Lock()
	defer s.limMu.Unlock()
	now := s.clock.Now()
	// Forget idle limiters now and then so the map stays bounded.
	if now.Sub(s.limSeen) > 10*time.Minute || len(s.limits) > 100000 {
		s.limits = map[string]*rate.Limiter{}
		s.limSeen = now
	}
	l, ok := s.limits[ip]
	if !ok {
		l = rate.NewLimiter(s.cfg.LoginRate, s.cfg.LoginBurst)
		s.limits[ip] = l
	}
	return l.AllowN(now, 1)
}
