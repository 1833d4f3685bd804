package fence

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

func baseCfg() Config {
	return Config{Timeout: time.Second, Lease: 500 * time.Millisecond, Margin: 100 * time.Millisecond, Drift: 0.01,
		RetryAfter: 2 * time.Second, WatchdogTimeout: time.Second}
}

func levels(names ...string) [][]Device {
	var out [][]Device
	for _, l := range names {
		var lv []Device
		for _, d := range strings.Split(l, "+") {
			lv = append(lv, Device{Name: d, Driver: "dummy"})
		}
		out = append(out, lv)
	}
	return out
}

func waitFor(t *testing.T, h *harness, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := h.now + limit; h.now < end; {
		if cond() {
			return
		}
		h.run(10 * time.Millisecond)
	}
	if !cond() {
		t.Fatalf("%v: no %s within %v", h.now, what, limit)
	}
}

// A crashed node is fenced by its device, once, and every member says so.
func TestCrashFencedByDevice(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.run(2 * time.Second)
	h.crash("n3")
	h.regroup()
	waitFor(t, h, 5*time.Second, "confirmation on n1 and n2", func() bool {
		return len(h.nodes["n1"].conf["n3"]) == 1 && len(h.nodes["n2"].conf["n3"]) == 1
	})
	h.run(3 * time.Second)
	for _, n := range []string{"n1", "n2"} {
		if got, want := h.kinds(n, "n3"), []string{"fence_started:pdu-n3", "node_fenced:pdu-n3"}; !slices.Equal(got, want) {
			t.Errorf("%s events for n3: %v, want %v", n, got, want)
		}
		if s := h.status(n, "n3"); s.State != StateDone || !s.Confirmed || s.Device != "pdu-n3" {
			t.Errorf("%s status of n3: %+v", n, s)
		}
	}
	if len(h.calls) != 1 {
		t.Errorf("%d device calls, want 1", len(h.calls))
	}
	if c := h.nodes["n1"].conf["n3"][0]; c.By != "n1" || c.Boot != 1 {
		t.Errorf("confirmation %+v: want by n1 at boot 1", c)
	}
}

