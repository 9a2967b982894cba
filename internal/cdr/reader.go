package cdr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
	"github.com/strowger/strowger/internal/store"
)

// ReaderOptions bound what one query may cost.
type ReaderOptions struct {
	// MaxLegDuration is how long after its creation a leg's CDR may still be
	// written (it is written at hangup). A range scan reads the stream up to
	// the range's end plus this much, then stops; a leg that lasted longer
	// is found only by ranges that end later. Default 48 h.
	MaxLegDuration time.Duration
	// ClockSkew is how far a media node's clock may be from the stream's:
	// the scan starts this much before the range. Default 1 min.
	ClockSkew time.Duration
	// MaxRecords caps the records one List returns, so a query over a busy
	// month cannot exhaust the API node's memory (the scan itself is bounded
	// by QueryTimeout). Default 200,000.
	MaxRecords int
	// QueryTimeout bounds one List when ctx has no earlier deadline.
	// Default 30 s.
	QueryTimeout time.Duration
}

func (o *ReaderOptions) setDefaults() {
	if o.MaxLegDuration <= 0 {
		o.MaxLegDuration = 48 * time.Hour
	}
	if o.ClockSkew <= 0 {
		o.ClockSkew = time.Minute
	}
	if o.MaxRecords <= 0 {
		o.MaxRecords = 200_000
	}
	if o.QueryTimeout <= 0 {
		o.QueryTimeout = 30 * time.Second
	}
}

// ErrTooMany is returned by List when the range holds more records than
// ReaderOptions.MaxRecords: the caller should ask for a narrower range.
// It reports TooLarge, which the API answers with 416.
var ErrTooMany error = tooMany{}

type tooMany struct{}

func (tooMany) Error() string {
	return "cdr: too many records in the range; narrow created_from/created_to"
}
func (tooMany) TooLarge() bool { return true }

// Reader reads an account's records from the CDR stream. It implements
// api.CDRSource and is safe for concurrent use.
type Reader struct {
	js   jetstream.JetStream
	log  *slog.Logger
	opts ReaderOptions

	mu     sync.Mutex
	stream jetstream.Stream // opened on first Get, then reused
}

// NewReader returns a reader over the CDR stream reachable through js.
func NewReader(js jetstream.JetStream, log *slog.Logger, opts ReaderOptions) *Reader {
	opts.setDefaults()
	return &Reader{js: js, log: log, opts: opts}
}

// head is the part of a stored record the reader needs to place it.
type head struct {
	ID        string    `json:"id"`
	AccountID string    `json:"account_id"`
	Timestamp int64     `json:"timestamp"`
	Created   time.Time `json:"created"`
}

// created is the record's creation instant at Kazoo's resolution (whole
// seconds), from created or, for a record without it, timestamp.
func (h head) created() time.Time {
	if !h.Created.IsZero() {
		return h.Created.UTC().Truncate(time.Second)
	}
	return store.FromGregorian(h.Timestamp)
}

// at is the record's creation instant at full precision, for ordering.
func (h head) at() time.Time {
	if !h.Created.IsZero() {
		return h.Created
	}
	return store.FromGregorian(h.Timestamp)
}

type found struct {
	head
	seq  uint64
	body map[string]any
}

