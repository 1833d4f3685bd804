package crm

import (
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// TestConfigFailureNeverFences (issue 16, "a typo must never fence a
// node"): a resource whose agent refuses its configuration (StatusConfig
// on start, and on stop, as a parameter typo does) leaves its group failed
// with the reason on every node, is tried on one node only, never asks for
// a fence, and never disturbs another group. The resource before it in the
// group started and is stopped again cleanly.
func TestConfigFailureNeverFences(t *testing.T) {
	h := newHarness(t, 3, 1)
	webGroup(h, map[string]any{"preferred": []string{"n1"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", "online", "n1")

	h.config["app"] = true
	h.resource("pre", "test1")
	h.resource("app", "test1")
	h.group("test1", map[string]any{"resources": []string{"pre", "app"}, "preferred": []string{"n2", "n3"}})
	h.run(10 * time.Second)

	g := wantState(t, h, "test1", "failed", "")
	if !strings.Contains(g.Reason, "app failed on n2: configuration error") || !strings.Contains(g.Reason, "cleanup app") {
		t.Fatalf("reason %q", g.Reason)
	}
	if len(h.escalated) > 0 {
		t.Fatalf("a configuration error escalated to fencing: %v", h.escalated)
	}
	ev := strings.Join(h.events("n3"), "\n")
	if n := strings.Count(ev, "resource_failed app"); n != 1 {
		t.Fatalf("app failed %d times, want once (never retried elsewhere):\n%s", n, ev)
	}
	if strings.Count(ev, "resource_started web") != 1 || strings.Count(ev, "resource_stopped web") != 0 {
		t.Fatalf("web was disturbed:\n%s", ev)
	}
	wantState(t, h, "web", "online", "n1")
	for _, n := range h.names {
		if h.nodes[n].running["pre"] || h.nodes[n].running["app"] {
			t.Fatalf("test1 still runs on %s", n)
		}
		// every node shows the resource failed with the reason
		var rv ResourceView
		for _, r := range h.nodes[n].crm.Resources() {
			if r.Name == "app" {
				rv = r
			}
		}
		if rv.State != "failed" || rv.Node != "n2" || !strings.Contains(rv.Error, "configuration error") {
			t.Fatalf("%s shows app as %+v", n, rv)
		}
	}
	if err := h.converged(); err != nil {
		t.Fatal(err)
	}

	// fixed and cleaned up, it starts
	h.config["app"] = false
	h.step(h.nodes["n3"], Cleanup{Resource: "app"})
	h.run(5 * time.Second)
	wantState(t, h, "test1", "online", "n2")
}

// TestStopOfNeverStartedIsSuccess: a stop of a resource this node never
// started (in this incarnation) succeeds whatever the agent answers, and
// is never escalated; a failed stop of a resource it started still is.
func TestStopOfNeverStartedIsSuccess(t *testing.T) {
	v := View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Lease: true, Takeover: true}
	c := mustNew(Config{Self: "n2"})
	step := stepper(t, c)
	lastReport := func(rd Ready) ResReport {
		t.Helper()
		for i := len(rd.Broadcast) - 1; i >= 0; i-- {
			if m, err := Decode(rd.Broadcast[i]); err == nil {
				if rp, ok := m.(*Report); ok && len(rp.Res) == 1 {
					return rp.Res[0]
				}
			}
		}
		t.Fatalf("no report in %d broadcasts", len(rd.Broadcast))
		return ResReport{}
	}
	step(v)
	act := func(n uint64, res, action string) Ready {
		return step(Deliver{Payload: Encode(&Actions{View: v.ID, List: []Action{{Op: OpID{Epoch: 1, N: n}, Node: "n2", Resource: res,
			Group: "g", Agent: "process", Action: action, Timeout: time.Second}}})})
	}

	// never started here: the stop's failure is a success
	if rd := act(1, "typo", ActStop); len(rd.Exec) != 1 {
		t.Fatalf("the stop is still run (best effort): %+v", rd.Exec)
	}
	rd := step(ActionDone{Op: OpID{Epoch: 1, N: 1}, Resource: "typo", Action: ActStop, Status: StatusConfig, Error: "no parameter cmd"})
	if len(rd.StopFailed) > 0 {
		t.Fatalf("a stop of a resource that never started escalated: %+v", rd.StopFailed)
	}
	if r := lastReport(rd); r.State != Stopped || r.Failure {
		t.Fatalf("report %+v, want stopped without a failure", r)
	}

	// a start that failed with a configuration error started nothing
	act(2, "typo", ActStart)
	rd = step(ActionDone{Op: OpID{Epoch: 1, N: 2}, Resource: "typo", Action: ActStart, Status: StatusConfig, Error: "no parameter cmd"})
	if r := lastReport(rd); r.State != Stopped || !r.Failure || r.Status != StatusConfig {
		t.Fatalf("report %+v, want stopped with a config failure", r)
	}

	// started: a failed stop escalates
	act(3, "web", ActStart)
	step(ActionDone{Op: OpID{Epoch: 1, N: 3}, Resource: "web", Action: ActStart, Status: StatusOK})
	act(4, "web", ActStop)
	rd = step(ActionDone{Op: OpID{Epoch: 1, N: 4}, Resource: "web", Action: ActStop, Status: StatusFailed, Error: "kill: permission denied"})
	if len(rd.StopFailed) != 1 || rd.StopFailed[0].Resource != "web" {
		t.Fatalf("a failed stop of a running resource did not escalate: %+v", rd.StopFailed)
	}
	if r := lastReport(rd); r.State != StopFailed || !r.Failure {
		t.Fatalf("report %+v, want stop_failed", r)
	}

	// a start that failed otherwise may have left something running: its
	// failed stop escalates too
	act(5, "half", ActStart)
	step(ActionDone{Op: OpID{Epoch: 1, N: 5}, Resource: "half", Action: ActStart, Status: StatusTimeout})
	act(6, "half", ActStop)
	rd = step(ActionDone{Op: OpID{Epoch: 1, N: 6}, Resource: "half", Action: ActStop, Status: StatusConfig})
	if len(rd.StopFailed) != 1 {
		t.Fatalf("a failed stop after a timed-out start did not escalate: %+v", rd.StopFailed)
	}
}

// TestCleanupWhatGroupsShows (issue 16): a group and its resource deleted
// while the resource's stop failed leave a row ("stop of web failed on
// n3: waiting for fence of n3"), as they must (it may still run); cleanup
// takes the names that row shows, the resource's and the group's, and
// once the stop succeeds no row is left.
func TestCleanupWhatGroupsShows(t *testing.T) {
	for _, name := range []string{"web", "grp"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, 3, 1)
			h.resource("web", "grp")
			h.group("grp", map[string]any{"resources": []string{"web"}, "preferred": []string{"n3"}})
			h.run(2 * time.Second)
			wantState(t, h, "grp", "online", "n3")
			h.fails["n3/web:stop"] = true
			h.put(ResourcePrefix+"web", nil)
			h.put(GroupPrefix+"grp", nil)
			h.run(2 * time.Second)
			if g := wantState(t, h, "grp", "blocked", "*"); !strings.HasPrefix(g.Reason, "stop of web failed on n3") {
				t.Fatalf("reason %q", g.Reason)
			}
			h.fails["n3/web:stop"] = false                 // stopped by hand, say
			h.step(h.nodes["n2"], Cleanup{Resource: name}) // a member's: it shows the row too
			h.run(2 * time.Second)
			for _, n := range h.names {
				if gs := h.nodes[n].crm.Groups(); len(gs) != 0 {
					t.Fatalf("%s still shows %+v", n, gs)
				}
			}
		})
	}
}