// Levels are tried in order; a level needs all its devices.
func TestLevelsFallBack(t *testing.T) {
	cfg := baseCfg()
	cfg.Targets = map[string]Target{"n1": {}, "n2": {}, "n3": {Levels: levels("ipmi", "psu1+psu2")}}
	h := newHarness(t, 3, 1, cfg)
	h.reboot = -1
	h.fail["ipmi"] = true
	h.run(2 * time.Second)
	h.crash("n3")
	h.regroup()
	waitFor(t, h, 5*time.Second, "confirmation", func() bool { return len(h.nodes["n2"].conf["n3"]) == 1 })
	want := []string{"fence_started:ipmi", "fence_failed:ipmi", "fence_started:psu1", "fence_started:psu2", "node_fenced:psu2"}
	if got := h.kinds("n2", "n3"); !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// A failing device leaves the node unconfirmed (failed), retried later,
// and confirmed once the device works again.
func TestFailingDeviceStaysUnconfirmed(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.fail["pdu-n3"] = true
	h.run(2 * time.Second)
	h.partition([]string{"n1", "n2"}, []string{"n3"}) // n3 alive, cut off
	h.run(4 * time.Second)
	if s := h.status("n1", "n3"); s.Confirmed || s.Error == "" {
		t.Fatalf("status %+v: want unconfirmed with an error", s)
	}
	waitFor(t, h, 5*time.Second, "a failed state", func() bool { return h.status("n1", "n3").State == StateFailed })
	if len(h.nodes["n1"].conf["n3"]) != 0 || !h.nodes["n3"].up {
		t.Fatal("confirmed or killed by a failing device")
	}
	n := len(h.calls)
	waitFor(t, h, 10*time.Second, "a retry", func() bool { return len(h.calls) > n })
	h.fail["pdu-n3"] = false
	waitFor(t, h, 10*time.Second, "confirmation after repair", func() bool { return len(h.nodes["n1"].conf["n3"]) == 1 })
	if h.nodes["n3"].up {
		t.Fatal("n3 confirmed but up")
	}
}

// The coordinator is cut off during the call (alive, its call running):
// the next coordinator waits out that call's deadline before it fences
// again (the harness fails on overlapping calls), and fences the cut-off
// coordinator too.
func TestCoordinatorCutOffDuringCall(t *testing.T) {
	h := newHarness(t, 5, 1, baseCfg())
	h.reboot = -1
	h.hang["pdu-n5"] = true
	h.run(2 * time.Second)
	h.crash("n5")
	h.regroup()
	waitFor(t, h, 3*time.Second, "a call", func() bool { return len(h.calls) == 1 })
	h.hang["pdu-n5"] = false
	h.partition([]string{"n2", "n3", "n4"}, []string{"n1"})
	waitFor(t, h, 10*time.Second, "confirmation by n2", func() bool { return len(h.nodes["n2"].conf["n5"]) == 1 })
	var n5 []*hcall
	for _, c := range h.calls {
		if c.target == "n5" {
			n5 = append(n5, c)
		}
	}
	if len(n5) != 2 || n5[0].runner != "n1" || n5[1].runner != "n2" {
		t.Fatalf("calls on n5: %+v %+v", n5[0], n5[len(n5)-1])
	}
	if cut := h.nodes["n2"].conf["n1"]; len(cut) != 1 || h.nodes["n1"].up {
		t.Errorf("the cut-off coordinator: confirmations %+v, up %v", cut, h.nodes["n1"].up)
	}
}

// A lower node comes back while the coordinator's call runs: the new
// coordinator waits for that call's result instead of fencing again.
func TestCoordinatorChangeWaitsForRunner(t *testing.T) {
	h := newHarness(t, 5, 1, baseCfg())
	h.reboot = -1
	h.dur["pdu-n4"] = 700 * time.Millisecond
	h.run(2 * time.Second)
	h.crash("n1")
	h.regroup()
	waitFor(t, h, 3*time.Second, "n1 fenced", func() bool { return len(h.nodes["n2"].conf["n1"]) == 1 })
	h.crash("n4")
	h.regroup()
	waitFor(t, h, 3*time.Second, "a call on n4", func() bool { return len(h.calls) == 2 })
	h.restart("n1") // boot 2: coordinates {n1, n2, n3, n5}
	waitFor(t, h, 5*time.Second, "confirmation on n1", func() bool { return len(h.nodes["n1"].conf["n4"]) == 1 })
	if len(h.calls) != 2 {
		t.Errorf("%d calls, want 2 (the runner's result is used)", len(h.calls))
	}
	if c := h.nodes["n1"].conf["n4"][0]; c.By != "n2" {
		t.Errorf("confirmed %+v, want by n2", c)
	}
	if h.nodes["n1"].view.Coordinator != "n1" {
		t.Errorf("n1 is not the coordinator: %+v", h.nodes["n1"].view)
	}
}

// Watchdog mode: a node with no device counts as fenced once
// (T_lease + W)(1+ρ) + margin passed since the view without it committed,
// not before; the harness's watchdog killed it by then.
func TestWatchdogMode(t *testing.T) {
	cfg := baseCfg()
	cfg.Targets = map[string]Target{"n1": {Watchdog: true}, "n2": {Watchdog: true}, "n3": {Watchdog: true}}
	h := newHarness(t, 3, 1, cfg)
	h.wd = cfg.WatchdogTimeout
	h.reboot = -1
	h.run(2 * time.Second)
	h.partition([]string{"n1", "n2"}, []string{"n3"})
	start := h.now
	waitFor(t, h, 5*time.Second, "confirmation", func() bool { return len(h.nodes["n1"].conf["n3"]) == 1 })
	if took := h.now - start; took < cfg.WatchdogWait() {
		t.Errorf("confirmed after %v, before the watchdog wait %v", took, cfg.WatchdogWait())
	}
	if c := h.nodes["n1"].conf["n3"][0]; c.Device != DeviceWatchdog {
		t.Errorf("confirmed %+v", c)
	}
	if h.nodes["n3"].up {
		t.Error("n3's watchdog did not fire")
	}
}

// Two-node: the preferred survivor n1 has a delay; in a split n1 fences n2
// at once while n2 waits, so n1 survives, every seed.
func TestTwoNodePreferredSurvivor(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		cfg := baseCfg()
		cfg.Targets = map[string]Target{"n1": {Levels: levels("pdu-n1"), Delay: 2 * time.Second}, "n2": {Levels: levels("pdu-n2")}}
		h := newHarness(t, 2, seed, cfg)
		h.twoNode, h.jitter, h.reboot = true, true, -1
		h.run(2 * time.Second)
		h.partition([]string{"n1"}, []string{"n2"})
		h.run(5 * time.Second)
		if !h.nodes["n1"].up || h.nodes["n2"].up {
			t.Fatalf("seed %d: n1 up %v, n2 up %v: want n1 to survive", seed, h.nodes["n1"].up, h.nodes["n2"].up)
		}
		if len(h.nodes["n1"].conf["n2"]) != 1 {
			t.Fatalf("seed %d: n1 did not confirm n2", seed)
		}
	}
}

