package callflow_test

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strowger/strowger/internal/callflow"
	"github.com/strowger/strowger/internal/validation"
)

type fake string

func (f fake) Name() string { return string(f) }
func (f fake) Decode(json.RawMessage) (callflow.Config, validation.Errors) {
	return nil, nil
}

func TestNamesHasEveryModule(t *testing.T) {
	want := []string{"answer", "callflow", "conference", "device", "group", "hangup", "menu",
		"play", "response", "ring_group", "temporal_route", "user", "voicemail"}
	names := callflow.Names()
	if !slices.IsSorted(names) {
		t.Fatalf("Names not sorted: %v", names)
	}
	for _, n := range want {
		m, ok := callflow.Lookup(n)
		if !ok || m.Name() != n {
			t.Errorf("module %q not registered", n)
		}
		if !slices.Contains(names, n) {
			t.Errorf("Names lacks %q", n)
		}
	}
	if _, ok := callflow.Lookup("nope"); ok {
		t.Error("Lookup found an unregistered module")
	}
}

func TestRegisterPanics(t *testing.T) {
	for _, m := range []callflow.Module{nil, fake(""), fake("Bad"), fake("has space"), fake("x.y"),
		fake(strings.Repeat("a", 65)), fake("device")} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%v) did not panic", m)
				}
			}()
			callflow.Register(m)
		}()
	}
}

// registerTestModule registers the test-only module once per process, so
// the test also passes with -count > 1.
var registerTestModule = sync.OnceFunc(func() { callflow.Register(fake("zz_test_only")) })

func TestRegisterAndLookup(t *testing.T) {
	registerTestModule()
	if m, ok := callflow.Lookup("zz_test_only"); !ok || m.Name() != "zz_test_only" {
		t.Fatal("registered module not found")
	}
	// A module that returns neither config nor errors is reported, not
	// handed to the engine as a nil config.
	node, errs := callflow.ParseFlow(map[string]any{"module": "zz_test_only", "data": map[string]any{}})
	if node != nil || !errs.Has("flow.data", "invalid") {
		t.Fatalf("node %v errs %v", node, errs)
	}
}

// TestImports keeps the plug-in boundary: internal/callflow imports only
// internal/validation of ours, and each module only those two.
func TestImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not found")
	}
	const mod = "github.com/strowger/strowger/"
	out, err := exec.Command(goBin, "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`,
		".", "./modules/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{mod + "internal/callflow": true, mod + "internal/validation": true}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		if pkg == mod+"internal/callflow/modules/all" {
			continue
		}
		for _, d := range deps {
			if strings.HasPrefix(d, mod) && !allowed[d] {
				t.Errorf("%s imports %s", pkg, d)
			}
		}
	}
}
