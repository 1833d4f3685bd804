package testsuite

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestChaosCheckers: the chaos suite's checkers on made-up records: they
// pass what is right and catch what is wrong (no cluster involved).
func TestChaosCheckers(t *testing.T) {
	set := func(c int, call, ret int64, v string, rev uint64) chaosOp {
		return chaosOp{Client: c, In: chaosIn{Op: "set", Key: "/k", Value: v}, Out: chaosOut{OK: true, Rev: rev}, Call: call, Return: ret}
	}
	cas := func(c int, call, ret int64, expect uint64, v string, ok bool, rev uint64) chaosOp {
		return chaosOp{Client: c, In: chaosIn{Op: "cas", Key: "/k", Value: v, Expect: expect}, Out: chaosOut{OK: ok, Rev: rev}, Call: call, Return: ret}
	}
	get := func(c int, call, ret int64, v string, rev uint64) chaosOp {
		return chaosOp{Client: c, In: chaosIn{Op: "get", Key: "/k"}, Out: chaosOut{OK: rev > 0, Value: v, Rev: rev}, Call: call, Return: ret}
	}
	unknown := func(op chaosOp) chaosOp {
		op.Out, op.Return = chaosOut{Unknown: true}, math.MaxInt64
		return op
	}
	for _, tc := range []struct {
		name string
		ops  []chaosOp
		ok   bool
	}{
		{"sets then a read", []chaosOp{set(0, 0, 10, "a", 1), set(1, 20, 30, "b", 2), get(2, 40, 50, "b", 2)}, true},
		{"an acknowledged write lost", []chaosOp{set(0, 0, 10, "a", 1), set(1, 20, 30, "b", 2), get(2, 40, 50, "a", 1)}, false},
		{"concurrent writes, either order", []chaosOp{set(0, 0, 30, "a", 2), set(1, 0, 30, "b", 1), get(2, 40, 50, "a", 2)}, true},
		{"revisions go backwards", []chaosOp{set(0, 0, 10, "a", 5), set(1, 20, 30, "b", 3)}, false},
		{"cas on the right revision", []chaosOp{set(0, 0, 10, "a", 1), cas(1, 20, 30, 1, "b", true, 2), get(2, 40, 50, "b", 2)}, true},
		{"cas applied on a stale revision", []chaosOp{set(0, 0, 10, "a", 1), set(0, 11, 12, "c", 2), cas(1, 20, 30, 1, "b", true, 3)}, false},
		{"cas refused although it matched", []chaosOp{set(0, 0, 10, "a", 1), cas(1, 20, 30, 1, "b", false, 0)}, false},
		{"an unknown write that happened", []chaosOp{unknown(set(0, 0, 10, "a", 0)), get(2, 40, 50, "a", 7)}, true},
		{"an unknown write that did not", []chaosOp{unknown(set(0, 0, 10, "a", 0)), get(2, 40, 50, "", 0)}, true},
		{"cas after an unknown write", []chaosOp{unknown(set(0, 0, 10, "a", 0)), cas(1, 20, 30, 4, "b", true, 5), get(2, 40, 50, "b", 5)}, true},
		{"a value never written", []chaosOp{set(0, 0, 10, "a", 1), get(2, 40, 50, "z", 1)}, false},
	} {
		viol, timedOut, _ := checkLinearizable(tc.ops, true, 10*time.Second, "")
		if timedOut || (viol == "") != tc.ok {
			t.Errorf("%s: violation %q (timed out %v), want linearizable=%v", tc.name, viol, timedOut, tc.ok)
		}
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "svc.records")
	// n1:10 ran 1..3 s; n2:20 started at 4 s (after): fine. n3:30 started
	// at 2.5 s while n1:10 still wrote: two at once.
	writeFile(t, file, "start n1:10 1000000000\nalive n1:10 2000000000\nalive n1:10 3000000000\nstop n1:10 3100000000\n"+
		"start n2:20 4000000000\nalive n2:20 5000000000\nstart n3:30 2500000000\nalive n3:30 4500000000\nbroken line\n")
	runs, err := readSvcFile(file)
	if err != nil {
		t.Fatal(err)
	}
	done := map[string]bool{}
	ov := svcOverlaps(runs, done)
	if len(ov) != 2 || !strings.HasPrefix(ov[0], "n1:10 ") || !strings.Contains(ov[0], "n3:30 started") || !strings.HasPrefix(ov[1], "n3:30 ") {
		t.Errorf("overlaps: %q, want n1:10 with n3:30, and n3:30 with n2:20", ov)
	}
	if again := svcOverlaps(runs, done); len(again) != 0 {
		t.Errorf("overlaps listed twice: %q", again)
	}
	os.Remove(file)

	ev := func(seq int, kind, on string, primary bool) chaosEvent {
		// a second apart
		at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second)
		return chaosEvent{Seq: seq, Time: at.Format(time.RFC3339Nano), Kind: kind, Resource: "svc", On: on, Primary: primary}
	}
	for _, tc := range []struct {
		name  string
		evs   []chaosEvent
		since int
		bad   int
	}{
		{"stopped while primary", []chaosEvent{ev(1, "resource_started", "n1", false), ev(2, "resource_stopped", "n1", false)}, 0, 1},
		{"stopped after quorum_lost", []chaosEvent{ev(1, "quorum_lost", "", false), ev(2, "resource_stopped", "n1", false)}, 0, 0},
		{"stopped after a view that is not primary", []chaosEvent{ev(1, "view_changed", "", false), ev(2, "resource_stopped", "n1", false)}, 0, 0},
		{"still primary in a primary view", []chaosEvent{ev(1, "view_changed", "", true), ev(2, "resource_stopped", "n1", false)}, 0, 1},
		{"a stop after a failure", []chaosEvent{ev(1, "resource_failed", "n1", false), ev(2, "resource_stopped", "n1", false)}, 0, 0},
		{"another node's stop", []chaosEvent{ev(2, "resource_stopped", "n2", false)}, 0, 0},
		{"a lease lost before since", []chaosEvent{ev(1, "quorum_lost", "", false), ev(2, "quorum_regained", "", false), ev(3, "resource_stopped", "n1", false)}, 1, 0},
		{"started again, then stopped", []chaosEvent{ev(1, "quorum_lost", "", false), ev(4, "resource_started", "n1", false), ev(5, "resource_stopped", "n1", false)}, 0, 1},
		{"started right after a lease loss, then stopped", []chaosEvent{ev(1, "quorum_lost", "", false), ev(2, "resource_started", "n1", false), ev(3, "resource_stopped", "n1", false)}, 0, 0},
		{"a stop before since", []chaosEvent{ev(2, "resource_stopped", "n1", false)}, 2, 0},
	} {
		if got := continuityViolations("n1", "svc", tc.evs, tc.since); len(got) != tc.bad {
			t.Errorf("%s: %q, want %d violation(s)", tc.name, got, tc.bad)
		}
	}
}
