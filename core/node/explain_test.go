package node

import (
	"strings"
	"testing"
)

// TestExplainNodeSentences: explainNode says why a node is or is not a
// member, from the facts the node gathers.
func TestExplainNodeSentences(t *testing.T) {
	evs := []Event{
		{Seq: 1, Kind: "view_changed", View: "1/n1", Members: []string{"n1", "n2", "n3"}},
		{Seq: 2, Kind: "node_paused", View: "2/n1", Target: "n2"},
		{Seq: 3, Kind: "view_changed", View: "3/n1", Members: []string{"n1", "n2"}},
		{Seq: 4, Kind: "view_changed", View: "4/n1", Members: []string{"n1", "n2"}},
	}
	if e := lastChange(evs, "n3"); e == nil || e.Seq != 3 {
		t.Fatalf("n3's last change: %+v, want the view without it (3)", e)
	}
	if e := lastChange(evs, "n2"); e == nil || e.Seq != 2 {
		t.Fatalf("n2's last change: %+v, want node_paused (2)", e)
	}
	for _, c := range []struct {
		name string
		f    nodeFacts
		want []string
	}{
		{"paused member", nodeFacts{Self: "n1", View: "4/n1", Primary: true, Member: true,
			Node: NodeStatus{Name: "n2", State: "paused", Reachable: true, Links: []LinkStatus{{Local: 0, Remote: 0, Up: true, RTT: "1ms"}, {Local: 1, Remote: 1, In: true}}},
			Last: &evs[1]},
			[]string{"n2 is a member of view 4/n1.", "It is paused", "resume n2", "link 0 to its link 0 up (rtt 1ms)",
				"link 1 to its link 1 down (heard from it, it does not hear us)", "Last membership change: node_paused in view 2/n1"}},
		{"killed", nodeFacts{Self: "n1", View: "4/n1", Primary: true, Node: NodeStatus{Name: "n3", State: "offline"}, Last: &evs[2],
			Fence: &FenceTarget{Target: "n3", Boot: 7, State: "done", Confirmed: true, Device: "power"}},
			[]string{"n3 is not a member of view 4/n1: no link to it is up", "confirmed fenced at boot 7 by power", "view change without it in view 3/n1"}},
		{"refused", nodeFacts{Self: "n1", View: "4/n1", Node: NodeStatus{Name: "n3", State: "joining", Reachable: true}, Refused: "lease"},
			[]string{"refused because its quorum settings differ (lease)"}},
		{"self coordinator", nodeFacts{Self: "n1", View: "4/n1", Primary: true, Member: true, Coordinator: true, Node: NodeStatus{Name: "n1", State: "online"}},
			[]string{"n1 (this node) is a member of view 4/n1, and its coordinator.", "It is online"}},
	} {
		x := explainNode(c.f)
		for _, w := range c.want {
			if !strings.Contains(x.Text, w) {
				t.Errorf("%s: text lacks %q:\n%s", c.name, w, x.Text)
			}
		}
	}
}

// TestExplainFenceSentences: explainFence gives the levels, the state,
// the last result and what is waited for.
func TestExplainFenceSentences(t *testing.T) {
	fs := FenceStatus{Configured: true, Action: "reboot",
		Devices: []FenceDevice{{Name: "power", Driver: "process"}, {Name: "other", Driver: "ipmi"}},
		Levels:  []FenceLevelOf{{Node: "n3", Levels: [][]string{{"power"}}}, {Node: "n2", Levels: [][]string{{"other"}}}},
		Targets: []FenceTarget{{Target: "n3", Boot: 4, State: "in progress", Device: "power", Attempts: 2, Reason: "left uncleanly"}}}
	x := explainFence("n3", fs, nil, false)
	for _, w := range []string{"n3 is fenced by level 1: power", "Device power uses the process fence driver.",
		"waiting for device power (attempt 2)", "The fence history has no operation on it."} {
		if !strings.Contains(x.Text, w) {
			t.Errorf("in progress: text lacks %q:\n%s", w, x.Text)
		}
	}
	if len(x.Devices) != 1 || x.Waiting != "device power" {
		t.Errorf("in progress: devices %+v waiting %q", x.Devices, x.Waiting)
	}
	fs.Targets[0] = FenceTarget{Target: "n3", Boot: 4, State: "done", Confirmed: true, Device: "power"}
	hist := []FenceRecord{{Key: "/fence/history/1", Revision: 9, Time: "t9"}}
	hist[0].Target, hist[0].Boot, hist[0].State, hist[0].Device, hist[0].By, hist[0].Reason = "n3", 4, "done", "power", "n1", "left uncleanly"
	x = explainFence("n3", fs, hist, false)
	for _, w := range []string{"confirmed fenced at boot 4 (by power)", "Last result at t9: fenced at boot 4 by device power, run by n1"} {
		if !strings.Contains(x.Text, w) {
			t.Errorf("done: text lacks %q:\n%s", w, x.Text)
		}
	}
	x = explainFence("n1", FenceStatus{}, nil, true)
	for _, w := range []string{"n1 has no fence device and watchdog mode is off", "nothing waits for its fence"} {
		if !strings.Contains(x.Text, w) {
			t.Errorf("unfenced member: text lacks %q:\n%s", w, x.Text)
		}
	}
}

// TestExplainFenceStuckNamesConfirm: where fencing is stuck (the last
// fence failed, or no device can fence the node), the explanation names
// `fence confirm` and its risk.
func TestExplainFenceStuckNamesConfirm(t *testing.T) {
	fs := FenceStatus{Configured: true, Action: "reboot",
		Devices: []FenceDevice{{Name: "power", Driver: "process"}},
		Levels:  []FenceLevelOf{{Node: "n3", Levels: [][]string{{"power"}}}},
		Targets: []FenceTarget{{Target: "n3", Boot: 4, State: "failed", Device: "power", Attempts: 3, Error: "timeout", Reason: "left uncleanly"}}}
	for _, x := range []FenceExplain{explainFence("n3", fs, nil, false), explainFence("n2", FenceStatus{}, nil, false)} {
		for _, w := range []string{"`fence confirm n", "corral help operations"} {
			if !strings.Contains(x.Text, w) {
				t.Errorf("text lacks %q:\n%s", w, x.Text)
			}
		}
	}
}
