// Package simtest runs simulations under go test: a sweep over seeds set by
// flags, and failure reports that carry the seed, the command that replays
// it and the tail of the simulation trace.
//
// Flags (registered by importing this package in a test):
//
//	-seed=N      run only seed N (replay)
//	-seeds=N     how many seeds a sweep runs (default 50)
//	-seedbase=N  first seed of a sweep (default 1)
//	-simtrace=N  trace lines printed on failure (default 200)
//	-simticks    include the nodes' ticks in those lines
package simtest

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/sim"
)

var (
	seedOne   optSeed
	seedCount = flag.Int("seeds", 50, "simtest: how many seeds a sweep runs")
	seedBase  = flag.Int64("seedbase", 1, "simtest: first seed of a sweep")
	traceN    = flag.Int("simtrace", 200, "simtest: trace lines printed when a run fails")
	ticks     = flag.Bool("simticks", false, "simtest: keep tick records in the printed trace")
)

func init() {
	flag.Var(&seedOne, "seed", "simtest: run only this seed (replay a failure)")
}

// optSeed is a flag that remembers whether it was set (0 is a valid seed).
type optSeed struct {
	set bool
	v   int64
}

func (o *optSeed) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatInt(o.v, 10)
}

func (o *optSeed) Set(s string) error {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return err
	}
	o.set, o.v = true, v
	return nil
}

// Seeds returns the seeds a sweep runs: only -seed when it is given, else
// -seeds seeds from -seedbase.
func Seeds() []int64 { return SeedsN(*seedCount) }

// SeedsN is Seeds for a test whose own default sweep is def seeds: -seeds,
// when given on the command line, still decides.
func SeedsN(def int) []int64 {
	if seedOne.set {
		return []int64{seedOne.v}
	}
	n := def
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "seeds" {
			n = *seedCount
		}
	})
	out := make([]int64, 0, n)
	for i := range n {
		out = append(out, *seedBase+int64(i))
	}
	return out
}

// Run is one simulation run of a test: the test's TB (so r.Fatalf fails the
// test), the seed, and the simulations it built with New, whose traces are
// printed if the run fails.
type Run struct {
	testing.TB
	Seed int64
	sims []*sim.Sim
}

// New builds a simulation with cfg.Seed set to the run's seed (and
// TraceTicks under -simticks) and remembers it for the failure report.
func (r *Run) New(cfg sim.Config, f sim.Factory) *sim.Sim {
	cfg.Seed = r.Seed
	if *ticks {
		cfg.TraceTicks = true
	}
	s := sim.New(cfg, f)
	r.sims = append(r.sims, s)
	return s
}

// Sims returns the simulations built so far.
func (r *Run) Sims() []*sim.Sim { return r.sims }

// Check runs body once with seed. If the run fails (t.Errorf, t.Fatalf or a
// panic), it reports the seed, the replay command and the last trace lines
// of every simulation the body built, then lets the failure go on (a panic
// is re-raised). It reports whether the run passed.
func Check(t testing.TB, seed int64, body func(r *Run)) (ok bool) {
	t.Helper()
	r := &Run{TB: t, Seed: seed}
	failedBefore := t.Failed()
	defer func() {
		t.Helper()
		p := recover()
		failed := t.Failed() && !failedBefore
		if p != nil || failed {
			ok = false
			if failed {
				report(t, r, nil) // p, if any, is a fake TB's FailNow unwinding
			} else {
				report(t, r, p)
			}
		}
		if p != nil {
			panic(p)
		}
	}()
	body(r)
	return !t.Failed() || failedBefore
}

// Sweep runs body for every seed of Seeds and stops at the first failure.
func Sweep(t testing.TB, body func(r *Run)) {
	t.Helper()
	SweepSeeds(t, Seeds(), body)
}

// SweepSeeds runs body for every seed given and stops at the first failure.
func SweepSeeds(t testing.TB, seeds []int64, body func(r *Run)) {
	t.Helper()
	for _, seed := range seeds {
		if !Check(t, seed, body) {
			return
		}
	}
}

// Deterministic runs body twice with seed and fails t if the two runs' trace
// hashes differ (something nondeterministic leaked into the run). It returns
// the hashes of the first run's simulations.
func Deterministic(t testing.TB, seed int64, body func(r *Run)) []uint64 {
	t.Helper()
	var hashes [2][]uint64
	for i := range 2 {
		var r *Run
		if !Check(t, seed, func(rr *Run) { r = rr; body(rr) }) {
			return nil
		}
		for _, s := range r.sims {
			hashes[i] = append(hashes[i], s.TraceHash())
		}
	}
	if fmt.Sprint(hashes[0]) != fmt.Sprint(hashes[1]) {
		t.Errorf("seed %d is not deterministic: trace hashes %x then %x\nreplay: %s",
			seed, hashes[0], hashes[1], ReplayCommand(t, seed))
	}
	return hashes[0]
}

func report(t testing.TB, r *Run, p any) {
	t.Helper()
	var b strings.Builder
	if p != nil {
		fmt.Fprintf(&b, "panic: %v\n", p)
	}
	fmt.Fprintf(&b, "simulation failed with seed %d\n", r.Seed)
	fmt.Fprintf(&b, "replay: %s\n", ReplayCommand(t, r.Seed))
	for i, s := range r.sims {
		lines := s.TraceTail(*traceN)
		fmt.Fprintf(&b, "--- sim %d of %d: t=%v, %d trace records, hash %016x; last %d:\n",
			i+1, len(r.sims), s.Now(), s.TraceLen(), s.TraceHash(), len(lines))
		for _, l := range lines {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	if p != nil {
		t.Error(b.String())
	} else {
		t.Log(b.String())
	}
}

// ReplayCommand is the go test command that runs only t with seed.
func ReplayCommand(t testing.TB, seed int64) string {
	parts := strings.Split(t.Name(), "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return fmt.Sprintf("go test %s -run '%s' -count=1 -v -seed=%d", packageDir(), strings.Join(parts, "/"), seed)
}

// packageDir is the test's package as a path from the module root (go test
// runs a test binary in its package's directory), "." when unknown.
func packageDir() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	for dir := wd; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			rel, err := filepath.Rel(dir, wd)
			if err != nil || rel == "." {
				return "."
			}
			return "./" + filepath.ToSlash(rel) + "/"
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "."
		}
		dir = parent
	}
}