// fence NODE on a member: its device runs, it dies, it is confirmed.
func TestManualRequest(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.run(2 * time.Second)
	if err := h.nodes["n2"].f.Step(h.now, Request{Target: "n3"}); err != nil {
		t.Fatal(err)
	}
	h.ready(h.nodes["n2"])
	waitFor(t, h, 3*time.Second, "confirmation", func() bool { return len(h.nodes["n1"].conf["n3"]) == 1 })
	if h.nodes["n3"].up {
		t.Fatal("n3 still up")
	}
	if err := h.nodes["n2"].f.Step(h.now, Request{Target: "n9"}); err == nil || !strings.Contains(err.Error(), "not a configured node") {
		t.Errorf("unknown node: %v", err)
	}
	h.run(3 * time.Second)
	if len(h.calls) != 1 {
		t.Errorf("%d calls: the departure after a manual fence must not fence again", len(h.calls))
	}
}

// fence NODE of the coordinator, asked on another member: it shows as
// pending at once on every member, the coordinator stops itself, and the
// next coordinator carries out the request with the device (the request
// survives the coordinator change). Issue 16: it used to sit unserved.
func TestManualRequestOfCoordinator(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.noRestart = true
	h.run(2 * time.Second)
	if c := h.coordinator(); c == nil || c.name != "n1" {
		t.Fatalf("coordinator %v, want n1", c)
	}
	if err := h.nodes["n2"].f.Step(h.now, Request{Target: "n1", Reason: "operator"}); err != nil {
		t.Fatal(err)
	}
	h.ready(h.nodes["n2"])
	waitFor(t, h, time.Second, "n1 pending on n3", func() bool {
		s := h.status("n3", "n1")
		return s.State == StatePending || s.State == StateInProgress || s.Confirmed || !h.nodes["n1"].up
	})
	waitFor(t, h, 5*time.Second, "confirmation of n1 on n2", func() bool { return len(h.nodes["n2"].conf["n1"]) == 1 })
	if h.nodes["n1"].up {
		t.Fatal("n1 still up")
	}
	if c := h.nodes["n2"].conf["n1"][0]; c.Device != "pdu-n1" || c.By != "n2" || c.Boot != 1 {
		t.Errorf("confirmation %+v: want pdu-n1 by n2 at boot 1", c)
	}
	if got := h.kinds("n3", "n1"); !slices.Contains(got, "fence_started:pdu-n1") {
		t.Errorf("n3 events for n1: %v, want fence_started", got)
	}
}

