package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/strowger/strowger/internal/edge"
	"github.com/strowger/strowger/internal/location"
)

// systemNonceSecret holds the digest nonce key every edge shares.
const systemNonceSecret = "sip.nonce_secret"

func (n *Node) startEdge(ctx context.Context, js jetstream.JetStream) error {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return fmt.Errorf("generating nonce secret: %w", err)
	}
	secret, err := n.st.CreateSystemValue(ctx, systemNonceSecret, []byte(hex.EncodeToString(fresh)))
	if err != nil {
		return err
	}
	e, err := edge.New(edge.Config{Listen: n.cfg.SIPAddr, NodeID: n.cfg.NodeName + "-edge", NonceSecret: secret,
		Algorithms: n.cfg.SIPDigest, AllowList: n.cfg.SIPAllow},
		edge.Deps{Logger: n.log.With("role", "edge"), Clock: n.clock, Directory: n.st, Conn: n.nc, JS: js,
			Buckets: n.st.Buckets()})
	if err != nil {
		return err
	}
	if err := e.Start(ctx); err != nil {
		return fmt.Errorf("starting edge: %w", err)
	}
	n.stops = append(n.stops, e.Stop)
	return nil
}

// registrations adapts the location store to the API's RegistrationSource.
type registrations struct{ loc *location.Store }

func (r registrations) List(ctx context.Context, account string) ([]map[string]any, error) {
	bs, err := r.loc.List(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(bs))
	for _, b := range bs {
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		m := map[string]any{}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

func (r registrations) Flush(ctx context.Context, account string) (int, error) {
	return r.loc.Flush(ctx, account)
}

func (r registrations) FlushUser(ctx context.Context, account, username string) (int, error) {
	return r.loc.FlushUser(ctx, account, username)
}
