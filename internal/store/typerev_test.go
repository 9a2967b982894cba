package store_test

import (
	"context"
	"testing"

	"github.com/strowger/strowger/internal/store"
)

func TestTypeRevision(t *testing.T) {
	st, _ := newStore(t)
	ctx := context.Background()
	acct, other := store.NewID(), store.NewID()
	rev := func(a, typ string) uint64 {
		t.Helper()
		r, err := st.TypeRevision(ctx, a, typ)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := rev(acct, store.TypeCallflow); r != 0 {
		t.Fatalf("empty account: %d", r)
	}
	cf, err := st.Create(ctx, &store.Doc{Account: acct, Type: store.TypeCallflow, Body: map[string]any{"numbers": []any{"1"}}})
	if err != nil {
		t.Fatal(err)
	}
	r1 := rev(acct, store.TypeCallflow)
	if r1 == 0 || r1 != cf.Rev {
		t.Fatalf("after create: %d, doc rev %d", r1, cf.Rev)
	}
	// Writes to other types and other accounts do not move it.
	if _, err := st.Create(ctx, device(acct, "alice")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Create(ctx, &store.Doc{Account: other, Type: store.TypeCallflow, Body: map[string]any{"numbers": []any{"1"}}}); err != nil {
		t.Fatal(err)
	}
	if r := rev(acct, store.TypeCallflow); r != r1 {
		t.Fatalf("moved by unrelated writes: %d != %d", r, r1)
	}
	if _, err := st.Update(ctx, acct, store.TypeCallflow, cf.ID, 0, func(b map[string]any) (map[string]any, error) {
		b["name"] = "x"
		return b, nil
	}); err != nil {
		t.Fatal(err)
	}
	r2 := rev(acct, store.TypeCallflow)
	if r2 <= r1 {
		t.Fatalf("update did not move it: %d <= %d", r2, r1)
	}
	if _, err := st.Delete(ctx, acct, store.TypeCallflow, cf.ID, 0); err != nil {
		t.Fatal(err)
	}
	if r3 := rev(acct, store.TypeCallflow); r3 <= r2 {
		t.Fatalf("delete did not move it: %d <= %d", r3, r2)
	}
	if _, err := st.TypeRevision(ctx, "not-an-account", store.TypeCallflow); err == nil {
		t.Fatal("bad account accepted")
	}
	if _, err := st.TypeRevision(ctx, acct, "a.b"); err == nil {
		t.Fatal("bad type accepted")
	}
}