// A request that cannot be carried out says why at once.
func TestManualRequestRefused(t *testing.T) {
	cfg := baseCfg()
	h := newHarness(t, 3, 1, cfg)
	h.run(2 * time.Second)
	nd := h.nodes["n2"]
	tc := nd.f.cfg.Targets["n3"]
	tc.Levels = nil
	nd.f.cfg.Targets["n3"] = tc
	if err := nd.f.Step(h.now, Request{Target: "n3"}); !errors.Is(err, ErrCannotFence) || !strings.Contains(err.Error(), "no fence device") {
		t.Errorf("request without a device: %v", err)
	}
	tc.Watchdog = true
	nd.f.cfg.Targets["n3"] = tc
	if err := nd.f.Step(h.now, Request{Target: "n3"}); !errors.Is(err, ErrCannotFence) || !strings.Contains(err.Error(), "watchdog") {
		t.Errorf("watchdog-only request of a member: %v", err)
	}
	h.partition([]string{"n1"}, []string{"n2", "n3"})
	waitFor(t, h, 3*time.Second, "n1 out of the primary view", func() bool { return !h.nodes["n1"].view.Primary })
	if err := h.nodes["n1"].f.Step(h.now, Request{Target: "n2"}); !errors.Is(err, ErrCannotFence) || !strings.Contains(err.Error(), "primary") {
		t.Errorf("request without quorum: %v", err)
	}
}

// fence confirm NODE: a person's word, refused for a member.
func TestManualConfirm(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.fail["pdu-n3"] = true
	h.run(2 * time.Second)
	if err := h.nodes["n1"].f.Step(h.now, Confirm{Target: "n3"}); err == nil || !strings.Contains(err.Error(), "member") {
		t.Errorf("confirm of a member: %v", err)
	}
	h.crash("n3")
	h.regroup()
	h.run(3 * time.Second)
	if len(h.nodes["n1"].conf["n3"]) != 0 {
		t.Fatal("confirmed by a failing device")
	}
	if err := h.nodes["n1"].f.Step(h.now, Confirm{Target: "n3"}); err != nil {
		t.Fatal(err)
	}
	h.ready(h.nodes["n1"])
	waitFor(t, h, time.Second, "confirmation", func() bool { return len(h.nodes["n2"].conf["n3"]) == 1 })
	if c := h.nodes["n2"].conf["n3"][0]; c.Device != DeviceManual || c.By != "n1" {
		t.Errorf("confirmed %+v", c)
	}
}

// A fenced node that comes back with a new boot id is no longer fenced; when
// it fails again it is fenced again.
func TestRejoinNewBoot(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.run(2 * time.Second)
	h.crash("n3")
	h.regroup()
	waitFor(t, h, 3*time.Second, "confirmation", func() bool { return len(h.nodes["n1"].conf["n3"]) == 1 })
	waitFor(t, h, 3*time.Second, "n3 back", func() bool { return h.nodes["n3"].up && h.nodes["n3"].view.Lease })
	if _, ok := h.nodes["n1"].f.Confirmed("n3"); ok {
		t.Fatal("n3 back with a new boot id, still counted as fenced")
	}
	h.run(time.Second)
	h.crash("n3")
	h.regroup()
	waitFor(t, h, 3*time.Second, "second confirmation", func() bool { return len(h.nodes["n1"].conf["n3"]) == 2 })
	if c := h.nodes["n1"].conf["n3"]; c[0].Boot != 1 || c[1].Boot != 2 {
		t.Errorf("confirmations %+v", c)
	}
}

// A device that says ok without powering the node off: when the node comes
// back at the same boot id it learns it was fenced and stops itself.
func TestSelfFenceOnLyingDevice(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.lie["pdu-n3"] = true
	h.noRestart = true
	h.run(2 * time.Second)
	h.partition([]string{"n1", "n2"}, []string{"n3"})
	waitFor(t, h, 3*time.Second, "confirmation", func() bool { return len(h.nodes["n1"].conf["n3"]) == 1 })
	h.heal()
	waitFor(t, h, 3*time.Second, "self-fence", func() bool { return h.nodes["n3"].selfF != "" })
	if !strings.Contains(h.nodes["n3"].selfF, "boot id 1") {
		t.Errorf("self-fence reason %q", h.nodes["n3"].selfF)
	}
}

