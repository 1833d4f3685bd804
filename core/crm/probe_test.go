package crm

import (
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// TestRestartedNodeIsProbed (attack A, G4): a resource that outlives the
// node's process (an ipaddr address stays on the interface, an OCF daemon
// keeps running after the agent that started it exited) is probed by the
// node's next incarnation before its full report goes out, so the
// coordinator, which rebuilds from every member's full report, knows it
// still runs there and starts it nowhere else. Seen failing without the
// probe: "group g runs on [n1 n2] in one primary view [n1 n2 n3]".
func TestRestartedNodeIsProbed(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.resource("vip", "g")
	h.group("g", map[string]any{"resources": []string{"vip"}, "preferred": []string{"n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "g", "online", "n2")
	h.step(h.nodes["n1"], Move{Group: "g", Node: "n1"})
	h.run(2 * time.Second)
	wantState(t, h, "g", "online", "n1")
	// corral on n1 restarts (a crash and a quick restart: its peers see a
	// new boot id); the address it added is still on the interface
	h.restart("n1")
	h.nodes["n1"].running["vip"] = true
	h.run(5 * time.Second) // check() fails on a second owner
	if !h.nodes["n1"].running["vip"] || h.nodes["n2"].running["vip"] {
		t.Fatalf("vip runs on n1: %v, n2: %v; want it left on n1", h.nodes["n1"].running["vip"], h.nodes["n2"].running["vip"])
	}
	wantState(t, h, "g", "online", "n1")
}

// TestProbeFailureStopsIt: a probe that cannot tell (the agent fails)
// leaves the resource possibly running: the coordinator stops it there
// before the group starts elsewhere, and a failed stop escalates (the
// node is fenced before the group moves). A probe answering "config"
// (the resource cannot run as configured) finds nothing: issue 16.
func TestProbeFailureStopsIt(t *testing.T) {
	v := View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Lease: true, Takeover: true}
	c := mustNew(Config{Self: "n2"})
	step := stepper(t, c)
	step(ConfigKeys{{Key: ResourcePrefix + "vip", Value: []byte(`{"agent":"ipaddr","group":"g","params":{"ip":"10.0.0.5","nic":"eth0"}}`)},
		{Key: ResourcePrefix + "typo", Value: []byte(`{"agent":"process","group":"h"}`)}})
	rd := step(v)
	if len(rd.Exec) != 2 || rd.Exec[0].Action != ActMonitor || rd.Exec[1].Action != ActMonitor {
		t.Fatalf("exec %+v, want a probe of each resource", rd.Exec)
	}
	for _, p := range rd.Broadcast {
		if m, _ := Decode(p); m != nil {
			if rp, ok := m.(*Report); ok && rp.Full {
				t.Fatalf("a full report went out before the probes answered: %+v", rp)
			}
		}
	}
	typo, vip := rd.Exec[0], rd.Exec[1]
	if typo.Resource != "typo" || vip.Resource != "vip" {
		t.Fatalf("probes %+v", rd.Exec)
	}
	step(ActionDone{Op: typo.Op, Resource: "typo", Action: ActMonitor, Status: StatusConfig, Error: "no parameter cmd"})
	rd = step(ActionDone{Op: vip.Op, Resource: "vip", Action: ActMonitor, Status: StatusTimeout})
	var full *Report
	for _, p := range rd.Broadcast {
		if m, _ := Decode(p); m != nil {
			if rp, ok := m.(*Report); ok && rp.Full {
				full = rp
			}
		}
	}
	if full == nil || len(full.Res) != 1 || full.Res[0].Resource != "vip" || full.Res[0].State != Failed {
		t.Fatalf("full report %+v, want vip failed (it may run) and nothing of typo", full)
	}
	rd = step(Deliver{Payload: Encode(&Actions{View: v.ID, List: []Action{{Op: OpID{Epoch: 1, N: 1}, Node: "n2", Resource: "vip",
		Group: "g", Agent: "ipaddr", Action: ActStop, Timeout: time.Second}}})})
	rd = step(ActionDone{Op: OpID{Epoch: 1, N: 1}, Resource: "vip", Action: ActStop, Status: StatusFailed, Error: "ip addr del: denied"})
	if len(rd.StopFailed) != 1 || !strings.Contains(rd.StopFailed[0].Error, "denied") {
		t.Fatalf("the failed stop of a resource a probe could not rule out did not escalate: %+v", rd.StopFailed)
	}
}
