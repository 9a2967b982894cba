// Package clock abstracts time so that SIP timers, registration expiry,
// no-answer timeouts and RTP timeouts run on a clock tests control.
//
// Production code takes a Clock and uses Real(); tests use NewFake and move
// time with Advance. Any package may import clock; it imports nothing of ours.
package clock

import (
	"sync"
	"time"
)

// Clock is the narrow time source injected into timer-driven code.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed on this clock.
	AfterFunc(d time.Duration, f func()) Timer
	// NewTimer returns a timer whose channel receives once d has elapsed.
	NewTimer(d time.Duration) Timer
}

// Timer is the subset of *time.Timer that both clocks provide.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it was pending.
	Stop() bool
	// Reset re-arms the timer to fire d from now; it reports whether it was pending.
	Reset(d time.Duration) bool
}

// Real returns the wall clock.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return realTimer{t: time.AfterFunc(d, f)}
}

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{t: time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

// Fake is a manual clock for tests. Timers fire only from Advance or Set.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake { return &Fake{now: start} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves time forward by d and fires every timer that falls due,
// in deadline order.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	target := f.now.Add(d)
	f.mu.Unlock()
	f.Set(target)
}

// Set moves time to t (never backwards) and fires due timers in order.
func (f *Fake) Set(t time.Time) {
	for {
		f.mu.Lock()
		var next *fakeTimer
		for _, ft := range f.timers {
			if ft.active && !ft.when.After(t) && (next == nil || ft.when.Before(next.when)) {
				next = ft
			}
		}
		if next == nil {
			if t.After(f.now) {
				f.now = t
			}
			f.mu.Unlock()
			return
		}
		if next.when.After(f.now) {
			f.now = next.when
		}
		next.active = false
		f.removeLocked(next)
		now := f.now
		f.mu.Unlock()
		next.fire(now)
	}
}

// Pending reports how many timers are armed; tests use it to wait until the
// code under test has set its timers before advancing.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// AfterFunc implements Clock.
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	return f.add(d, fn)
}

// NewTimer implements Clock.
func (f *Fake) NewTimer(d time.Duration) Timer {
	return f.add(d, nil)
}

func (f *Fake) add(d time.Duration, fn func()) *fakeTimer {
	ft := &fakeTimer{clock: f, fn: fn, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	ft.when = f.now.Add(d)
	ft.active = true
	f.timers = append(f.timers, ft)
	f.mu.Unlock()
	if d <= 0 {
		f.Advance(0)
	}
	return ft
}

func (f *Fake) removeLocked(ft *fakeTimer) {
	for i, x := range f.timers {
		if x == ft {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			return
		}
	}
}

type fakeTimer struct {
	clock  *Fake
	when   time.Time
	active bool
	fn     func()
	ch     chan time.Time
}

func (t *fakeTimer) fire(now time.Time) {
	if t.fn != nil {
		// Run synchronously so that Advance returns after the callback's
		// effects are visible; callbacks must not call Advance.
		t.fn()
		return
	}
	select {
	case t.ch <- now:
	default:
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.active
	t.active = false
	t.clock.removeLocked(t)
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	was := t.active
	t.clock.removeLocked(t)
	t.when = t.clock.now.Add(d)
	t.active = true
	t.clock.timers = append(t.clock.timers, t)
	t.clock.mu.Unlock()
	if d <= 0 {
		t.clock.Advance(0)
	}
	return was
}
