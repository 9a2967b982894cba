package callflow_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/callflow/callflowtest"
	"github.com/strowger/strowger/internal/validation"
)

func TestCheckPatterns(t *testing.T) {
	errs := validation.Errors{}
	callflow.CheckPatterns(errs, "patterns", []string{
		`^\*3([0-9]*)$`, `^\+?1?(\d{10})$`, // Kazoo's usual shapes
		`^(?=1)\d+$`, // PCRE look-ahead
		`^(\d)\1$`,   // back-reference
		`(`,          // broken
		``,           // empty
		strings.Repeat("1", callflow.MaxPatternLength+1),
	})
	want := []string{"patterns.2 invalid", "patterns.3 invalid", "patterns.4 invalid", "patterns.5 invalid", "patterns.6 invalid"}
	if got := callflowtest.Flatten(errs); !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}
