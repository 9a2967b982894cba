package cache

import (
	"testing"
	"time"

	"github.com/strowger/strowger/internal/clock"
)

func TestCache(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	epoch := uint64(0)
	c := New[string, int](clk, time.Minute, 3, func() uint64 { return epoch })

	// A miss, then the store's answer is kept until the TTL.
	if _, ok, tk := c.Get("a"); ok {
		t.Fatal("hit on an empty cache")
	} else {
		c.Put("a", 1, tk)
	}
	if v, ok, _ := c.Get("a"); !ok || v != 1 {
		t.Fatalf("a = %d, %v", v, ok)
	}
	clk.Advance(time.Minute)
	if _, ok, _ := c.Get("a"); ok {
		t.Fatal("served past its TTL")
	}

	// A read that started before an invalidation does not store.
	_, _, tk := c.Get("b")
	c.Delete("x")
	c.Put("b", 2, tk)
	if c.Contains("b") {
		t.Fatal("stale read stored after an invalidation")
	}

	// DeleteFunc, and a changed epoch clears everything.
	for _, k := range []string{"p", "q"} {
		_, _, tk := c.Get(k)
		c.Put(k, len(k), tk)
	}
	c.DeleteFunc(func(k string, _ int) bool { return k == "p" })
	if c.Contains("p") || !c.Contains("q") {
		t.Fatal("DeleteFunc")
	}
	epoch++
	if _, ok, _ := c.Get("q"); ok || c.Len() != 0 {
		t.Fatal("epoch change did not clear")
	}

	// Full: the whole cache is dropped before a new entry goes in.
	for _, k := range []string{"1", "2", "3", "4"} {
		_, _, tk := c.Get(k)
		c.Put(k, 0, tk)
	}
	if n := c.Len(); n != 1 || !c.Contains("4") {
		t.Fatalf("%d entries after overflow", n)
	}
	c.Reset()
	if c.Len() != 0 {
		t.Fatal("Reset")
	}
}
