package crm

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func webGroup(h *harness, extra map[string]any) {
	g := map[string]any{"resources": []string{"ip", "web"}}
	for k, v := range extra {
		g[k] = v
	}
	h.resource("ip", "web")
	h.resource("web", "web")
	h.group("web", g)
}

func wantState(t *testing.T, h *harness, group string, state GroupPhase, owner string) GroupView {
	t.Helper()
	g := h.gview(group)
	if g.State != state || owner != "*" && g.Owner != owner {
		t.Fatalf("%v: group %s is %s on %q (%s), want %s on %s\n%s", h.now, group, g.State, g.Owner, g.Reason, state, owner,
			h.coordinator().crm.Explain(group))
	}
	return g
}

func TestPlaceAndOrder(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n2", "n1"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	ev := strings.Join(h.events("n1"), "\n")
	if !strings.Contains(ev, "resource_started ip on n2\nresource_started web on n2\ngroup_online web on n2") {
		t.Fatalf("start order: events\n%s", ev)
	}
	// every member sees the same events in the same order
	for _, n := range []string{"n2", "n3"} {
		if got := strings.Join(h.events(n), "\n"); got != ev {
			t.Fatalf("%s events differ:\n%s\nvs n1:\n%s", n, got, ev)
		}
	}
	// target stopped: reverse order
	h.group("web", map[string]any{"resources": []string{"ip", "web"}, "preferred": []string{"n2", "n1"}, "target": "stopped"})
	h.run(2 * time.Second)
	wantState(t, h, "web", "offline", "")
	ev = strings.Join(h.events("n3"), "\n")
	if !strings.Contains(ev, "group_offline web\nresource_stopped web on n2\nresource_stopped ip on n2") &&
		!strings.Contains(ev, "resource_stopped web on n2\nresource_stopped ip on n2") {
		t.Fatalf("stop order: events\n%s", ev)
	}
	if err := h.converged(); err != nil {
		t.Fatal(err)
	}
}

// breakRes makes a running resource's monitor fail on node.
func (h *harness) breakRes(node, res string) {
	h.nodes[node].broken[res] = true
}