// TestStopUsesStartParams (issue 16, G4): a resource this node started is
// stopped with the agent and the parameters it was started with, not the
// ones the configuration names now. A change made while it ran (a typo in
// a parameter, another agent) must neither make its stop fail with a
// configuration error (that stop escalates: a typo would fence the node)
// nor make the stop act on something else and succeed while the old
// instance runs on (the group would start elsewhere: two owners).
func TestStopUsesStartParams(t *testing.T) {
	v := View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Lease: true, Takeover: true}
	c := mustNew(Config{Self: "n2"})
	step := stepper(t, c)
	step(v)
	act := func(n uint64, agent, action string, params map[string]string) Ready {
		return step(Deliver{Payload: Encode(&Actions{View: v.ID, List: []Action{{Op: OpID{Epoch: 1, N: n}, Node: "n2", Resource: "vip",
			Group: "g", Agent: agent, Action: action, Params: params, Timeout: time.Second}}})})
	}
	act(1, "ipaddr", ActStart, map[string]string{"ip": "10.0.0.5", "nic": "eth0"})
	step(ActionDone{Op: OpID{Epoch: 1, N: 1}, Resource: "vip", Action: ActStart, Status: StatusOK})
	// the operator changed nic (eth9 does not exist here) and the agent
	rd := act(2, "dummy", ActStop, map[string]string{"ip": "10.0.0.5", "nic": "eth9"})
	if len(rd.Exec) != 1 {
		t.Fatalf("exec %+v, want the stop", rd.Exec)
	}
	if a := rd.Exec[0]; a.Agent != "ipaddr" || a.Params["nic"] != "eth0" || a.Timeout != time.Second {
		t.Fatalf("the stop runs %s %v (timeout %v), want ipaddr with nic eth0, what it was started with", a.Agent, a.Params, a.Timeout)
	}
}

// stepper steps one member at time 1 s and returns its Ready (advanced),
// for the single-member tests that drive a core input by input.
func stepper(t *testing.T, c *CRM) func(Input) Ready {
	return func(in Input) Ready {
		t.Helper()
		if err := c.Step(time.Second, in); err != nil {
			t.Fatal(err)
		}
		rd := c.Ready()
		c.Advance()
		return rd
	}
}
