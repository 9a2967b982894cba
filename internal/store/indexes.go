package store

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
)

// Document types as stored in pvt_type and in keys.
const (
	TypeAccount          = "account"
	TypeUser             = "user"
	TypeDevice           = "device"
	TypeCallflow         = "callflow"
	TypeVMBox            = "vmbox"
	TypeMenu             = "menu"
	TypeGroup            = "group"
	TypeTemporalRule     = "temporal_rule"
	TypeTemporalRulesSet = "temporal_rules_set"
	TypeConference       = "conference"
	TypeMedia            = "media"
	TypeLimits           = "limits"
)

// defaultIndexes says which index entries each document type holds.
var defaultIndexes = map[string]IndexFunc{
	TypeAccount:  accountIndexes,
	TypeUser:     userIndexes,
	TypeDevice:   deviceIndexes,
	TypeCallflow: callflowIndexes,
	TypeVMBox:    vmboxIndexes,
}

func accountIndexes(account, id string, body map[string]any) []Unique {
	var out []Unique
	if realm := strings.ToLower(str(body["realm"])); realm != "" {
		out = append(out, Unique{Key: IndexRealm(realm), Field: "realm", Value: realm})
	}
	if name := strings.ToLower(str(body["name"])); name != "" {
		out = append(out, Unique{Key: IndexAccountName(name, id)})
	}
	if tree := Tree(body); len(tree) > 0 {
		out = append(out, Unique{Key: IndexChild(tree[len(tree)-1], id)})
	}
	if key := str(body["pvt_api_key"]); key != "" {
		out = append(out, Unique{Key: IndexAPIKey(APIKeyDigest(key))})
	}
	return out
}

func userIndexes(account, id string, body map[string]any) []Unique {
	var out []Unique
	if u := strings.ToLower(str(body["username"])); u != "" {
		out = append(out, Unique{Key: IndexUsername(account, u), Field: "username", Value: u})
	}
	for _, f := range []string{"pvt_md5_auth", "pvt_sha1_auth"} {
		if h := str(body[f]); h != "" {
			out = append(out, Unique{Key: IndexCredential(account, h), Field: "username", Value: str(body["username"])})
		}
	}
	return out
}

func vmboxIndexes(account, id string, body map[string]any) []Unique {
	if m := str(body["mailbox"]); m != "" {
		return []Unique{{Key: IndexMailbox(account, m), Field: "mailbox", Value: m}}
	}
	return nil
}

func deviceIndexes(account, id string, body map[string]any) []Unique {
	sip, _ := body["sip"].(map[string]any)
	if u := str(sip["username"]); u != "" {
		return []Unique{{Key: IndexSIPUser(account, u), Field: "sip.username", Value: u}}
	}
	return nil
}

func callflowIndexes(account, id string, body map[string]any) []Unique {
	var out []Unique
	seen := map[string]bool{}
	for _, n := range strList(body["numbers"]) {
		k := IndexNumber(account, n)
		if !seen[k] {
			seen[k] = true
			out = append(out, Unique{Key: k, Field: "numbers", Value: n})
		}
	}
	for _, n := range strList(body["numbers"]) {
		if d, ok := PhoneDigits(n); ok {
			k := IndexDID(d, account, id)
			if !seen[k] {
				seen[k] = true
				out = append(out, Unique{Key: k})
			}
		}
	}
	for _, p := range strList(body["patterns"]) {
		k := IndexPattern(account, p)
		if !seen[k] {
			seen[k] = true
			out = append(out, Unique{Key: k, Field: "patterns", Value: p})
		}
	}
	return out
}

// PhoneDigits reduces a phone number as people write it ("+1 (415)
// 555-0100") to its digits, and reports whether it is long enough to be a
// phone number rather than an extension: 7 to 15 digits (E.164's maximum).
// Nothing but digits, spaces, dashes, dots, parentheses and one leading
// '+' is accepted.
func PhoneDigits(n string) (string, bool) {
	var b strings.Builder
	for i, c := range n {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && i == 0, c == ' ', c == '-', c == '.', c == '(', c == ')':
		default:
			return "", false
		}
	}
	d := b.String()
	return d, len(d) >= 7 && len(d) <= 15
}

// APIKeyDigest is the hex SHA-256 of an API key; only the digest is indexed.
func APIKeyDigest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Tree returns an account body's pvt_tree (ancestors, root first).
func Tree(body map[string]any) []string { return strList(body["pvt_tree"]) }

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strList(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok && s != "" {
			out = append(out, s)
		}
	}
	if ss, ok := v.([]string); ok {
		out = append(out, ss...)
	}
	return out
}

func sortDocs(d []*Doc) { sort.Slice(d, func(i, j int) bool { return d[i].ID < d[j].ID }) }
