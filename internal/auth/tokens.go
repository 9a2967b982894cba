// Package auth issues and verifies API tokens and hashes login secrets.
//
// Tokens are JWTs (Kazoo's web UI decodes the payload) signed with HMAC
// SHA-256 under a key kept in the cluster's system bucket, so any API node
// verifies a token without a lookup. Login credentials (Kazoo's md5/sha1 of
// "username:password") are stored only as argon2id hashes.
//
// The api role imports auth; nothing else needs to.
package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strowger/strowger/internal/clock"
)

// Methods, as Kazoo names them in the token's "method" claim.
const (
	MethodAPIKey = "cb_api_auth"
	MethodUser   = "cb_user_auth"
)

// Privilege levels of a user.
const (
	PrivAdmin = "admin"
	PrivUser  = "user"
)

// Claims are what a token asserts.
type Claims struct {
	AccountID string `json:"account_id"`
	OwnerID   string `json:"owner_id,omitempty"`
	Method    string `json:"method"`
	PrivLevel string `json:"priv_level"`
	jwt.RegisteredClaims
}

// ErrInvalidToken covers every way a token can fail: bad signature, expiry,
// wrong algorithm, garbage.
var ErrInvalidToken = errors.New("invalid token")

// KeySource yields the shared signing key, creating it on first use.
type KeySource interface {
	CreateSystemValue(ctx context.Context, key string, val []byte) ([]byte, error)
}

// Signer signs and verifies tokens.
type Signer struct {
	key    []byte
	ttl    time.Duration
	clock  clock.Clock
	parser *jwt.Parser
}

// NewSigner loads (or creates, once for the whole cluster) the signing key.
func NewSigner(ctx context.Context, ks KeySource, keyName string, ttl time.Duration, clk clock.Clock) (*Signer, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	key, err := ks.CreateSystemValue(ctx, keyName, []byte(hex.EncodeToString(fresh)))
	if err != nil {
		return nil, fmt.Errorf("loading signing key: %w", err)
	}
	return newSigner(key, ttl, clk), nil
}

func newSigner(key []byte, ttl time.Duration, clk clock.Clock) *Signer {
	return &Signer{
		key:   key,
		ttl:   ttl,
		clock: clk,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithTimeFunc(clk.Now),
			jwt.WithExpirationRequired(),
		),
	}
}

// TTL is how long issued tokens live.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Issue signs a token for c, setting its issue and expiry times.
func (s *Signer) Issue(c Claims) (string, error) {
	now := s.clock.Now()
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(now.Add(s.ttl))
	c.ID = randomHex(8)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("signing token: %w", err)
	}
	return tok, nil
}

// Verify checks a token's signature and expiry and returns its claims.
func (s *Signer) Verify(token string) (*Claims, error) {
	var c Claims
	t, err := s.parser.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return s.key, nil })
	if err != nil || !t.Valid || c.AccountID == "" {
		return nil, ErrInvalidToken
	}
	return &c, nil
}

// NewAPIKey returns a fresh 64-hex-character API key.
func NewAPIKey() string { return randomHex(32) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return hex.EncodeToString(b)
}