// History records come out once per operation, on the coordinator.
func TestHistoryRecord(t *testing.T) {
	h := newHarness(t, 3, 1, baseCfg())
	h.reboot = -1
	h.fail["pdu-n3"] = true
	h.run(2 * time.Second)
	h.crash("n3")
	h.regroup()
	h.run(3 * time.Second)
	h.fail["pdu-n3"] = false
	h.run(3 * time.Second)
	recs := h.nodes["n1"].history
	if len(h.nodes["n2"].history) != 0 || len(recs) < 2 {
		t.Fatalf("history n1 %d, n2 %d: want failed ops then a done one, on the coordinator only", len(recs), len(h.nodes["n2"].history))
	}
	for i, r := range recs {
		want := `"state":"failed"`
		if i == len(recs)-1 {
			want = `"state":"done","device":"pdu-n3","by":"n1"`
		}
		if !strings.HasPrefix(r.Key, HistoryPrefix+"n3/") || (i > 0 && recs[i-1].Key >= r.Key) || !strings.Contains(string(r.Value), want) {
			t.Errorf("record %d: %s %s, want %s in order", i, r.Key, r.Value, want)
		}
	}
}

// A coordinator freezes (SIGSTOP) between sending its Attempt and getting
// it back; it wakes up much later with a stale view that still says it
// holds the lease. The driver's lease check at the call's start keeps it
// from fencing while the new coordinator does.
func TestFrozenRunnerDoesNotCallLate(t *testing.T) {
	cfg := baseCfg()
	cfg.Timeout = 3 * time.Second
	h := newHarness(t, 5, 1, cfg)
	h.reboot = -1
	h.fail["pdu-n1"] = true // the frozen coordinator itself cannot be fenced
	h.dur["pdu-n5"] = 2500 * time.Millisecond
	h.run(2 * time.Second)
	h.crash("n5")
	h.regroup()
	n1 := h.nodes["n1"]
	for end := h.now + 3*time.Second; !n1.f.issuing["n5"] || len(n1.f.st.ops) == 0; h.run(100 * time.Microsecond) { // the Attempt, after the Begin
		if h.now > end {
			t.Fatal("no attempt on n5")
		}
	}
	h.freeze("n1", 4500*time.Millisecond)
	h.run(8 * time.Second)
	var on5 []*hcall
	for _, c := range h.calls {
		if c.target == "n5" {
			on5 = append(on5, c)
		}
	}
	if len(on5) != 1 || on5[0].runner == "n1" {
		t.Fatalf("calls on n5: %d, first by %s: want one, by the new coordinator", len(on5), on5[0].runner)
	}
	if len(h.nodes["n2"].conf["n5"]) != 1 {
		t.Error("n5 not confirmed by the new coordinator")
	}
}

