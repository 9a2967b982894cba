package cdr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/bus"
)

// idRe is the shape of account ids and record ids: both are subject tokens.
var idRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// RecordID derives a leg's record id from its Call-ID, so every writer of
// that leg's CDR (a retry, a node that took the call over) uses the same.
func RecordID(callID string) string {
	sum := sha256.Sum256([]byte("cdr|" + callID))
	return hex.EncodeToString(sum[:16])
}

// Writer stores records durably in the CDR stream.
type Writer struct {
	js  jetstream.JetStream
	log *slog.Logger
}

// NewWriter returns a writer publishing through js.
func NewWriter(js jetstream.JetStream, log *slog.Logger) *Writer {
	return &Writer{js: js, log: log}
}

// Write stores r durably (on disk, not only acknowledged), retrying
// transient failures until ctx is done. The
// record id is the JetStream message id, so a write retried after a lost
// acknowledgement (or by a node that took the call over) is stored once:
// the stream drops duplicates within its duplicate window.
func (w *Writer) Write(ctx context.Context, r Record) error {
	if !idRe.MatchString(r.ID) || !idRe.MatchString(r.AccountID) {
		return fmt.Errorf("cdr: record needs a hex id and account_id, got %q, %q", r.ID, r.AccountID)
	}
	r.V = Version
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("cdr: encoding %s: %w", r.ID, err)
	}
	subj := bus.CDR(r.AccountID, r.ID)
	backoff := 50 * time.Millisecond
	for {
		_, err = w.js.Publish(ctx, subj, body, jetstream.WithMsgID(r.ID))
		if err == nil {
			// The stream acknowledges once the record reached the kernel;
			// billing data must be on disk before we call it written.
			err = bus.RequestSync(ctx, w.js.Conn())
		}
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("cdr: writing %s: %w", r.ID, errors.Join(err, ctx.Err()))
		}
		w.log.Warn("cdr write failed, retrying", "cdr", r.ID, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("cdr: writing %s: %w", r.ID, ctx.Err())
		case <-time.After(backoff):
		}
		if backoff < time.Second {
			backoff *= 2
		}
	}
}
