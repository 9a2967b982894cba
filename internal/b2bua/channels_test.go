package b2bua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/clock"
	"github.com/strowger/strowger/internal/store"
)

// otherLeg is a live leg of another account, as a node indexes it.
func otherLeg(account string, i int, at time.Time) Record {
	id := fmt.Sprintf("other-%s-%d@test", account[:6], i)
	return Record{OwnerNode: "media9", Epoch: 1, V: CheckpointVersion, AccountID: account,
		Channel: Channel{UUID: id, CallID: id, Direction: "inbound", Destination: "100", InteractionID: "x",
			MediaServer: "media9", Timestamp: store.GregorianSeconds(at)},
		Checkpoint: &Checkpoint{CallerCallID: id, State: "ringing"}}
}

// TestChannelsPerAccount: a real call and another account's legs: each
// account lists only its own channels, the call's two legs once; when the
// call ends its channels go; an index entry carries a TTL and is
// rewritten while the call lives.
func TestChannelsPerAccount(t *testing.T) {
	t.Parallel()
	// No RTP timeout: the test moves the clock by a refresh period.
	en, alice, bob := newBridgeEnv(t, func(c *Config) { c.RTPTimeout = -1 })
	other := store.NewID()
	ch := NewChannels(en.st.Buckets().Calls, en.clk)
	for i := range 3 {
		rec := otherLeg(other, i, en.clk.Now())
		if err := en.b2b.putCall(t.Context(), rec.Channel.CallID, rec); err != nil {
			t.Fatal(err)
		}
	}

	d, bd := answerCall(en, alice, bob)
	// The clock moves by a minute below: the caller's ACK must be in, or
	// timer H ends the call.
	en.waitAcked(d.callID)
	mine := en.channels()
	if len(mine) != 2 {
		t.Fatalf("%d channels in the call's account, want its 2 legs: %v", len(mine), mine)
	}
	for _, c := range mine {
		if c["account_id"] != en.acct || (c["uuid"] != d.callID && c["uuid"] != bd.callID) || c["answered"] != true {
			t.Fatalf("channel %v", c)
		}
	}
	theirs, err := ch.List(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	if len(theirs) != 3 {
		t.Fatalf("%d channels in the other account, want 3: %v", len(theirs), theirs)
	}
	for _, c := range theirs {
		if c["account_id"] != other {
			t.Fatalf("other account lists %v", c)
		}
	}
	if l, err := ch.List(t.Context(), store.NewID()); err != nil || len(l) != 0 {
		t.Fatalf("an account without calls: %v %v", l, err)
	}

	// The entry carries its TTL, and is rewritten once it is due.
	key := store.ChannelKey(en.acct, d.callID)
	msg := lastMsg(t, en, key)
	if ttl := msg.Header.Get("Nats-TTL"); ttl == "" {
		t.Fatalf("channel index entry without a TTL: %v", msg.Header)
	}
	en.clk.Advance(channelRefresh)
	waitFor(t, "the entry's refresh", func() bool { return lastMsg(t, en, key).Sequence > msg.Sequence })

	bob.hangUp(bd, alice)
	// (The other account's fake legs keep their call keys: no noLiveCalls.)
	waitFor(t, "the call to end", func() bool { return en.b2b.LiveCalls() == 0 })
	if l := en.channels(); len(l) != 0 {
		t.Fatalf("channels after the call: %v", l)
	}
	if l, _ := ch.List(t.Context(), other); len(l) != 3 {
		t.Fatalf("the other account's channels changed: %v", l)
	}
}

func lastMsg(t *testing.T, en *env, key string) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := en.srv.JS.Stream(t.Context(), "KV_"+store.BucketCalls)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(t.Context(), kvSubject(key))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestChannelsRejectsBadAccount: an account id that is not one lists
// nothing rather than matching other keys.
func TestChannelsRejectsBadAccount(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	ch := NewChannels(en.st.Buckets().Calls, en.clk)
	for _, a := range []string{"", "*", ">", "abc", en.acct + ".x"} {
		if l, err := ch.List(t.Context(), a); err != nil || len(l) != 0 {
			t.Fatalf("account %q: %v %v", a, l, err)
		}
	}
}

// BenchmarkChannelsList lists the 10 channels of one account while 0 or
// 2,000 live legs of 20 other accounts share the bucket: with the
// per-account index the cost follows the 10, not the other tenants.
func BenchmarkChannelsList(b *testing.B) {
	for _, others := range []int{0, 2000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			srv := bustest.Start(b)
			ctx := context.Background()
			bk, err := store.Provision(ctx, srv.JS, store.ProvisionOptions{})
			if err != nil {
				b.Fatal(err)
			}
			clk := clock.NewFake(time.Now())
			s := &Server{js: srv.JS, clk: clk, d: Deps{Buckets: bk}}
			write := func(account string, i int) {
				rec := otherLeg(account, i, clk.Now())
				if err := s.putCall(ctx, rec.Channel.CallID, rec); err != nil {
					b.Fatal(err)
				}
			}
			acct := ""
			for i := range others {
				if i%100 == 0 {
					acct = store.NewID()
				}
				write(acct, i)
			}
			mine := store.NewID()
			for i := range 10 {
				write(mine, i)
			}
			ch := NewChannels(bk.Calls, clk)
			for b.Loop() {
				l, err := ch.List(ctx, mine)
				if err != nil || len(l) != 10 {
					b.Fatalf("%d channels, %v", len(l), err)
				}
			}
		})
	}
}

// TestPutCallClaimsNewLegs: a leg's first write creates its key and
// fails when the key is there (another node has the call); later writes
// of a leg the node holds overwrite it.
func TestPutCallClaimsNewLegs(t *testing.T) {
	t.Parallel()
	en := newEnv(t, nil)
	rec := otherLeg(en.acct, 1, en.clk.Now())
	id := rec.Channel.CallID
	theirs := rec
	theirs.OwnerNode = "media2"
	b, _ := json.Marshal(theirs)
	if _, err := en.st.Buckets().Calls.Put(t.Context(), store.CallKey(id), b); err != nil {
		t.Fatal(err)
	}
	rec.OwnerNode = "media1"
	if err := en.b2b.putCall(t.Context(), id, rec); !errors.Is(err, ErrOwnedElsewhere) {
		t.Fatalf("claiming a key another node holds: %v", err)
	}
	if l := en.channels(); len(l) != 0 {
		t.Fatalf("a refused claim was indexed: %v", l)
	}

	mine := otherLeg(en.acct, 2, en.clk.Now())
	mine.OwnerNode = "media1"
	if err := en.b2b.putCall(t.Context(), mine.Channel.CallID, mine); err != nil {
		t.Fatal(err)
	}
	mine.Channel.Answered = true
	if err := en.b2b.putCall(t.Context(), mine.Channel.CallID, mine); err != nil {
		t.Fatalf("second write of a held leg: %v", err)
	}
	if l := en.channels(); len(l) != 1 || l[0]["answered"] != true {
		t.Fatalf("channels: %v", l)
	}
	en.b2b.deleteCall(t.Context(), mine.Channel.CallID)
	if l := en.channels(); len(l) != 0 {
		t.Fatalf("channels after delete: %v", l)
	}
	// Once deleted, the Call-ID can be claimed again.
	if err := en.b2b.putCall(t.Context(), mine.Channel.CallID, mine); err != nil {
		t.Fatalf("claiming a deleted key: %v", err)
	}
	en.b2b.deleteCall(t.Context(), mine.Channel.CallID)
}
