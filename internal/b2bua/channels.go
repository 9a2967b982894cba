package b2bua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// Channels lists live calls for the API's GET /v2/accounts/{A}/channels
// (it implements api.ChannelSource). Any node may serve it: it reads only
// the account's channel index (store.ChannelFilter in store.BucketCalls),
// so a request costs O(that account's calls), not O(all calls).
type Channels struct {
	kv  jetstream.KeyValue
	clk clock.Clock
}

// NewChannels reads channels from the calls bucket.
func NewChannels(calls jetstream.KeyValue, clk clock.Clock) *Channels {
	if clk == nil {
		clk = clock.Real()
	}
	return &Channels{kv: calls, clk: clk}
}

// List returns the account's live legs in Kazoo's channel shape, oldest
// first, from one pass over the account's index entries.
func (ch *Channels) List(ctx context.Context, account string) ([]map[string]any, error) {
	if !store.IsID(account) {
		return []map[string]any{}, nil
	}
	w, err := ch.kv.Watch(ctx, store.ChannelFilter(account), jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("reading channels of %s: %w", account, err)
	}
	defer func() { _ = w.Stop() }()
	now := ch.clk.Now()
	var recs []Record
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading channels of %s: %w", account, ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("reading channels: watcher closed")
			}
			if e == nil {
				return channelMaps(recs, now), nil
			}
			var r Record
			if json.Unmarshal(e.Value(), &r) != nil || r.AccountID != account || r.Channel.UUID == "" {
				continue
			}
			recs = append(recs, r)
		}
	}
}

// Channel index upkeep on the media node. putCall indexes every leg it
// writes (only when its channel changed: created, answered, bridged — a
// re-INVITE's checkpoint costs nothing more); deleteCall removes the
// entry. Entries carry a KV TTL that the node refreshes while the call
// lives, so those of a node that died expire on their own.
const (
	// channelTTL is the KV TTL of an index entry.
	channelTTL = 5 * time.Minute
	// channelRefresh is how often the node rewrites its live entries
	// (well within channelTTL, so a slow round never lets one lapse).
	channelRefresh = time.Minute
)

// chanEntry is the node's memory of one leg's index entry.
type chanEntry struct {
	mu      sync.Mutex
	key     string
	rec     Record // last written, without checkpoint
	val     []byte // its encoding
	written time.Time
	gone    bool // removed: never write again
}

// indexChannel writes the leg's index entry if its channel changed. The
// comparison is on the record itself, so an unchanged channel (most
// checkpoints) costs no encoding.
func (s *Server) indexChannel(ctx context.Context, callID string, rec Record) error {
	if !store.IsID(rec.AccountID) || rec.Channel.UUID == "" {
		return nil
	}
	rec.Checkpoint = nil
	rec.Channel.ElapsedS = 0 // computed by the reader
	v, _ := s.chans.LoadOrStore(callID, &chanEntry{key: store.ChannelKey(rec.AccountID, callID)})
	ce := v.(*chanEntry)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	if ce.gone || (ce.val != nil && ce.rec == rec) {
		return nil
	}
	val, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding channel: %w", err)
	}
	if err := s.publishChannel(ctx, ce.key, val); err != nil {
		return err
	}
	ce.rec, ce.val, ce.written = rec, val, s.clk.Now()
	return nil
}

// unindexChannel removes the leg's index entry.
func (s *Server) unindexChannel(ctx context.Context, callID string) {
	v, ok := s.chans.LoadAndDelete(callID)
	if !ok {
		return
	}
	ce := v.(*chanEntry)
	ce.mu.Lock()
	defer ce.mu.Unlock()
	ce.gone = true
	// A purge by hand: its marker gets a TTL too, or the markers of
	// finished calls would pile up in the bucket.
	msg := &nats.Msg{Subject: kvSubject(ce.key), Header: nats.Header{}}
	msg.Header.Set("KV-Operation", "PURGE")
	msg.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	if _, err := s.js.PublishMsg(ctx, msg, jetstream.WithMsgTTL(time.Minute)); err != nil {
		s.log.Warn("removing channel index entry failed", "call_id", callID, "err", err)
	}
}

// publishChannel writes an index entry with its TTL (KeyValue.Put cannot
// carry one).
func (s *Server) publishChannel(ctx context.Context, key string, val []byte) error {
	if _, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: kvSubject(key), Data: val},
		jetstream.WithMsgTTL(channelTTL)); err != nil {
		return fmt.Errorf("writing channel index %s: %w", key, err)
	}
	return nil
}

func kvSubject(key string) string { return "$KV." + store.BucketCalls + "." + key }

// refreshChannels rewrites, every channelRefresh on the injected clock,
// the index entries not written for that long, until Stop.
func (s *Server) refreshChannels() {
	defer s.wg.Done()
	t := s.clk.NewTimer(channelRefresh)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C():
		}
		due := s.clk.Now().Add(-channelRefresh)
		s.chans.Range(func(_, v any) bool {
			ce := v.(*chanEntry)
			ce.mu.Lock()
			if !ce.gone && ce.val != nil && !ce.written.After(due) {
				ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
				if err := s.publishChannel(ctx, ce.key, ce.val); err != nil && s.ctx.Err() == nil {
					s.log.Warn("refreshing channel index failed", "key", ce.key, "err", err)
				} else {
					ce.written = s.clk.Now()
				}
				cancel()
			}
			ce.mu.Unlock()
			return s.ctx.Err() == nil
		})
		t.Reset(channelRefresh)
	}
}

func channelMaps(recs []Record, now time.Time) []map[string]any {
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Channel.Timestamp != recs[j].Channel.Timestamp {
			return recs[i].Channel.Timestamp < recs[j].Channel.Timestamp
		}
		return recs[i].Channel.UUID < recs[j].Channel.UUID
	})
	out := make([]map[string]any, 0, len(recs))
	for _, r := range recs {
		c := r.Channel
		c.ElapsedS = store.GregorianSeconds(now) - c.Timestamp
		if c.ElapsedS < 0 {
			c.ElapsedS = 0
		}
		b, err := json.Marshal(c)
		if err != nil {
			continue
		}
		m := map[string]any{}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		m["account_id"] = r.AccountID
		m["node"] = r.OwnerNode
		out = append(out, m)
	}
	return out
}
