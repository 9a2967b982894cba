package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/strowger/strowger/internal/store"
)

// listQuery is a listing's parsed query string: filters and pagination.
type listQuery struct {
	filters   []filter
	pageSize  int
	startKey  string // decoded: the ID (or sort key) the page starts at
	paginate  bool
	ascending bool
}

type filter struct {
	kind  string // eq, ne, has_key, key_missing, has_value, missing_value, created_from, …
	param string // the query parameter, for error messages
	path  []string
	value string
	num   int64
}

// parseListQuery parses Kazoo's listing parameters. Bad values are
// validation errors naming the parameter.
func parseListQuery(q url.Values, defSize, maxSize int) (*listQuery, error) {
	lq := &listQuery{pageSize: defSize, paginate: true, ascending: true}
	for key, vals := range q {
		if len(vals) == 0 {
			continue
		}
		v := vals[0]
		switch {
		case key == "page_size":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fieldError("page_size", "minimum", "page_size must be a whole number of at least 1")
			}
			if n > maxSize {
				n = maxSize
			}
			lq.pageSize = n
		case key == "start_key":
			k, err := decodeStartKey(v)
			if err != nil {
				return nil, fieldError("start_key", "format", "start_key is not one this server issued")
			}
			lq.startKey = k
		case key == "paginate":
			lq.paginate = v != "false"
		case key == "ascending":
			lq.ascending = v != "false"
		case key == "descending":
			lq.ascending = v == "false"
		case strings.HasPrefix(key, "filter_not_"):
			lq.filters = append(lq.filters, filter{kind: "ne", param: key, path: splitPath(key[len("filter_not_"):]), value: v})
		case strings.HasPrefix(key, "filter_"):
			lq.filters = append(lq.filters, filter{kind: "eq", param: key, path: splitPath(key[len("filter_"):]), value: v})
		case key == "has_key" || key == "key_missing" || key == "has_value" || key == "missing_value":
			for _, p := range vals {
				lq.filters = append(lq.filters, filter{kind: key, param: key, path: splitPath(p)})
			}
		case key == "created_from" || key == "created_to" || key == "modified_from" || key == "modified_to":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return nil, fieldError(key, "type", key+" must be Gregorian seconds (a whole number)")
			}
			lq.filters = append(lq.filters, filter{kind: key, param: key, num: n})
		}
	}
	for _, f := range lq.filters {
		if len(f.path) == 0 && f.kind != "created_from" && f.kind != "created_to" && f.kind != "modified_from" && f.kind != "modified_to" {
			return nil, fieldError(f.param, "minLength", "the filter names no field")
		}
	}
	return lq, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, ".") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func encodeStartKey(k string) string { return base64.RawURLEncoding.EncodeToString([]byte(k)) }

func decodeStartKey(s string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 256 {
		return "", fmt.Errorf("bad start key")
	}
	return string(b), nil
}

// lookup walks a dotted path in a JSON object.
func lookup(body map[string]any, path []string) (any, bool) {
	var cur any = body
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[p]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// match applies every filter (AND) to a stored document body.
func (lq *listQuery) match(body map[string]any) bool {
	for _, f := range lq.filters {
		v, present := lookup(body, f.path)
		switch f.kind {
		case "eq":
			if !present || !valueEquals(v, f.value) {
				return false
			}
		case "ne":
			if present && valueEquals(v, f.value) {
				return false
			}
		case "has_key":
			if !present {
				return false
			}
		case "key_missing":
			if present {
				return false
			}
		case "has_value":
			if !present || isEmptyValue(v) {
				return false
			}
		case "missing_value":
			if present && !isEmptyValue(v) {
				return false
			}
		case "created_from", "created_to", "modified_from", "modified_to":
			field := "pvt_created"
			if strings.HasPrefix(f.kind, "modified") {
				field = "pvt_modified"
			}
			t := toInt(body[field])
			if strings.HasSuffix(f.kind, "_from") && t < f.num || strings.HasSuffix(f.kind, "_to") && t > f.num {
				return false
			}
		}
	}
	return true
}

func valueEquals(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want
	case bool:
		return strconv.FormatBool(x) == want
	case json.Number:
		return x.String() == want
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64) == want
	case []any:
		for _, e := range x {
			if valueEquals(e, want) {
				return true
			}
		}
	}
	return false
}

func isEmptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return n
	case float64:
		return int64(x)
	case int64:
		return x
	case int:
		return int64(x)
	}
	return 0
}

// page filters, orders and cuts docs; it returns the page and the next
// page's start key ("" on the last page).
func (lq *listQuery) page(docs []*store.Doc, limit int) ([]*store.Doc, string, error) {
	var kept []*store.Doc
	for _, d := range docs {
		if lq.match(d.Body) {
			kept = append(kept, d)
		}
	}
	sort.Slice(kept, func(i, j int) bool {
		if lq.ascending {
			return kept[i].ID < kept[j].ID
		}
		return kept[i].ID > kept[j].ID
	})
	if lq.startKey != "" {
		i := sort.Search(len(kept), func(i int) bool {
			if lq.ascending {
				return kept[i].ID >= lq.startKey
			}
			return kept[i].ID <= lq.startKey
		})
		kept = kept[i:]
	}
	if !lq.paginate {
		if len(kept) > limit {
			return nil, "", &apiError{code: 416, message: "range not satisfiable",
				data: map[string]any{"message": fmt.Sprintf("more than %d results: paginate the listing", limit)}}
		}
		return kept, "", nil
	}
	if len(kept) > lq.pageSize {
		return kept[:lq.pageSize], encodeStartKey(kept[lq.pageSize].ID), nil
	}
	return kept, "", nil
}