// Two-node, the loser comes back (issue 15): in a split n1 fences n2 at
// once while n2's coordinator has begun a fence of n1 and waits n1's
// delay; n2 dies before its first call. n2 restarts after the heal with a
// new boot id and joins n1 with that op in its state. The op's only worker
// (n2 at boot 1) is confirmed fenced and restarted, so it condemns nobody:
// n1 stays up, and nobody fences anyone again.
func TestTwoNodeLoserRestartsWinnerStays(t *testing.T) {
	cfg := baseCfg()
	cfg.Targets = map[string]Target{"n1": {Levels: levels("pdu-n1"), Delay: 2 * time.Second}, "n2": {Levels: levels("pdu-n2")}}
	h := newHarness(t, 2, 1, cfg)
	h.twoNode, h.reboot, h.noRestart = true, -1, true
	h.run(2 * time.Second)
	h.partition([]string{"n1"}, []string{"n2"})
	waitFor(t, h, 3*time.Second, "n1 confirms n2", func() bool { return len(h.nodes["n1"].conf["n2"]) == 1 })
	if h.nodes["n2"].up {
		t.Fatal("n2 survived its fence")
	}
	// what n2 wrote before it died holds the fence of n1 it had begun
	var begun bool
	if s, err := decodeState(h.nodes["n2"].persist); err == nil {
		for _, o := range s.ops {
			begun = begun || (o.Target == "n1" && o.By == "n2" && o.ByBoot == 1)
		}
	}
	if !begun {
		t.Fatal("n2 had not begun a fence of n1 before it died: the scenario needs it")
	}
	h.heal()
	h.restart("n2")
	waitFor(t, h, 3*time.Second, "one view of n1 and n2", func() bool {
		if n1 := h.nodes["n1"]; !n1.up {
			t.Fatalf("the winner n1 stopped itself when the loser came back: %q", n1.selfF)
		}
		return h.nodes["n2"].up && h.nodes["n1"].view.Lease && len(h.nodes["n1"].view.Members) == 2 && h.nodes["n2"].f.Settled()
	})
	h.run(5 * time.Second)
	if n1 := h.nodes["n1"]; !n1.up || n1.selfF != "" {
		t.Fatalf("the winner n1 stopped itself when the loser came back: %q", n1.selfF)
	}
	if !h.nodes["n2"].up || h.nodes["n2"].boot != 2 {
		t.Fatalf("n2 up %v at boot %d: want up at boot 2", h.nodes["n2"].up, h.nodes["n2"].boot)
	}
	if len(h.calls) != 1 || h.calls[0].target != "n2" {
		t.Fatalf("device calls %+v: want only n1's fence of n2", h.calls)
	}
	for _, n := range []string{"n1", "n2"} {
		if s := h.status(n, "n1"); s.State == StatePending || s.State == StateInProgress {
			t.Errorf("%s: n1's fence status %+v: the dead n2's op against it goes on", n, s)
		}
	}
}

