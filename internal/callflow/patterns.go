package callflow

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/strowger/strowger/internal/validation"
)

// MaxPatternLength bounds one entry of a callflow's `patterns`.
const MaxPatternLength = 256

// CompilePattern compiles one entry of a callflow's `patterns` in the
// dialect the dialplan matches with: Go's RE2 syntax, which covers what
// Kazoo patterns use (anchors, classes, \d, groups, alternation, counted
// repetition) and runs in linear time on any input. PCRE-only constructs
// (look-arounds, back-references, possessive quantifiers) do not compile.
func CompilePattern(p string) (*regexp.Regexp, error) {
	if p == "" {
		return nil, fmt.Errorf("empty pattern")
	}
	if len(p) > MaxPatternLength {
		return nil, fmt.Errorf("pattern longer than %d bytes", MaxPatternLength)
	}
	return regexp.Compile(p)
}

// CheckPatterns records an "invalid" error on field.<i> for every entry of
// a callflow's `patterns` that CompilePattern rejects, so the API refuses
// on save a pattern the dialplan could never match.
func CheckPatterns(errs validation.Errors, field string, patterns []string) {
	for i, p := range patterns {
		if _, err := CompilePattern(p); err != nil {
			errs.Add(validation.Join(field, strconv.Itoa(i)), "invalid",
				"Value is not a supported regular expression: "+truncate(err.Error(), 200))
		}
	}
}
