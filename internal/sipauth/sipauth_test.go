package sipauth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/strowger/strowger/internal/clock"
)

func newTestNonces(t *testing.T) (*Nonces, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	n, err := NewNonces([]byte("0123456789abcdef0123"), 30*time.Second, clk)
	if err != nil {
		t.Fatal(err)
	}
	return n, clk
}

func answer(t *testing.T, n *Nonces, alg, realm, user, pass string, nc uint32) Credentials {
	t.Helper()
	h, err := Authorization(n.Challenge(realm, alg, false), "REGISTER", "sip:"+realm, user, pass, "abc", nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCredentials(h)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestVerify(t *testing.T) {
	for _, alg := range []string{MD5, SHA256} {
		t.Run(alg, func(t *testing.T) {
			n, clk := newTestNonces(t)
			c := answer(t, n, alg, "a.test", "bob", "secret", 1)
			if err := n.Verify(c, "REGISTER", "a.test", "secret"); err != nil {
				t.Fatalf("good credentials: %v", err)
			}
			if err := n.Verify(c, "REGISTER", "a.test", "secret"); !errors.Is(err, ErrReplay) {
				t.Fatalf("replayed nc: got %v", err)
			}
			// The next nc on the same nonce is fine.
			c2 := c
			c2.NC = "00000002"
			c2.Response, _ = Response(c2, "REGISTER", "secret")
			if err := n.Verify(c2, "REGISTER", "a.test", "secret"); err != nil {
				t.Fatalf("nc=2: %v", err)
			}
			wrong := answer(t, n, alg, "a.test", "bob", "nope", 1)
			if err := n.Verify(wrong, "REGISTER", "a.test", "secret"); !errors.Is(err, ErrMismatch) {
				t.Fatalf("wrong password: got %v", err)
			}
			other := answer(t, n, alg, "a.test", "bob", "secret", 1)
			if err := n.Verify(other, "REGISTER", "b.test", "secret"); !errors.Is(err, ErrMismatch) {
				t.Fatalf("other realm: got %v", err)
			}
			old := answer(t, n, alg, "a.test", "bob", "secret", 1)
			clk.Advance(31 * time.Second)
			if err := n.Verify(old, "REGISTER", "a.test", "secret"); !errors.Is(err, ErrStale) {
				t.Fatalf("old nonce: got %v", err)
			}
		})
	}
}

func TestForgedNonce(t *testing.T) {
	n, _ := newTestNonces(t)
	c := answer(t, n, MD5, "a.test", "bob", "secret", 1)
	b := []byte(c.Nonce)
	b[3] ^= 1
	c.Nonce = string(b)
	c.Response, _ = Response(c, "REGISTER", "secret")
	if err := n.Verify(c, "REGISTER", "a.test", "secret"); !errors.Is(err, ErrBadNonce) {
		t.Fatalf("forged nonce: got %v", err)
	}
}

func TestNoQopSingleUse(t *testing.T) {
	n, _ := newTestNonces(t)
	ch := strings.Replace(n.Challenge("a.test", MD5, false), `qop="auth", `, "", 1)
	h, err := Authorization(ch, "REGISTER", "sip:a.test", "bob", "pw", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCredentials(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Verify(c, "REGISTER", "a.test", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := n.Verify(c, "REGISTER", "a.test", "pw"); !errors.Is(err, ErrReplay) {
		t.Fatalf("second use without qop: %v", err)
	}
}

func TestParseCredentials(t *testing.T) {
	bad := []string{"", "Basic abc", `Digest username="a"`, `Digest username="a", realm="r", nonce="n", uri="u", response="x", qop=auth`,
		`Digest username="a, realm="r"`}
	for _, b := range bad {
		if _, err := ParseCredentials(b); err == nil {
			t.Errorf("%q: want error", b)
		}
	}
	c, err := ParseCredentials(`Digest username="a\"b", realm="r", nonce="n", uri="sip:r", response="ABC", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c"`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != `a"b` || c.Response != "abc" || c.Algorithm != SHA256 || c.NC != "00000001" {
		t.Fatalf("parsed %+v", c)
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="a", realm="r", nonce="n", uri="sip:r", response="abc", qop=auth, nc=00000001, cnonce="c"`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseCredentials(s)
	})
}

// TestReplayMemoryIsForgottenAndBounded: nonce counts are remembered until
// the nonce expires, whole generations are then dropped, and the memory
// never grows past its bound (new nonces are then answered as stale).
func TestReplayMemoryIsForgottenAndBounded(t *testing.T) {
	n, clk := newTestNonces(t)
	n.maxTracked = 5
	for i := range 5 {
		if err := n.Verify(answer(t, n, MD5, "a.test", "u", "pw", 1), "REGISTER", "a.test", "pw"); err != nil {
			t.Fatalf("nonce %d: %v", i, err)
		}
	}
	if err := n.Verify(answer(t, n, MD5, "a.test", "u", "pw", 1), "REGISTER", "a.test", "pw"); !errors.Is(err, ErrStale) {
		t.Fatalf("past the bound: %v, want ErrStale", err)
	}
	c := answer(t, n, MD5, "a.test", "u", "pw", 1)
	// Every remembered nonce expires (ttl 30 s) and its generation goes.
	clk.Advance(31*time.Second + n.gen)
	if err := n.Verify(c, "REGISTER", "a.test", "pw"); !errors.Is(err, ErrStale) {
		t.Fatalf("expired nonce: %v", err)
	}
	if err := n.Verify(answer(t, n, MD5, "a.test", "u", "pw", 1), "REGISTER", "a.test", "pw"); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if n.tracked != 1 || len(n.gens) != 1 {
		t.Fatalf("replay memory holds %d nonces in %d generations, want 1 in 1", n.tracked, len(n.gens))
	}
	// Within its lifetime the count must still grow.
	c = answer(t, n, MD5, "a.test", "u", "pw", 7)
	if err := n.Verify(c, "REGISTER", "a.test", "pw"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(20 * time.Second)
	if err := n.Verify(c, "REGISTER", "a.test", "pw"); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay 20 s later: %v", err)
	}
}

// TestResponseKnownAnswers pins the digest computation to the examples of
// RFC 2617 §3.5 (MD5) and RFC 7616 §3.9.1 (SHA-256).
func TestResponseKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		cred     Credentials
		password string
		want     string
	}{
		{Credentials{Username: "Mufasa", Realm: "testrealm@host.com", Nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
			URI: "/dir/index.html", Qop: "auth", NC: "00000001", CNonce: "0a4f113b", Algorithm: MD5},
			"Circle Of Life", "6629fae49393a05397450978507c4ef1"},
		{Credentials{Username: "Mufasa", Realm: "http-auth@example.org", Nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
			URI: "/dir/index.html", Qop: "auth", NC: "00000001", CNonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", Algorithm: SHA256},
			"Circle of Life", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	} {
		got, err := Response(c.cred, "GET", c.password)
		if err != nil || got != c.want {
			t.Errorf("%s: %s %v, want %s", c.cred.Algorithm, got, err, c.want)
		}
	}
	if _, err := Response(Credentials{Algorithm: "SHA-512-256"}, "GET", "x"); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("unknown algorithm: %v", err)
	}
}