// List returns the account's records created in [from, to] (whole
// seconds, both ends included), oldest first, each leg once. It reads the
// account's subjects with an ordered consumer that starts at from (less the
// clock skew) and stops at the end of the stream or once the stream's time
// passes to plus the longest leg.
func (r *Reader) List(ctx context.Context, account string, from, to time.Time) ([]map[string]any, error) {
	if !idRe.MatchString(account) {
		return nil, fmt.Errorf("cdr: listing: account id %q is not 32 hex characters", account)
	}
	if to.Before(from) {
		return nil, fmt.Errorf("cdr: listing: range ends (%s) before it starts (%s)", to, from)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opts.QueryTimeout)
		defer cancel()
	}
	from, to = from.UTC().Truncate(time.Second), to.UTC().Truncate(time.Second)
	start := from.Add(-r.opts.ClockSkew)
	stopAfter := to.Add(r.opts.MaxLegDuration + r.opts.ClockSkew)

	cons, err := r.js.OrderedConsumer(ctx, store.StreamCDR, jetstream.OrderedConsumerConfig{
		FilterSubjects:    []string{bus.CDRAccount(account)},
		DeliverPolicy:     jetstream.DeliverByStartTimePolicy,
		OptStartTime:      &start,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("cdr: listing %s: opening consumer: %w", account, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(256))
	if err != nil {
		return nil, fmt.Errorf("cdr: listing %s: reading: %w", account, err)
	}
	defer func() {
		it.Stop()
		// The ordered consumer is ephemeral; delete it now rather than
		// leave it to the inactivity threshold.
		if info := cons.CachedInfo(); info != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = r.js.DeleteConsumer(dctx, store.StreamCDR, info.Name)
			cancel()
		}
	}()
	// The consumer's pending count at creation says whether there is
	// anything to read at all; after that each message's own pending
	// count says whether it was the last.
	if info := cons.CachedInfo(); info == nil || info.NumPending == 0 {
		return []map[string]any{}, nil
	}

	byID := map[string]*found{}
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("cdr: listing %s: %w", account, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, fmt.Errorf("cdr: listing %s: message metadata: %w", account, err)
		}
		if md.Timestamp.After(stopAfter) {
			break
		}
		if f, ok := r.decode(account, msg.Subject(), msg.Data()); ok {
			c := f.created()
			if !c.Before(from) && !c.After(to) {
				f.seq = md.Sequence.Stream
				// A leg written twice (a retry past the duplicate window, a
				// node that took the call over) is listed once: the last write.
				if prev, ok := byID[f.ID]; !ok || prev.seq < f.seq {
					byID[f.ID] = f
				}
				if len(byID) > r.opts.MaxRecords {
					return nil, ErrTooMany
				}
			}
		}
		if md.NumPending == 0 {
			break
		}
	}
	list := make([]*found, 0, len(byID))
	for _, f := range byID {
		list = append(list, f)
	}
	sort.Slice(list, func(i, j int) bool {
		ci, cj := list[i].at(), list[j].at()
		if !ci.Equal(cj) {
			return ci.Before(cj)
		}
		return list[i].ID < list[j].ID
	})
	out := make([]map[string]any, len(list))
	for i, f := range list {
		out[i] = f.body
	}
	return out, nil
}

// Get returns one record of the account by id, store.ErrNotFound when the
// account has no record with that id (a record of another account is not
// found: the account is part of the subject).
func (r *Reader) Get(ctx context.Context, account, id string) (map[string]any, error) {
	// Both are subject tokens: anything else (a wildcard, a dot) must never
	// reach the subject.
	if !idRe.MatchString(account) || !idRe.MatchString(id) {
		return nil, store.ErrNotFound
	}
	s, err := r.cdrStream(ctx)
	if err != nil {
		return nil, fmt.Errorf("cdr: reading %s: opening stream: %w", id, err)
	}
	subj := bus.CDR(account, id)
	m, err := s.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cdr: reading %s: %w", id, err)
	}
	f, ok := r.decode(account, m.Subject, m.Data)
	if !ok {
		return nil, store.ErrNotFound
	}
	return f.body, nil
}

// cdrStream returns the CDR stream's handle, looked up once.
func (r *Reader) cdrStream(ctx context.Context) (jetstream.Stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stream == nil {
		s, err := r.js.Stream(ctx, store.StreamCDR)
		if err != nil {
			return nil, err
		}
		r.stream = s
	}
	return r.stream, nil
}

// decode parses one stored record into the shape the API serves: the
// record's JSON fields, numbers kept exact, nothing private. A record that
// does not parse, or claims another account than its subject, is skipped
// and logged: it cannot be served and must not hide the rest.
func (r *Reader) decode(account, subject string, data []byte) (*found, bool) {
	var h head
	if err := json.Unmarshal(data, &h); err != nil {
		r.log.Warn("cdr: skipping unreadable record", "subject", subject, "err", err)
		return nil, false
	}
	if h.AccountID != account || subject != bus.CDR(account, h.ID) {
		r.log.Warn("cdr: skipping record filed under the wrong subject", "subject", subject,
			"account_id", h.AccountID, "id", h.ID)
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		r.log.Warn("cdr: skipping unreadable record", "subject", subject, "err", err)
		return nil, false
	}
	for k := range body {
		if strings.HasPrefix(k, "pvt_") || strings.HasPrefix(k, "_") {
			delete(body, k)
		}
	}
	return &found{head: h, body: body}, true
}
