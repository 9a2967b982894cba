package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/strowger/strowger/internal/clock"
)

func TestTokenRoundTripAndExpiry(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	s := newSigner([]byte("k1"), time.Hour, clk)
	tok, err := s.Issue(Claims{AccountID: "a1", OwnerID: "u1", Method: MethodUser, PrivLevel: PrivUser})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("not a JWT: %s", tok)
	}
	c, err := s.Verify(tok)
	if err != nil || c.AccountID != "a1" || c.OwnerID != "u1" || c.PrivLevel != PrivUser {
		t.Fatalf("verify: %v %+v", err, c)
	}
	// Another node with the same key accepts it; another key does not.
	if _, err := newSigner([]byte("k1"), time.Hour, clk).Verify(tok); err != nil {
		t.Fatalf("same key: %v", err)
	}
	if _, err := newSigner([]byte("k2"), time.Hour, clk).Verify(tok); err == nil {
		t.Fatal("other key accepted")
	}
	clk.Advance(time.Hour + time.Second)
	if _, err := s.Verify(tok); err == nil {
		t.Fatal("expired token accepted")
	}
}

func TestTokenRejectsTamperingAndNone(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	s := newSigner([]byte("k1"), time.Hour, clk)
	tok, _ := s.Issue(Claims{AccountID: "a1", Method: MethodAPIKey, PrivLevel: PrivAdmin})
	parts := strings.Split(tok, ".")
	forged, _ := newSigner([]byte("k1"), time.Hour, clk).Issue(Claims{AccountID: "master", Method: MethodAPIKey})
	fp := strings.Split(forged, ".")
	if _, err := s.Verify(parts[0] + "." + fp[1] + "." + parts[2]); err == nil {
		t.Fatal("swapped payload accepted")
	}
	none := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{AccountID: "a1",
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(clk.Now().Add(time.Hour))}})
	ns, _ := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if _, err := s.Verify(ns); err == nil {
		t.Fatal("alg=none accepted")
	}
	for _, bad := range []string{"", "x", "a.b.c", tok + "x"} {
		if _, err := s.Verify(bad); err == nil {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestSecretHashing(t *testing.T) {
	md5hex, sha1hex := Credentials("Alice", "pa55word")
	if md5hex != "91082a913516140b78652f3511ed859a" || sha1hex != "a142c88c6d588e6f68696cfdedc1c2e46a210101" {
		t.Fatalf("md5 %s sha1 %s", md5hex, sha1hex)
	}
	if m2, _ := Credentials("alice", "pa55word"); m2 != md5hex {
		t.Fatal("username not lowercased")
	}
	h := CredentialHash("acct1", md5hex)
	if len(h) != 64 || strings.Contains(h, md5hex) {
		t.Fatalf("hash %s", h)
	}
	if CredentialHash("acct1", strings.ToUpper(md5hex)) != h {
		t.Fatal("hex case changes the hash")
	}
	if CredentialHash("acct2", md5hex) == h {
		t.Fatal("hash not salted per account")
	}
	if CredentialHash("acct1", sha1hex) == h {
		t.Fatal("different digests collide")
	}
}
