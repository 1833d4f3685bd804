package testsuite

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"
)

type groupJSON struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Owner   string `json:"owner"`
	Address string `json:"address"`
	Reason  string `json:"reason"`
}

type resourceJSON struct {
	Name  string `json:"name"`
	State string `json:"state"`
	Node  string `json:"node"`
}

// TestGroupFailoverProcesses: the resource manager on real processes (the
// built-in dummy agent): a group added with the shell comes up on its
// preferred owner in order; a move --for expires and it goes back; kill -9
// of the owner brings it up on another node; stop and start.
func TestGroupFailoverProcesses(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.90", 3)
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	var out map[string]any
	eventually(t, 20*time.Second, "group add on n1", func() error { return run("n1", "group add web --prefer n2,n3", &out) })
	for _, c := range []string{"resource add ip dummy --group web --monitor 500ms", "resource add app dummy --group web --monitor 500ms"} {
		if err := run("n1", c, &out); err != nil {
			t.Fatal(err)
		}
	}
	onlineOn := func(from, owner string) func() error {
		return func() error {
			var gs []groupJSON
			if err := run(from, "groups", &gs); err != nil {
				return err
			}
			if len(gs) != 1 || gs[0].Name != "web" || gs[0].State != "online" || (owner != "" && gs[0].Owner != owner) {
				return fmt.Errorf("groups on %s: %+v, want web online on %s", from, gs, owner)
			}
			return nil
		}
	}
	for _, nd := range []string{"n1", "n2", "n3"} {
		eventually(t, 15*time.Second, "web online on n2 seen from "+nd, onlineOn(nd, "n2"))
	}
	var gs []groupJSON
	if err := run("n3", "groups", &gs); err != nil || gs[0].Address != "127.90.0.2" {
		t.Fatalf("address: %+v %v", gs, err)
	}
	var rs []resourceJSON
	if err := run("n1", "resources", &rs); err != nil || len(rs) != 2 || rs[0].Node != "n2" || rs[0].State != "started" {
		t.Fatalf("resources: %+v %v", rs, err)
	}
	var ex struct{ Text string }
	if err := run("n1", "explain web", &ex); err != nil || !strings.Contains(ex.Text, "Group web is online on n2.") {
		t.Fatalf("explain: %v\n%s", err, ex.Text)
	}
	var evs []map[string]any
	if err := run("n3", "events", &evs); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range evs {
		if e["group"] == "web" {
			seen = append(seen, fmt.Sprint(e["kind"], ":", e["resource"], e["owner"]))
		}
	}
	s := strings.Join(seen, " ")
	if i, j := strings.Index(s, "resource_started:ip"), strings.Index(s, "resource_started:app"); i < 0 || j < i || !strings.HasSuffix(s, "group_online:<nil>n2") {
		t.Fatalf("n3's events: %s", s)
	}

	// a move that expires
	if err := run("n2", "move web n3 --for 4s", &out); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "web moved to n3", onlineOn("n1", "n3"))
	eventually(t, 15*time.Second, "web back on n2 after the move expired", onlineOn("n1", "n2"))

	// kill -9 of the owner
	pids := demoPIDs(t, dir, 3)
	start := time.Now()
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "web online on n3 after kill -9 of n2", onlineOn("n1", "n3"))
	t.Logf("kill -9 of the owner -> web online on n3 (seen by the shell on n1): %v", time.Since(start).Round(time.Millisecond))

	// stop and start (web may be online on n3 before the takeover wait
	// after the view change has passed, which config writes still wait
	// for: the shell says to retry)
	eventually(t, 10*time.Second, "stop web on n3", func() error { return run("n3", "stop web", &out) })
	eventually(t, 10*time.Second, "web offline", func() error {
		var gs []groupJSON
		if err := run("n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "offline" {
			return fmt.Errorf("groups: %+v", gs)
		}
		return nil
	})
	if err := run("n1", "start web", &out); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "web online again", onlineOn("n1", "n3"))
	// deleting the group stops its resources; the group disappears
	for _, c := range []string{"resource del app", "resource del ip", "group del web"} {
		if err := run("n3", c, &out); err != nil { // n2 was killed
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "no groups left", func() error {
		var gs []groupJSON
		if err := run("n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 0 {
			return fmt.Errorf("groups: %+v", gs)
		}
		return nil
	})
	// unknown names are refused with a clear error
	r := corral(t, dir, "shell", "--socket", dir+"/n1/corral.sock", "-c", "move nope")
	if r.code == 0 || !strings.Contains(r.stderr, "no group") {
		t.Fatalf("move nope: exit %d %q", r.code, r.stderr)
	}
}
