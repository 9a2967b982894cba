package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
)

// TypeRevision is the stream sequence of the latest write (create, update or
// delete) to any document of one type in one account, 0 when there was
// none. It increases with every such write, so a cache of those documents
// built after reading TypeRevision is current for as long as TypeRevision
// returns the same value. It costs one JetStream direct get (no consumer).
func (s *Store) TypeRevision(ctx context.Context, account, typ string) (uint64, error) {
	if !IsID(account) || !validToken(typ) {
		return 0, fmt.Errorf("type revision: bad account or type")
	}
	if s.nc == nil {
		return 0, fmt.Errorf("type revision: store has no connection")
	}
	// A KV key k is stored on subject $KV.<bucket>.k; the server finds the
	// last message matching the wildcard in its subject index.
	req, _ := json.Marshal(map[string]string{
		"last_by_subj": "$KV." + BucketDocs + "." + DocTypeFilter(account, typ),
	})
	msg, err := s.nc.RequestWithContext(ctx, "$JS.API.DIRECT.GET.KV_"+BucketDocs, req)
	if err != nil {
		return 0, fmt.Errorf("type revision of %s: %w", typ, err)
	}
	if st := msg.Header.Get("Status"); st != "" {
		if st == "404" {
			return 0, nil
		}
		return 0, fmt.Errorf("type revision of %s: status %s %s", typ, st, msg.Header.Get("Description"))
	}
	seq, err := strconv.ParseUint(msg.Header.Get(nats.JSSequence), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("type revision of %s: bad sequence header: %w", typ, err)
	}
	return seq, nil
}