// TestReachableNonMemberWaitsForTakeover: the coordinator of a new view
// fences a node that left uncleanly at once when it cannot reach it, but a
// non-member it still reaches (left out of a view formed while it
// rejoined) only after the takeover wait, if it is still not a member
// then (issue 15: fencing starts with the view's lease, not after the
// wait; without this a live node was fenced by a restarted coordinator's
// first view).
func TestReachableNonMemberWaitsForTakeover(t *testing.T) {
	f, err := New(Config{Self: "n1", Boot: 1, Targets: map[string]Target{"n3": {Levels: levels("pdu-n3")}}})
	if err != nil {
		t.Fatal(err)
	}
	f.st.boots["n3"] = 4
	f.view = View{ID: wire.ViewID{Epoch: 9, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Lease: true}
	if r, _ := f.need("n3"); r == "" {
		t.Fatal("an unreachable non-member that left uncleanly needs no fence")
	}
	f.view.Reach = []string{"n3"}
	if r, _ := f.need("n3"); r != "" {
		t.Fatalf("a reachable non-member is fenced before the takeover wait: %q", r)
	}
	f.view.Takeover = true
	if r, _ := f.need("n3"); r == "" {
		t.Fatal("a reachable non-member still out of the view after the takeover wait is not fenced")
	}
}

// TestResumedNodeFencedAfterUncleanDeparture: n2 leaves cleanly, is
// resumed at the same boot id (a member again), then departs uncleanly:
// it must be fenced. A clean leave counts only until the node is a member
// of a primary view again, on the coordinator and on a node that learns
// the history only from a report's state (issue 15: the stale clean record
// left its groups waiting for a fence forever, and let both halves of a
// two_node split act).
func TestResumedNodeFencedAfterUncleanDeparture(t *testing.T) {
	cfg := Config{Self: "n1", Boot: 1, Targets: map[string]Target{"n2": {Levels: levels("pdu-n2")}}}
	f, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Duration
	// install gives f view v and delivers its report and a report of each
	// other member (n2: boot 7), in v.
	install := func(v View, others ...string) []byte {
		v.Coordinator, v.Primary, v.Lease = "n1", true, true
		now += time.Second
		if err := f.Step(now, v); err != nil {
			t.Fatal(err)
		}
		var own []byte
		for _, p := range f.Ready().Broadcast {
			if m, _ := Decode(p); m.Kind == kindReport {
				own = p
			}
		}
		f.Advance()
		if own == nil {
			t.Fatalf("view %v: no report", v.ID)
		}
		pays := [][]byte{own}
		for _, o := range others {
			pays = append(pays, Encode(Message{Kind: kindReport, From: o, FromBoot: 7, Issued: v.ID, Boot: 7, State: newState().encode()}))
		}
		for _, p := range pays {
			if err := f.Step(now, Deliver{View: v.ID, Primary: true, Payload: p}); err != nil {
				t.Fatal(err)
			}
		}
		return own
	}
	begun := func() bool {
		for _, p := range f.Ready().Broadcast {
			if m, _ := Decode(p); m.Kind == kindBegin && m.Target == "n2" {
				return true
			}
		}
		return false
	}
	v := func(e uint64) wire.ViewID { return wire.ViewID{Epoch: e, Coord: 1} }
	install(View{ID: v(1), Members: []string{"n1", "n2"}}, "n2")
	install(View{ID: v(2), Members: []string{"n1"}, Clean: []string{"n2"}})
	f.Tick(now + time.Minute)
	if !f.LeftCleanly("n2") || begun() {
		t.Fatalf("n2 left cleanly: LeftCleanly %v, fence begun %v", f.LeftCleanly("n2"), begun())
	}
	f.Advance()
	install(View{ID: v(3), Members: []string{"n1", "n2"}}, "n2") // resume n2, same boot id
	if f.LeftCleanly("n2") {
		t.Fatal("n2 is a member again but still counts as having left cleanly")
	}
	last := install(View{ID: v(4), Members: []string{"n1"}}) // n2 departs uncleanly
	f.Tick(now + time.Minute)
	if f.LeftCleanly("n2") || !begun() {
		t.Fatalf("n2 departed uncleanly after its resume: LeftCleanly %v, fence begun %v (want false, true)", f.LeftCleanly("n2"), begun())
	}
	// a node that knows only n1's last report derives the same
	g, err := New(Config{Self: "n3", Boot: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Step(now, Deliver{View: v(4), Primary: true, Payload: last}); err != nil {
		t.Fatal(err)
	}
	if g.LeftCleanly("n2") {
		t.Fatal("from n1's report, n3 still counts n2 as having left cleanly")
	}
	// and a stale report of view 2 (clean record only) does not revive it
	st := newState()
	st.boots["n2"] = 7
	st.clean["n2"] = cleanRec{Boot: 7, View: v(2)}
	if err := g.Step(now, Deliver{View: v(4), Primary: true, Payload: Encode(Message{Kind: kindReport, From: "n4", FromBoot: 1, Issued: v(2), Boot: 1, State: st.encode()})}); err != nil {
		t.Fatal(err)
	}
	if g.LeftCleanly("n2") {
		t.Fatal("a stale report brought n2's clean leave back")
	}
}

// TestVersion1OpNeverVoid: an op begun by a version-1 coordinator (its
// boot id unknown: ByBoot 0) is never void, even once some boot of its
// coordinator is known; the same op with a known, ended coordinator
// boot is.
func TestVersion1OpNeverVoid(t *testing.T) {
	s := newState()
	s.boots["n1"], s.boots["n2"] = 3, 1
	id := ID{View: wire.ViewID{Epoch: 5, Coord: 2}, N: 1}
	s.addOp(opRec{ID: id, Target: "n1", Boot: 3, Reason: "left", By: "n2", ByBoot: 0})
	if st := s.view(s.ops[id], 1, 2).status; st != opPending {
		t.Fatalf("version-1 op with no calls: status %d, want pending (%d), never void", st, opPending)
	}
	s.boots["n2"] = 4 // its coordinator restarted: a known boot is over
	s.ops[id].ByBoot = 1
	if st := s.view(s.ops[id], 1, 2).status; st != opVoid {
		t.Fatalf("op whose coordinator boot ended: status %d, want void (%d)", st, opVoid)
	}
}
