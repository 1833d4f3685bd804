package simtest_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/sim"
	"github.com/corral-ha/corral/core/sim/simtest"
)

// fakeT is a testing.TB that records failures instead of failing the real
// test; its FailNow unwinds with a failNow panic that run recovers. The
// embedded TB is nil: a method it does not override panics.
type fakeT struct {
	testing.TB
	name   string
	failed bool
	out    strings.Builder
}

type failNow struct{}

func (f *fakeT) Helper()                         {}
func (f *fakeT) Name() string                    { return f.name }
func (f *fakeT) Failed() bool                    { return f.failed }
func (f *fakeT) Fail()                           { f.failed = true }
func (f *fakeT) FailNow()                        { f.failed = true; panic(failNow{}) }
func (f *fakeT) Log(args ...any)                 { fmt.Fprintln(&f.out, args...) }
func (f *fakeT) Logf(format string, args ...any) { fmt.Fprintf(&f.out, format+"\n", args...) }
func (f *fakeT) Error(args ...any)               { f.Log(args...); f.Fail() }
func (f *fakeT) Errorf(format string, args ...any) {
	f.Logf(format, args...)
	f.Fail()
}
func (f *fakeT) Fatal(args ...any)                 { f.Log(args...); f.FailNow() }
func (f *fakeT) Fatalf(format string, args ...any) { f.Logf(format, args...); f.FailNow() }

// run calls fn with f and swallows f's FailNow; it returns any other panic.
func (f *fakeT) run(fn func()) (panicked any) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(failNow); !ok {
				panicked = p
			}
		}
	}()
	fn()
	return nil
}

type echo struct{ h *sim.Host }

func (e *echo) Tick(now time.Duration) {
	if e.h.ID() == 1 {
		e.h.Send(0, sim.Addr{Node: 2}, []byte("ping"))
	}
}

func (e *echo) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	e.h.Logf("got %q from %v", data, from)
}

func echoFactory(h *sim.Host) sim.Process { return &echo{h: h} }

func TestFailureReportHasSeedAndReplay(t *testing.T) {
	f := &fakeT{name: t.Name() + "/a (sub) case"}
	f.run(func() {
		simtest.Check(f, 12345, func(r *simtest.Run) {
			s := r.New(sim.Config{Nodes: 2}, echoFactory)
			s.Run(time.Second)
			s.Logf("about to fail")
			r.Fatalf("invariant broken at %v", s.Now())
		})
		t.Error("Check went on after Fatalf")
	})
	out := f.out.String()
	t.Logf("the fake test's output:\n%s", out)
	want := []string{
		"invariant broken at 1s",
		"simulation failed with seed 12345",
		"replay: go test ./core/sim/simtest/ -run '^TestFailureReportHasSeedAndReplay$/^a \\(sub\\) case$' -count=1 -v -seed=12345",
		"# about to fail",
		`n2   | got "ping" from n1/0`,
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if !f.failed {
		t.Error("the fake test did not fail")
	}
	if n := strings.Count(out, "\n"); n < 200 || n > 210 {
		t.Errorf("report has %d lines, want the last 200 trace lines and a header", n)
	}
}

func TestErrorfIsReportedAndCheckReturnsFalse(t *testing.T) {
	f := &fakeT{name: "TestX"}
	ok := simtest.Check(f, 7, func(r *simtest.Run) {
		r.New(sim.Config{}, echoFactory).Run(100 * time.Millisecond)
		r.Errorf("soft failure")
	})
	if ok || !f.failed || !strings.Contains(f.out.String(), "-run '^TestX$' -count=1 -v -seed=7") {
		t.Fatalf("ok=%v failed=%v output:\n%s", ok, f.failed, f.out.String())
	}
	if !simtest.Check(t, 7, func(r *simtest.Run) {}) {
		t.Fatal("a passing run reported a failure")
	}
}

func TestPanicIsReportedAndReraised(t *testing.T) {
	f := &fakeT{name: "TestY"}
	p := f.run(func() {
		simtest.Check(f, 8, func(r *simtest.Run) {
			r.New(sim.Config{}, echoFactory)
			panic("boom")
		})
	})
	if p != "boom" || !f.failed || !strings.Contains(f.out.String(), "panic: boom") || !strings.Contains(f.out.String(), "-seed=8") {
		t.Fatalf("panic %v, failed %v, output:\n%s", p, f.failed, f.out.String())
	}
}

func TestSweepStopsAtFirstFailure(t *testing.T) {
	seeds := simtest.Seeds()
	if len(seeds) == 0 {
		t.Skip("no seeds")
	}
	bad := seeds[min(2, len(seeds)-1)]
	var ran []int64
	f := &fakeT{name: "TestZ"}
	f.run(func() {
		simtest.Sweep(f, func(r *simtest.Run) {
			ran = append(ran, r.Seed)
			if r.Seed == bad {
				r.Fatalf("bad seed")
			}
		})
	})
	if ran[len(ran)-1] != bad || len(ran) != min(3, len(seeds)) {
		t.Fatalf("ran %v, want up to %d", ran, bad)
	}
	if !strings.Contains(f.out.String(), fmt.Sprintf("-seed=%d", bad)) {
		t.Fatalf("output:\n%s", f.out.String())
	}
}

func TestDeterministicCatchesLeaks(t *testing.T) {
	calls := 0
	leaky := func(r *simtest.Run) {
		calls++ // state outside the simulation leaks into the run
		s := r.New(sim.Config{}, echoFactory)
		s.Logf("call %d", calls)
		s.Run(time.Second)
	}
	f := &fakeT{name: "TestLeak"}
	f.run(func() { simtest.Deterministic(f, 3, leaky) })
	if !f.failed || !strings.Contains(f.out.String(), "seed 3 is not deterministic") {
		t.Fatalf("failed %v, output:\n%s", f.failed, f.out.String())
	}
	h := simtest.Deterministic(t, 3, func(r *simtest.Run) { r.New(sim.Config{}, echoFactory).Run(time.Second) })
	if len(h) != 1 {
		t.Fatalf("hashes %x", h)
	}
}
