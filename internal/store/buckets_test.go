package store_test

import (
	"context"
	"testing"

	"github.com/strowger/strowger/internal/bus/bustest"
	"github.com/strowger/strowger/internal/store"
)

func TestProvisionIdempotent(t *testing.T) {
	s := bustest.Start(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		b, err := store.Provision(ctx, s.JS, store.ProvisionOptions{})
		if err != nil {
			t.Fatalf("provision %d: %v", i, err)
		}
		if b.Docs == nil || b.Registrations == nil || b.CDR == nil || b.Media == nil {
			t.Fatal("missing handle")
		}
	}
}
