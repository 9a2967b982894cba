package api

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

// FuzzDecodeEnvelope: request-body decoding never panics and yields either
// a data object or a 400-class *apiError.
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"data":{"name":"x"}}`,
		`{"data":{"name":"x","ui_metadata":{"a":[1,2,{"b":null}]}},"auth_token":"t","verb":"PUT","action":"lock"}`,
		`{"data":null}`, `{"data":[1]}`, `{"data":"s"}`, `{}`, `null`, `[]`, ``, `   `,
		`{"data":{"n":1e999999}}`, `{"data":{"a":1},"auth_token":5}`, `{"data":{}} trailing`,
		`{"data":{"\u0000":"\ud800"}}`, `{"data":{"a":{"a":{"a":{"a":{}}}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data, env, err := decodeEnvelopeBytes(body)
		if err == nil {
			if data == nil || env == nil {
				t.Fatalf("no error but data %v env %v", data, env)
			}
			// What was accepted can be stored: it encodes back to JSON.
			if _, err := json.Marshal(data); err != nil {
				t.Fatalf("accepted data does not encode: %v", err)
			}
			if !json.Valid(body) {
				t.Fatalf("accepted invalid JSON %q", body)
			}
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			t.Fatalf("error %T %v is not an *apiError", err, err)
		}
		if ae.code != http.StatusBadRequest {
			t.Fatalf("error code %d for %q", ae.code, body)
		}
		if !json.Valid(body) && ae.message != "failed to parse request body" {
			t.Fatalf("invalid JSON answered %q", ae.message)
		}
		if data != nil {
			t.Fatalf("data returned with an error")
		}
	})
}

// fuzzDocs is a fixed set of documents for FuzzListQuery.
func fuzzDocs(n int) []*store.Doc {
	docs := make([]*store.Doc, 0, n)
	for i := range n {
		body := map[string]any{
			"name":        fmt.Sprint("doc ", i),
			"color":       []string{"red", "blue", "green"}[i%3],
			"rank":        json.Number(fmt.Sprint(i)),
			"tags":        []any{"t" + fmt.Sprint(i%4)},
			"pvt_created": json.Number(fmt.Sprint(63900000000 + i*10)),
		}
		if i%2 == 0 {
			body["ui_metadata"] = map[string]any{"origin": "ui"}
		}
		// IDs not in creation order, as in the store.
		docs = append(docs, &store.Doc{ID: fmt.Sprintf("%032x", uint64(i)*0x9e3779b97f4a7c15), Body: body})
	}
	return docs
}

// FuzzListQuery: parseListQuery and page never panic, never return more
// than page_size items, and next_start_key resumes where the page ended.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"", "page_size=2", "page_size=1&ascending=false", "page_size=3&filter_color=red",
		"filter_not_color=blue&has_key=ui_metadata", "key_missing=ui_metadata&page_size=1",
		"created_from=63900000050&created_to=63900000120", "filter_tags=t1", "paginate=false",
		"start_key=MDAw&page_size=2", "has_value=name&missing_value=nope", "filter_=x", "page_size=-1",
		"page_size=99999999999999999999", "start_key=%%%", "descending=true&page_size=4",
	} {
		f.Add(s, uint8(20), uint8(5))
	}
	f.Fuzz(func(t *testing.T, raw string, ndocs, defSize uint8) {
		q, _ := url.ParseQuery(raw) // partial values are what a server sees
		const maxSize, limit = 50, 30
		def := int(defSize)%maxSize + 1
		docs := fuzzDocs(int(ndocs) % 64)
		lq, err := parseListQuery(q, def, maxSize)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) || ae.code != http.StatusBadRequest {
				t.Fatalf("parse error %v is not a 400 *apiError", err)
			}
			return
		}
		if lq.pageSize < 1 || lq.pageSize > maxSize {
			t.Fatalf("page size %d outside [1,%d]", lq.pageSize, maxSize)
		}
		page, next, err := lq.page(slices.Clone(docs), limit)
		if err != nil {
			var ae *apiError
			if lq.paginate || !errors.As(err, &ae) || ae.code != http.StatusRequestedRangeNotSatisfiable {
				t.Fatalf("page error %v", err)
			}
			return
		}
		for _, d := range page {
			if !lq.match(d.Body) {
				t.Fatalf("page holds %s, which the filters exclude", d.ID)
			}
		}
		if !lq.paginate {
			if next != "" || len(page) > limit {
				t.Fatalf("unpaginated listing: %d items, next %q", len(page), next)
			}
			return
		}
		// Everything from the start key on, unpaginated, is the reference.
		all := *lq
		all.paginate = false
		want, _, err := all.page(slices.Clone(docs), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var walked []string
		for pages := 0; ; pages++ {
			if len(page) > lq.pageSize {
				t.Fatalf("page of %d items, page_size %d", len(page), lq.pageSize)
			}
			if next != "" && len(page) != lq.pageSize {
				t.Fatalf("short page (%d of %d) with a next_start_key", len(page), lq.pageSize)
			}
			for _, d := range page {
				walked = append(walked, d.ID)
			}
			if next == "" {
				break
			}
			if pages > len(docs) {
				t.Fatal("pagination does not end")
			}
			key, err := decodeStartKey(next)
			if err != nil {
				t.Fatalf("next_start_key %q does not decode: %v", next, err)
			}
			nq, err := parseListQuery(url.Values{"start_key": {next}}, def, maxSize)
			if err != nil || nq.startKey != key {
				t.Fatalf("next_start_key %q does not parse back: %v", next, err)
			}
			lq.startKey = key
			if page, next, err = lq.page(slices.Clone(docs), limit); err != nil {
				t.Fatal(err)
			}
		}
		var wantIDs []string
		for _, d := range want {
			wantIDs = append(wantIDs, d.ID)
		}
		if !slices.Equal(walked, wantIDs) {
			t.Fatalf("walking the pages gave %v, want %v", walked, wantIDs)
		}
	})
}

// FuzzParseBasic: Basic credentials decoding never panics, and what it
// accepts is an account ID with a lowercase hex MD5 or SHA-1 digest.
func FuzzParseBasic(f *testing.F) {
	for _, s := range []string{
		base64.StdEncoding.EncodeToString([]byte(store.NewID() + ":" + "0123456789abcdef0123456789abcdef")),
		base64.StdEncoding.EncodeToString([]byte(store.NewID() + ":" + "0123456789ABCDEF0123456789ABCDEF01234567")),
		base64.StdEncoding.EncodeToString([]byte("acct:pass")),
		base64.StdEncoding.EncodeToString([]byte(store.NewID())),
		base64.StdEncoding.EncodeToString([]byte(store.NewID() + "::0123456789abcdef0123456789abcdef")),
		"", "%%%", "  " + base64.StdEncoding.EncodeToString([]byte("a:b")) + "  ", "=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		acct, digest, field, ok := parseBasic(header)
		if !ok {
			if acct != "" || digest != "" || field != "" {
				t.Fatalf("refused but returned %q %q %q", acct, digest, field)
			}
			return
		}
		if !store.IsID(acct) {
			t.Fatalf("accepted account %q", acct)
		}
		if _, err := hex.DecodeString(digest); err != nil || digest != strings.ToLower(digest) {
			t.Fatalf("accepted digest %q", digest)
		}
		if (len(digest) == 32) != (field == "pvt_md5_auth") || (len(digest) == 40) != (field == "pvt_sha1_auth") {
			t.Fatalf("digest %q stored as %q", digest, field)
		}
	})
}
