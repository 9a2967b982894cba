package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrder(t *testing.T) {
	f := NewFake(time.Unix(1000, 0))
	var got []int
	f.AfterFunc(3*time.Second, func() { got = append(got, 3) })
	f.AfterFunc(1*time.Second, func() { got = append(got, 1) })
	stopped := f.AfterFunc(2*time.Second, func() { got = append(got, 2) })
	if !stopped.Stop() {
		t.Fatal("Stop on a pending timer reported false")
	}
	tm := f.NewTimer(5 * time.Second)
	f.Advance(4 * time.Second)
	if len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("fired %v, want [1 3]", got)
	}
	select {
	case <-tm.C():
		t.Fatal("timer fired early")
	default:
	}
	f.Advance(time.Second)
	select {
	case at := <-tm.C():
		if !at.Equal(time.Unix(1005, 0)) {
			t.Fatalf("fired at %v", at)
		}
	default:
		t.Fatal("timer did not fire")
	}
	if f.Pending() != 0 {
		t.Fatalf("pending %d", f.Pending())
	}
}

func TestFakeReset(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	n := 0
	tm := f.AfterFunc(time.Second, func() { n++ })
	f.Advance(500 * time.Millisecond)
	tm.Reset(time.Second)
	f.Advance(900 * time.Millisecond)
	if n != 0 {
		t.Fatal("reset timer fired at its old deadline")
	}
	f.Advance(100 * time.Millisecond)
	if n != 1 {
		t.Fatalf("n=%d", n)
	}
}
