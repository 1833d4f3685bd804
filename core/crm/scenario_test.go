package crm

import (
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

func wantState(t *testing.T, h *harness, group, state, owner string) GroupView {
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
