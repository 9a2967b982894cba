// Package validation holds the shape of Kazoo's validation error details,
// shared by the JSON Schema validator, callflow modules and the API:
//
//	{"sip.username": {"unique": {"message": "…", "cause": "alice"}}}
//
// The outer key is the dotted field path, the inner key the rule name
// (required, type, minLength, enum, unique, …). Any package may import it.
package validation

import (
	"sort"
	"strings"
)

// Detail describes one failed rule; it always carries "message" and may
// carry rule-specific keys such as "target" or "cause".
type Detail map[string]any

// Errors maps field path → rule → detail. A nil or empty Errors is valid.
type Errors map[string]map[string]Detail

// Add records a failed rule on a field; the first detail per rule wins.
func (e Errors) Add(field, rule, message string, extra ...any) {
	rules, ok := e[field]
	if !ok {
		rules = map[string]Detail{}
		e[field] = rules
	}
	if _, dup := rules[rule]; dup {
		return
	}
	d := Detail{"message": message}
	for i := 0; i+1 < len(extra); i += 2 {
		if k, ok := extra[i].(string); ok {
			d[k] = extra[i+1]
		}
	}
	rules[rule] = d
}

// Merge adds every detail of other, prefixing its fields with prefix
// (joined with a dot) when prefix is not empty.
func (e Errors) Merge(prefix string, other Errors) {
	for field, rules := range other {
		f := Join(prefix, field)
		for rule, d := range rules {
			if _, ok := e[f]; !ok {
				e[f] = map[string]Detail{}
			}
			if _, dup := e[f][rule]; !dup {
				e[f][rule] = d
			}
		}
	}
}

// Empty reports whether no rule failed.
func (e Errors) Empty() bool { return len(e) == 0 }

// Fields lists the failing field paths, sorted.
func (e Errors) Fields() []string {
	out := make([]string, 0, len(e))
	for f := range e {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Has reports whether field failed rule.
func (e Errors) Has(field, rule string) bool {
	_, ok := e[field][rule]
	return ok
}

// Error makes Errors usable as an error value.
func (e Errors) Error() string {
	var b strings.Builder
	b.WriteString("validation error:")
	for _, f := range e.Fields() {
		rules := make([]string, 0, len(e[f]))
		for r := range e[f] {
			rules = append(rules, r)
		}
		sort.Strings(rules)
		b.WriteString(" " + f + "(" + strings.Join(rules, ",") + ")")
	}
	return b.String()
}

// Join joins dotted path segments, skipping empty ones.
func Join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}
