package b2bua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// Channels lists live calls from the call keys in store.BucketCalls, for
// the API's GET /v2/accounts/{A}/channels (it implements
// api.ChannelSource). Any node may serve it: it reads only KV.
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
// first. It reads every call key once (one pass over the bucket's stream)
// and keeps the account's.
func (ch *Channels) List(ctx context.Context, account string) ([]map[string]any, error) {
	if !store.IsID(account) {
		return []map[string]any{}, nil
	}
	w, err := ch.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return []map[string]any{}, nil
		}
		return nil, fmt.Errorf("reading calls: %w", err)
	}
	defer func() { _ = w.Stop() }()
	now := ch.clk.Now()
	var recs []Record
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("reading calls: %w", ctx.Err())
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("reading calls: watcher closed")
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
