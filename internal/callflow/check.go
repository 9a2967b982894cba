package callflow

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/strowger/strowger/internal/validation"
)

// The helpers below record failed rules with Kazoo's rule names and messages
// (those of kz_json_schema), so errors from modules read exactly like errors
// from the JSON Schema validator of the other resources.

// DocIDPattern is the shape of every document id: 32 lowercase hex characters.
const DocIDPattern = "^[0-9a-f]{32}$"

// IsDocID reports whether s is a well-formed document id.
func IsDocID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// AddRequired records that field is missing.
func AddRequired(errs validation.Errors, field string) {
	errs.Add(field, "required", "Field is required but missing")
}

// AddType records that field has the wrong JSON type; target is the expected
// type ("string", "integer", "number", "boolean", "array", "object").
func AddType(errs validation.Errors, field, target string) {
	errs.Add(field, "type", "Value did not match type(s): "+target, "target", target)
}

// AddUnknown records a key that the module does not define.
func AddUnknown(errs validation.Errors, field string) {
	errs.Add(field, "additionalProperties",
		"Strict checking of data is enabled; only include schema-defined properties")
}

// AddPattern records that field does not match pattern.
func AddPattern(errs validation.Errors, field, pattern string) {
	errs.Add(field, "pattern", "Failed to match pattern '"+pattern+"'", "target", pattern)
}

// CheckDocID records a pattern error unless id is a document id. Callers
// check optional ids only when they are set.
func CheckDocID(errs validation.Errors, field, id string) {
	if !IsDocID(id) {
		AddPattern(errs, field, DocIDPattern)
	}
}

// CheckMin records a minimum error when v < lo.
func CheckMin(errs validation.Errors, field string, v, lo int) {
	if v < lo {
		errs.Add(field, "minimum", "Value must be at least "+strconv.Itoa(lo), "target", lo)
	}
}

// CheckMax records a maximum error when v > hi.
func CheckMax(errs validation.Errors, field string, v, hi int) {
	if v > hi {
		errs.Add(field, "maximum", "Value must be at most "+strconv.Itoa(hi), "target", hi)
	}
}

// CheckRange records a minimum or maximum error unless lo <= v <= hi.
func CheckRange(errs validation.Errors, field string, v, lo, hi int) {
	CheckMin(errs, field, v, lo)
	CheckMax(errs, field, v, hi)
}

// CheckEnum records an enum error unless v is one of allowed.
func CheckEnum(errs validation.Errors, field, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	errs.Add(field, "enum", "Value not found in enumerated list of values",
		"target", append([]string(nil), allowed...))
}

// CheckMaxLength records a maxLength error when s has more than n characters.
func CheckMaxLength(errs validation.Errors, field, s string, n int) {
	if utf8.RuneCountInString(s) > n {
		errs.Add(field, "maxLength", fmt.Sprintf("String must not be more than %d characters", n),
			"target", n)
	}
}

// CheckMinItems records a minItems error when a list has fewer than lo items.
func CheckMinItems(errs validation.Errors, field string, n, lo int) {
	if n < lo {
		errs.Add(field, "minItems", fmt.Sprintf("The list must have at least %d items", lo),
			"target", lo)
	}
}

// sipToken is RFC 3261's token, the shape of a header name.
const sipTokenPattern = "^[A-Za-z0-9.!%*_+`'~-]+$"

var sipToken = regexp.MustCompile(sipTokenPattern)

// CheckSIPHeaders validates custom SIP headers that a module will add to
// outbound INVITEs. Names must be SIP tokens and values must not contain
// control characters: a CR or LF in tenant data would otherwise let a tenant
// inject arbitrary headers (or a body) into signalling that leaves the
// platform.
func CheckSIPHeaders(errs validation.Errors, field string, headers map[string]string) {
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := validation.Join(field, n)
		if !sipToken.MatchString(n) {
			AddPattern(errs, f, sipTokenPattern)
			continue
		}
		if HasControl(headers[n]) {
			errs.Add(f, "pattern", "Value must not contain control characters")
		}
	}
}

// HasControl reports whether s contains an ASCII control character (CR, LF,
// NUL, ...) other than a horizontal tab; such characters must never reach a
// SIP message.
func HasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return (r < 0x20 && r != '\t') || r == 0x7f
	}) >= 0
}
