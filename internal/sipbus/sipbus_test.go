package sipbus

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

const invite = "INVITE sip:101@sip.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1\r\n" +
	"Call-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"

func full() Envelope {
	return Envelope{Kind: KindRequest, Edge: "edge-1", Node: "media-1", CallID: "c1", Epoch: 300,
		Flow: &Flow{Transport: "udp", Remote: "10.0.0.1:5060", Local: "127.0.0.1:5060"},
		Auth: &Auth{AccountID: "acc", Realm: "sip.test", Username: "user1", AuthorizingID: "dev",
			AuthorizingType: "device", OwnerID: "own"},
		Msg: []byte(invite)}
}

func TestBinaryRoundTrip(t *testing.T) {
	for name, e := range map[string]Envelope{
		"full":     full(),
		"bare":     {Kind: KindResponse, Msg: []byte("SIP/2.0 200 OK\r\n\r\n")},
		"flowOnly": {Kind: KindResponse, Node: "n", Flow: &Flow{Transport: "tcp"}, Msg: []byte("x")},
		"authOnly": {Kind: KindRequest, Auth: &Auth{Username: "ü"}, Msg: []byte("x")},
	} {
		b := e.AppendBinary(nil)
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := e
		want.V = BinaryVersion
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

func TestBinaryAppendsToPrefix(t *testing.T) {
	b := full().AppendBinary([]byte("prefix"))
	if !bytes.HasPrefix(b, []byte("prefix")) {
		t.Fatal("prefix overwritten")
	}
	if _, err := Unmarshal(b[len("prefix"):]); err != nil {
		t.Fatal(err)
	}
}

// A later release may append fields after the message; this one ignores
// them.
func TestBinaryIgnoresTrailingFields(t *testing.T) {
	b := append(full().AppendBinary(nil), 7, 1, 'x')
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Msg) != invite {
		t.Fatalf("msg %q", got.Msg)
	}
}

// JSON from a node of an older release still reads, and Marshal still
// writes it.
func TestJSONStillRead(t *testing.T) {
	js, err := full().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if js[0] != '{' {
		t.Fatalf("Marshal wrote %q", js[:10])
	}
	got, err := Unmarshal(js)
	if err != nil {
		t.Fatal(err)
	}
	want := full()
	want.V = Version
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	old := []byte(` {"v":1,"kind":"response","future":[1,2],"msg":"U0lQ"}`)
	if got, err := Unmarshal(old); err != nil || string(got.Msg) != "SIP" {
		t.Fatalf("tolerant JSON read: %+v %v", got, err)
	}
}

func TestBinaryTruncatedIsRefused(t *testing.T) {
	b := full().AppendBinary(nil)
	for n := 0; n < len(b); n++ {
		if _, err := Unmarshal(b[:n]); err == nil {
			t.Fatalf("accepted the first %d of %d bytes", n, len(b))
		}
	}
}

func TestBadEnvelopes(t *testing.T) {
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "decoding sip envelope"},
		"unknown kind":   {[]byte{BinaryVersion, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1, 'x'}, "unknown kind byte 9"},
		"empty message":  {Envelope{Kind: KindRequest}.AppendBinary(nil), "empty message"},
		"huge length":    {[]byte{BinaryVersion, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, "truncated"},
		"message length": {[]byte{BinaryVersion, 1, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 'x'}, "truncated"},
		"json kind":      {[]byte(`{"v":1,"kind":"bogus","msg":"U0lQ"}`), `unknown kind "bogus"`},
		"json version":   {[]byte(`{"kind":"request","msg":"U0lQ"}`), "missing version"},
		"json garbage":   {[]byte(`{"v":`), "decoding sip envelope"},
		"other version":  {[]byte{3, 1, 0}, "decoding sip envelope"},
	} {
		_, err := Unmarshal(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
}

// FuzzUnmarshal: any input decodes or is refused without panicking, and
// whatever decodes survives a binary round trip unchanged.
func FuzzUnmarshal(f *testing.F) {
	f.Add(full().AppendBinary(nil))
	f.Add(Envelope{Kind: KindResponse, Msg: []byte("SIP/2.0 180 Ringing\r\n\r\n")}.AppendBinary(nil))
	js, _ := full().Marshal()
	f.Add(js)
	f.Add([]byte{BinaryVersion, 1, 3, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			return
		}
		if len(e.Msg) == 0 || (e.Kind != KindRequest && e.Kind != KindResponse) {
			t.Fatalf("accepted %+v", e)
		}
		again, err := Unmarshal(e.AppendBinary(nil))
		if err != nil {
			t.Fatalf("re-encoded envelope refused: %v", err)
		}
		e.V = BinaryVersion
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip changed %+v into %+v", e, again)
		}
	})
}

func BenchmarkEnvelope(b *testing.B) {
	e := full()
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			data, _ := e.Marshal()
			if _, err := Unmarshal(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			buf = e.AppendBinary(buf[:0])
			if _, err := Unmarshal(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestDecodeCallOwner(t *testing.T) {
	for in, want := range map[string]CallOwner{
		`{"owner_node":"media-1","epoch":7,"v":1,"checkpoint":{"x":[1,2]}}`: {"media-1", 7},
		`{"owner_node":"m","epoch":0}`:                                      {"m", 0},
		`{"epoch":2,"legs":["x"],"owner_node":"m2"}`:                        {"m2", 2}, // another writer's order
		`{"owner_node":"m\u00e9","epoch":3}`:                                {"mé", 3}, // escapes: full decode
		` {"owner_node":"m","epoch":4}`:                                     {"m", 4},
		`{"owner_node":"m","epoch":18446744073709551615}`:                   {"m", 18446744073709551615},
	} {
		got, err := DecodeCallOwner([]byte(in))
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{``, `null`, `{}`, `{"epoch":3}`, `{"owner_node":"","epoch":1}`, `{"owner_node":"m","epoch":-1}`,
		`{"owner_node":"m","epoch":1e3}`, `not json`, `{"owner_node":"m","epoch":18446744073709551616}`} {
		if got, err := DecodeCallOwner([]byte(in)); err == nil {
			t.Errorf("%s: accepted as %+v", in, got)
		}
	}
}

// FuzzDecodeCallOwner: the prefix reader agrees with encoding/json on every
// valid value that names each field once.
func FuzzDecodeCallOwner(f *testing.F) {
	f.Add([]byte(`{"owner_node":"media-1","epoch":7,"v":1}`))
	f.Add([]byte(`{"owner_node":"m","epoch":01}`))
	f.Add([]byte(`{"epoch":2,"owner_node":"m2"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeCallOwner(data)
		lower := bytes.ToLower(data)
		if !json.Valid(data) || bytes.Count(lower, []byte("owner_node")) > 1 || bytes.Count(lower, []byte("epoch")) > 1 {
			return
		}
		var want CallOwner
		werr := json.Unmarshal(data, &want)
		if werr != nil || want.OwnerNode == "" {
			if err == nil {
				t.Fatalf("%q: accepted %+v, encoding/json says %v / %+v", data, got, werr, want)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("%q: %+v %v, encoding/json %+v", data, got, err, want)
		}
	})
}