func TestRestartThenFailoverThenFailed(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n1", "n2", "n3"},
		"restart": map[string]any{"max": 2, "period": "10m"}, "failover": map[string]any{"max": 1, "period": "1h"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n1")
	for i := 1; i <= 2; i++ {
		h.breakRes("n1", "web")
		h.run(3 * time.Second)
		wantState(t, h, "web", "online", "n1") // restarted in place
		if ex := h.coordinator().crm.Explain("web"); !strings.Contains(ex, "restarting it in place") {
			t.Fatalf("restart %d: explain:\n%s", i, ex)
		}
	}
	ev := strings.Join(h.events("n2"), "\n")
	if strings.Count(ev, "resource_failed web on n1") != 2 || strings.Count(ev, "resource_started web on n1") != 3 ||
		strings.Count(ev, "resource_started ip on n1") != 1 {
		t.Fatalf("restarts in place: events\n%s", ev)
	}
	// the third failure in the period fails over to the next preferred
	h.breakRes("n1", "web")
	h.run(3 * time.Second)
	wantState(t, h, "web", "online", "n2")
	ex := h.coordinator().crm.Explain("web")
	if !strings.Contains(ex, "kept off n1") || !strings.Contains(ex, "failing over") {
		t.Fatalf("failover: explain:\n%s", ex)
	}
	if ev := strings.Join(h.events("n3"), "\n"); !strings.Contains(ev, "group_moved web n1->n2") {
		t.Fatalf("no group_moved: %s", ev)
	}
	// two restarts on n2, then a second failover is over failover.max
	for i := 0; i < 2; i++ {
		h.breakRes("n2", "ip")
		h.run(3 * time.Second)
		wantState(t, h, "web", "online", "n2")
	}
	h.breakRes("n2", "ip")
	h.run(3 * time.Second)
	g := wantState(t, h, "web", "failed", "")
	if !strings.Contains(g.Reason, "after 1 failovers in 1h0m0s (failover.max 1)") || !strings.Contains(g.Reason, "cleanup ip") {
		t.Fatalf("failed reason: %q", g.Reason)
	}
	for _, n := range h.names {
		if h.nodes[n].running["ip"] || h.nodes[n].running["web"] {
			t.Fatalf("a failed group still runs on %s", n)
		}
	}
	if err := h.converged(); err != nil {
		t.Fatal(err)
	}
	// cleanup forgets: back on n1 (bans gone, most preferred)
	h.step(h.nodes["n3"], Cleanup{Resource: "ip"})
	h.run(3 * time.Second)
	wantState(t, h, "web", "online", "n1")
}

func TestStartFailureFailsOver(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.fails["n1/web"] = true
	webGroup(h, map[string]any{"preferred": []string{"n1", "n2"}, "restart": map[string]any{"max": 1}})
	h.run(5 * time.Second)
	wantState(t, h, "web", "online", "n2")
}

func TestOwnerCrashWaitsForFence(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.fence = -1 // nobody confirms
	webGroup(h, map[string]any{"preferred": []string{"n3", "n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
	h.crash("n3")
	h.run(2 * time.Second)
	g := wantState(t, h, "web", "blocked", "")
	if g.Reason != "waiting for fence of n3" {
		t.Fatalf("reason %q", g.Reason)
	}
	if err := h.converged(); err != nil { // a stated blocked reason is G7
		t.Fatal(err)
	}
	h.step(h.nodes["n1"], Fenced{Node: "n3"})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	// n3 comes back: failback never (the default): it stays
	h.restart("n3")
	h.run(3 * time.Second)
	wantState(t, h, "web", "online", "n2")
	if ex := h.coordinator().crm.Explain("web"); !strings.Contains(ex, "failback is never") {
		t.Fatalf("explain:\n%s", ex)
	}
}

func TestAssumeFencedAfterDelay(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.cfg = Config{AssumeFenced: true, FenceDelay: time.Second}
	for _, n := range h.names {
		h.boot(n)
	}
	h.regroup()
	webGroup(h, nil)
	h.run(2 * time.Second)
	owner := wantState(t, h, "web", "online", "*").Owner
	h.crash(owner)
	h.run(500 * time.Millisecond)
	if g := h.gview("web"); g.State != "blocked" || g.Reason != "waiting for fence of "+owner {
		t.Fatalf("during the fence delay: %+v", g)
	}
	h.run(2 * time.Second)
	if g := wantState(t, h, "web", "online", "*"); g.Owner == owner {
		t.Fatal("still on the crashed node")
	}
}

func TestFailbackModes(t *testing.T) {
	for _, tc := range []struct {
		failback map[string]any
		tod      time.Duration
		back     bool
	}{
		{map[string]any{"mode": "never"}, 0, false},
		{map[string]any{"mode": "immediate"}, 0, true},
		{map[string]any{"mode": "window", "window": "22:00-06:00"}, 12 * time.Hour, false},
		{map[string]any{"mode": "window", "window": "22:00-06:00"}, 23 * time.Hour, true},
		{map[string]any{"mode": "window", "window": "22:00-06:00"}, 2 * time.Hour, true},
	} {
		h := newHarness(t, 3, 1)
		tod := tc.tod
		h.tod = &tod
		for _, n := range h.names {
			h.step(h.nodes[n], TimeOfDay{D: tc.tod})
		}
		webGroup(h, map[string]any{"preferred": []string{"n3", "n2"}, "failback": tc.failback})
		h.run(2 * time.Second)
		wantState(t, h, "web", "online", "n3")
		h.crash("n3")
		h.run(2 * time.Second)
		wantState(t, h, "web", "online", "n2")
		h.restart("n3")
		for _, n := range h.names {
			h.step(h.nodes[n], TimeOfDay{D: tc.tod})
		}
		h.run(3 * time.Second)
		want := "n2"
		if tc.back {
			want = "n3"
		}
		wantState(t, h, "web", "online", want)
		if !tc.back && tc.failback["mode"] == "window" {
			if ex := h.coordinator().crm.Explain("web"); !strings.Contains(ex, "will fail back to n3 in its failback window 22:00-06:00") {
				t.Fatalf("explain:\n%s", ex)
			}
		}
	}
}

func TestMoveForExpires(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n1"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n1")
	h.step(h.nodes["n3"], Move{Group: "web", Node: "n2", For: 10 * time.Second})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	if ex := h.coordinator().crm.Explain("web"); !strings.Contains(ex, "An administrator moved it to n2 for 8s more; then it goes back to n1") {
		t.Fatalf("explain:\n%s", ex)
	}
	h.run(10 * time.Second)
	wantState(t, h, "web", "online", "n1")
	ev := strings.Join(h.events("n2"), "\n")
	if !strings.Contains(ev, "group_moved web n1->n2") || !strings.Contains(ev, "group_moved web n2->n1") {
		t.Fatalf("events:\n%s", ev)
	}
	// a move away without a node, for good
	h.step(h.nodes["n2"], Move{Group: "web"})
	h.run(2 * time.Second)
	if g := wantState(t, h, "web", "online", "*"); g.Owner == "n1" {
		t.Fatal("move away did not move it")
	}
	// bad moves are refused with a clear error
	if err := h.nodes["n1"].crm.Step(h.now, Move{Group: "nope"}); err == nil || !strings.Contains(err.Error(), "groups: web") {
		t.Fatalf("move of an unknown group: %v", err)
	}
	if err := h.nodes["n1"].crm.Step(h.now, Move{Group: "web", Node: "n9"}); err == nil || !strings.Contains(err.Error(), "members: n1, n2, n3") {
		t.Fatalf("move to an unknown node: %v", err)
	}
}

func TestPausedNodeGetsNoNewGroups(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.pause("n1", true)
	webGroup(h, map[string]any{"preferred": []string{"n1", "n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	if ex := h.coordinator().crm.Explain("web"); !strings.Contains(ex, "n1 is paused") {
		t.Fatalf("explain:\n%s", ex)
	}
	// a group on a node that is paused moves away (standby, as in
	// Pacemaker; issue 16: it used to stay, though `help pause` said a
	// paused node runs no resources), stopped there first
	h.pause("n1", false)
	h.step(h.nodes["n1"], Move{Group: "web", Node: "n1"})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n1")
	h.pause("n1", true)
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	for r, on := range h.nodes["n1"].running {
		if on {
			t.Fatalf("paused n1 still runs %s", r)
		}
	}
	// only paused or impossible nodes: blocked, with the reasons
	h.pause("n2", true)
	h.pause("n3", true)
	h.resource("db1", "db")
	h.group("db", map[string]any{"possible": []string{"n2", "n3"}})
	h.run(2 * time.Second)
	g := wantState(t, h, "db", "blocked", "")
	if g.Reason != "no node can run it: n1 is not a possible owner; n2 is paused (standby: resume it to run groups); n3 is paused (standby: resume it to run groups)" {
		t.Fatalf("reason %q", g.Reason)
	}
}

func TestDependencyFollows(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.resource("d1", "db")
	h.resource("d2", "db")
	h.group("db", map[string]any{"resources": []string{"d1", "d2"}, "preferred": []string{"n2"}})
	h.resource("a1", "app")
	h.group("app", map[string]any{"after": []string{"db"}, "preferred": []string{"n1"}})
	h.run(3 * time.Second)
	wantState(t, h, "db", "online", "n2")
	wantState(t, h, "app", "online", "n2")
	ev := strings.Join(h.events("n1"), "\n")
	if strings.Index(ev, "group_online db") > strings.Index(ev, "resource_started a1") {
		t.Fatalf("app started before db was online:\n%s", ev)
	}
	// db moves: app stops first, db stops in reverse, db starts, app follows
	h.nodes["n1"].events = nil
	h.step(h.nodes["n1"], Move{Group: "db", Node: "n3"})
	h.run(4 * time.Second)
	wantState(t, h, "db", "online", "n3")
	wantState(t, h, "app", "online", "n3")
	ev = strings.Join(h.events("n1"), "\n")
	order := []string{"resource_stopped a1 on n2", "resource_stopped d2 on n2", "resource_stopped d1 on n2",
		"resource_started d1 on n3", "resource_started d2 on n3", "group_online db on n3", "resource_started a1 on n3"}
	at := -1
	for _, o := range order {
		i := strings.Index(ev, o)
		if i < at {
			t.Fatalf("%q out of order:\n%s", o, ev)
		}
		at = i
	}
	// a missing dependency and a cycle are stated
	h.group("app", map[string]any{"after": []string{"cache"}})
	h.run(2 * time.Second)
	if g := wantState(t, h, "app", "blocked", ""); g.Reason != "it depends on group cache, which is not configured" {
		t.Fatalf("reason %q", g.Reason)
	}
	h.group("db", map[string]any{"after": []string{"app"}})
	h.group("app", map[string]any{"after": []string{"db"}})
	h.run(2 * time.Second)
	if g := wantState(t, h, "app", "blocked", ""); !strings.HasPrefix(g.Reason, "dependency cycle: ") {
		t.Fatalf("reason %q", g.Reason)
	}
	if err := h.converged(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, nil)
	h.run(2 * time.Second)
	owner := wantState(t, h, "web", "online", "*").Owner
	h.put(ResourcePrefix+"web", `{"agent": "dummy", "group": "web", "monitor": "often"}`)
	h.run(time.Second)
	g := wantState(t, h, "web", "blocked", owner)
	if g.Reason != `config: /resources/web: monitor: "often" is not a duration (write e.g. "10s", "5m")` {
		t.Fatalf("reason %q", g.Reason)
	}
	if !h.nodes[owner].running["web"] {
		t.Fatal("a config error stopped a running resource")
	}
	for _, tc := range []struct{ key, json, want string }{
		{"/groups/g", `{"target": "up"}`, `/groups/g: target: "up" is neither "started" nor "stopped"`},
		{"/groups/g", `{"failback": {"mode": "window", "window": "late"}}`, `/groups/g: failback.window: "late"`},
		{"/groups/g", `{"restart": {"max": -1}}`, `/groups/g: restart.max: -1 is negative`},
		{"/groups/g", `{"colour": 1}`, `/groups/g: bad JSON: json: unknown field "colour"`},
		{"/resources/r", `{"group": "g"}`, `/resources/r: agent: missing`},
		{"/resources/r", `{"agent": "x"}`, `/resources/r: group: missing`},
	} {
		var err error
		if strings.HasPrefix(tc.key, GroupPrefix) {
			_, err = ParseGroup("g", []byte(tc.json))
		} else {
			_, err = ParseResource("r", []byte(tc.json))
		}
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %s", tc.key, tc.json, err, tc.want)
		}
	}
}

func TestPolicyChoosesAndFallsBack(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.policy = func(p PolicyRequest) (PolicyAnswer, time.Duration) {
		if p.Kind == PolicyChooseOwner {
			return PolicyAnswer{ID: p.ID, Owner: p.Candidates[len(p.Candidates)-1]}, 50 * time.Millisecond
		}
		return PolicyAnswer{ID: p.ID, Decision: DecideFailover}, 50 * time.Millisecond
	}
	webGroup(h, map[string]any{"policy": "last", "preferred": []string{"n1", "n2", "n3"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
	// on_failure answers failover: no restart in place
	h.breakRes("n3", "web")
	h.run(3 * time.Second)
	g := wantState(t, h, "web", "online", "*")
	if g.Owner == "n3" {
		t.Fatal("policy said failover, it restarted in place")
	}
	// a policy that never answers: the default decides after the deadline
	h2 := newHarness(t, 3, 2)
	webGroup(h2, map[string]any{"policy": "silent", "preferred": []string{"n2"}})
	h2.run(time.Second)
	if g := wantState(t, h2, "web", "starting", ""); g.Reason != "waiting for policy silent to choose an owner" {
		t.Fatalf("reason %q", g.Reason)
	}
	h2.run(3 * time.Second)
	wantState(t, h2, "web", "online", "n2")
	if ex := h2.coordinator().crm.Explain("web"); !strings.Contains(ex, "silent did not answer in 2s") {
		t.Fatalf("explain:\n%s", ex)
	}
}

func TestExplainText(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n2"}, "possible": []string{"n1", "n2"}})
	h.run(2 * time.Second)
	got := h.nodes["n3"].crm.Explain("web") // a member, from the broadcast state
	want := `Group web is online on n2.
- it stays on n2, where it runs.
- not on: n3 is not a possible owner.
Target: started. Preferred owners: n2 (failback never). Possible owners: n1, n2.
Restarts in place: 0 of 3 in the last 10m0s; failovers: 0 of 3 in the last 1h0m0s.
Resources in start order: ip (started on n2), web (started on n2).
`
	if got != want {
		t.Fatalf("explain:\n%s\nwant:\n%s", got, want)
	}
	if ex := h.nodes["n1"].crm.Explain("nope"); ex != "There is no group nope. groups: web.\n" {
		t.Fatalf("unknown: %q", ex)
	}
}

func TestNewCoordinatorRebuildsBeforeScheduling(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n2"}})
	h.resource("d1", "db")
	h.group("db", map[string]any{"preferred": []string{"n3"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	wantState(t, h, "db", "online", "n3")
	h.crash("n1") // the coordinator, which runs nothing
	h.run(2 * time.Second)
	// n2 coordinates now: nothing restarted, nothing moved
	if co := h.coordinator(); co.name != "n2" {
		t.Fatalf("coordinator %s", co.name)
	}
	wantState(t, h, "web", "online", "n2")
	wantState(t, h, "db", "online", "n3")
	ev := strings.Join(h.events("n3"), "\n")
	if strings.Count(ev, "resource_started web") != 1 {
		t.Fatalf("restarted after a coordinator change:\n%s", ev)
	}
}

func TestLostLeaseStopsLocalResources(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	nd := h.nodes["n2"]
	v := nd.view
	v.Lease = false // same primary view, the lease lapsed
	nd.view = v
	h.step(nd, v)
	h.run(time.Second)
	if nd.running["ip"] || nd.running["web"] {
		t.Fatal("a node that lost its lease still runs its resources")
	}
	// A new primary view entered without a lease (none carried over from
	// the previous view: it lapsed on the way) stops what the node runs;
	// a continuing member carries its lease into the new view (Lease is
	// true there) and keeps running (TestContinuityAcrossViewChanges).
	h2 := newHarness(t, 3, 1)
	webGroup(h2, map[string]any{"preferred": []string{"n2"}})
	h2.run(2 * time.Second)
	n2 := h2.nodes["n2"]
	v2 := n2.view
	v2.ID.Epoch += 100
	v2.Lease = false
	n2.view = v2
	h2.step(n2, v2)
	h2.run(time.Second)
	if n2.running["web"] {
		t.Fatal("a node that entered a new primary view without a lease still runs its resources")
	}
}

func TestConfigBatchAndUnchangedKeys(t *testing.T) {
	h := newHarness(t, 3, 1)
	co := h.coordinator()
	batch := ConfigKeys{
		{Key: ResourcePrefix + "a", Value: []byte(`{"agent": "dummy", "group": "g"}`)},
		{Key: ResourcePrefix + "b", Value: []byte(`{"agent": "dummy", "group": "g"}`)},
		{Key: GroupPrefix + "g", Value: []byte(`{"resources": ["b", "a"]}`)},
	}
	for _, n := range h.names {
		h.step(h.nodes[n], batch)
	}
	h.run(2 * time.Second)
	g := wantState(t, h, "g", "online", "*")
	if g.Resources[0].Resource != "b" || g.Resources[1].Resource != "a" {
		t.Fatalf("start order %+v", g.Resources)
	}
	// the same values again change nothing and schedule nothing
	co.crm.Advance()
	if err := co.crm.Step(h.now, batch); err != nil || co.crm.HasReady() {
		t.Fatalf("unchanged keys: %v, ready %+v", err, co.crm.Ready())
	}
}

func TestLeavingNodeGroupsMoveAway(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n2", "n3"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	h.leaving["n2"] = true
	h.regroup()
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
	if ex := h.coordinator().crm.Explain("web"); !strings.Contains(ex, "n2 is leaving the cluster") {
		t.Fatalf("explain:\n%s", ex)
	}
}

// TestStopFailureWaitsForFence: with fencing configured, a stop that fails
// on a member blocks the group, saying it waits for that node's fence, and
// it starts nowhere else; once the node is gone and fenced it comes up on
// a survivor.
func TestStopFailureWaitsForFence(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n3", "n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
	h.fails["n3/web:stop"] = true
	h.step(h.nodes["n1"], Move{Group: "web", Node: "n2"})
	h.run(2 * time.Second)
	g := wantState(t, h, "web", "blocked", "*")
	if !strings.HasPrefix(g.Reason, "stop of web failed on n3: waiting for fence of n3") {
		t.Fatalf("reason %q", g.Reason)
	}
	if h.nodes["n2"].running["web"] || h.nodes["n2"].running["ip"] || !h.nodes["n3"].running["web"] {
		t.Fatal("web started elsewhere while its stop failed on n3")
	}
	h.crash("n3") // it fences itself (or is fenced); the harness confirms it
	h.run(4 * time.Second)
	wantState(t, h, "web", "online", "n2")
}

// TestRestartedCoordinatorWaitsForUnfencedOwner (issue 15, G4): web runs
// on n3; n3 is cut off, its stop fails (it keeps running) and nobody can
// fence it; {n1,n2} shows "waiting for fence of n3". n1, the coordinator,
// restarts with empty runtime state (and an empty disk) and coordinates
// again: web must not start on n2 while n3 may still run it: n2's full
// report carries the owner table it knows. Then a restart of both n1 and
// n2 (n3 still cut off) relies on the copies they persisted.
func TestRestartedCoordinatorWaitsForUnfencedOwner(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.fence = -1 // nobody can fence n3
	webGroup(h, map[string]any{"preferred": []string{"n3", "n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
	h.fails["n3/web:stop"] = true
	h.partition([]string{"n1", "n2"}, []string{"n3"})
	h.run(2 * time.Second)
	if g := wantState(t, h, "web", "blocked", ""); g.Reason != "waiting for fence of n3" {
		t.Fatalf("reason %q", g.Reason)
	}
	if !h.nodes["n3"].running["web"] {
		t.Fatal("the test needs n3 to keep running web")
	}
	cutOff := func(what string) {
		t.Helper()
		for _, n := range []string{"n1", "n2"} {
			if nd := h.nodes[n]; nd.running["web"] || nd.running["ip"] || nd.starts["web"] > 0 || nd.starts["ip"] > 0 {
				t.Fatalf("%s: web started on %s while n3, unfenced, still runs it", what, n)
			}
		}
		if g := wantState(t, h, "web", "blocked", ""); g.Reason != "waiting for fence of n3" {
			t.Fatalf("%s: reason %q", what, g.Reason)
		}
	}
	h.crash("n1")
	h.nodes["n1"].known = Known{} // a new disk: only n2's report can tell it
	h.restart("n1")
	h.run(3 * time.Second)
	cutOff("n1 restarted")
	// both survivors restart (n3 still cut off): only what they persisted
	// tells them about n3
	h.crash("n1")
	h.crash("n2")
	h.restart("n2")
	h.restart("n1")
	h.run(3 * time.Second)
	cutOff("n1 and n2 restarted")
	// the fence is confirmed: web comes up on n2
	h.step(h.nodes["n1"], Fenced{Node: "n3"})
	h.nodes["n3"].running = map[string]bool{}
	h.run(3 * time.Second)
	wantState(t, h, "web", "online", "n2")
}

// TestDrainMovesGroupsAway: a clean stop (Drain) of web's owner moves web
// through its agents' stop to another node before the node leaves, with
// no fence; a group only that node may run is stopped there (blocked,
// saying why). Issue 16: a clean stop used to leave its groups "waiting
// for fence" of a node that is never fenced.
func TestDrainMovesGroupsAway(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.fence = -1 // nothing is fenced: the move must not need it
	webGroup(h, map[string]any{"preferred": []string{"n2", "n3"}})
	h.resource("db1", "db")
	h.group("db", map[string]any{"possible": []string{"n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n2")
	wantState(t, h, "db", "online", "n2")
	n2 := h.nodes["n2"]
	if got := strings.Join(n2.crm.Running(), ","); got != "db,web" {
		t.Fatalf("n2 runs %q, want db,web", got)
	}
	h.step(n2, Drain{})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
	g := wantState(t, h, "db", "blocked", "")
	if !strings.Contains(g.Reason, "n2 is leaving the cluster") {
		t.Fatalf("db's reason %q", g.Reason)
	}
	if got := n2.crm.Running(); len(got) != 0 {
		t.Fatalf("n2 still runs %v after the drain", got)
	}
	for r, on := range n2.running {
		if on {
			t.Fatalf("n2 still runs %s: %v", r, n2.running)
		}
	}
	ev := strings.Join(h.events("n1"), "\n")
	if !strings.Contains(ev, "group_moved web n2->n3") {
		t.Fatalf("no group_moved web from n2 to n3 in:\n%s", ev)
	}
	// it leaves cleanly now: nothing of it waits for a fence
	h.leaving["n2"] = true
	h.regroup()
	n2.up = false
	n2.inc++
	h.regroup()
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n3")
}

// TestJoinKeepsGroupsWithoutPreference: groups with no preferred owner
// stay where they run when a node joins again (stickiness), and a group
// that moved says from and to.
func TestJoinKeepsGroupsWithoutPreference(t *testing.T) {
	h := newHarness(t, 3, 1)
	for _, g := range []string{"a", "b", "c", "d", "e"} {
		h.resource("r"+g, g)
		h.group(g, map[string]any{})
	}
	h.run(2 * time.Second)
	owners := func() map[string]string {
		m := map[string]string{}
		for _, g := range []string{"a", "b", "c", "d", "e"} {
			m[g] = h.gview(g).Owner
		}
		return m
	}
	h.crash("n3")
	h.run(3 * time.Second)
	before := owners()
	for g, o := range before {
		if o == "n3" || o == "" {
			t.Fatalf("group %s on %q after n3 crashed: %v", g, o, before)
		}
	}
	h.restart("n3")
	h.run(3 * time.Second)
	if after := owners(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a join moved groups: %v -> %v\n%s", before, after, strings.Join(h.events("n1"), "\n"))
	}
	// the coordinator restarts: its groups move away, then its join (it
	// coordinates again, knowing no group's state) moves nothing and
	// publishes no group event (it used to repeat group_online for all)
	h.crash("n1")
	h.run(3 * time.Second)
	before = owners()
	mark := len(h.events("n2"))
	h.restart("n1")
	h.run(3 * time.Second)
	if c := h.coordinator(); c == nil || c.name != "n1" {
		t.Fatalf("coordinator %v, want n1", c)
	}
	if after := owners(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("the coordinator's join moved groups: %v -> %v", before, after)
	}
	for _, e := range h.events("n2")[mark:] {
		if strings.HasPrefix(e, "group_") {
			t.Errorf("after n1's join, n2 published %q: no group changed", e)
		}
	}
}
