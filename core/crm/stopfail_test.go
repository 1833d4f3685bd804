package crm

import (
	"testing"
	"time"
)

// TestStopFailureWithoutFencing: without fencing (AssumeFenced) a stop
// that fails blocks the group with the failed stop as its reason and what
// to do about it, and it starts nowhere else; after the stop works again
// and a cleanup it moves on. (The reason comes from drive's typed wait, a
// failed stop flagged, not from the wait's text.)
func TestStopFailureWithoutFencing(t *testing.T) {
	h := newHarness(t, 3, 1)
	h.cfg = Config{AssumeFenced: true, FenceDelay: time.Second}
	for _, n := range h.names {
		h.boot(n)
	}
	h.regroup()
	webGroup(h, map[string]any{"preferred": []string{"n3", "n2"}})
	h.run(2 * time.Second)
	wantState(t, h, "web", GroupOnline, "n3")
	h.fails["n3/web:stop"] = true
	h.step(h.nodes["n1"], Move{Group: "web", Node: "n2"})
	h.run(2 * time.Second)
	g := wantState(t, h, "web", GroupBlocked, "*")
	if want := "stop of web failed on n3; run `cleanup` on it once it is stopped by hand, or fence the node"; g.Reason != want {
		t.Fatalf("reason %q, want %q", g.Reason, want)
	}
	if h.nodes["n2"].running["web"] || h.nodes["n2"].running["ip"] {
		t.Fatal("web started elsewhere while its stop failed on n3")
	}
	delete(h.fails, "n3/web:stop")
	h.step(h.coordinator(), Cleanup{Resource: "web"})
	h.run(2 * time.Second)
	wantState(t, h, "web", GroupOnline, "n2")
}
