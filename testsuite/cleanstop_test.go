package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type stopEventJSON struct {
	Kind     string `json:"kind"`
	Target   string `json:"target"`
	Group    string `json:"group"`
	Resource string `json:"resource"`
	On       string `json:"on"`
	Owner    string `json:"owner"`
	From     string `json:"from"`
	To       string `json:"to"`
	Clean    bool   `json:"clean"`
}

// TestCleanStopMovesGroupsProcesses (issue 16): SIGTERM of web's owner
// stops whoami through the process agent's stop before the agent exits,
// and web comes online on another node with no fence: the survivors'
// events have resource_stopped(whoami on the owner) before its clean
// node_left, then group_online and group_moved from the owner to the new
// one, and no fence_started or node_fenced. It used to leave web blocked
// "waiting for fence" of a node that left cleanly and is never fenced.
func TestCleanStopMovesGroupsProcesses(t *testing.T) {
	dir := t.TempDir()
	startDemoArgs(t, dir, "127.126", 3, "--web=true")
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	var owner string
	eventually(t, 30*time.Second, "web online", func() error {
		var gs []groupJSON
		if err := run("n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "online" {
			return fmt.Errorf("groups %+v", gs)
		}
		owner = gs[0].Owner
		return nil
	})
	w := whoamiPID(t, filepath.Join(dir, owner))
	if w == 0 || !alive(w) {
		t.Fatalf("whoami pid %d on %s: not running", w, owner)
	}
	pids := demoPIDs(t, dir, 3)
	op := pids[int(owner[1]-'1')]
	if err := syscall.Kill(op, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, owner+"'s agent exits after SIGTERM", func() error {
		if alive(op) {
			return fmt.Errorf("pid %d alive", op)
		}
		return nil
	})
	if alive(w) {
		t.Fatalf("whoami (pid %d) outlived its node's clean stop", w)
	}
	other := "n1"
	if owner == "n1" {
		other = "n2"
	}
	eventually(t, 20*time.Second, "web online on a survivor", fenceWebOnline(run, other, ""))
	var evs []stopEventJSON
	if err := run(other, "events", &evs); err != nil {
		t.Fatal(err)
	}
	stopped, left, online, moved := -1, -1, -1, -1
	var seen []string
	for i, e := range evs {
		switch {
		case e.Kind == "resource_stopped" && e.Resource == "whoami" && e.On == owner && stopped < 0:
			stopped = i
		case e.Kind == "node_left" && e.Target == owner && left < 0:
			left = i
			if !e.Clean {
				t.Errorf("node_left %+v: want clean", e)
			}
		case e.Kind == "group_online" && e.Group == "web" && e.Owner != owner && online < 0:
			online = i
		case e.Kind == "group_moved" && e.Group == "web" && moved < 0:
			moved = i
			if e.From != owner || e.To == "" || e.To == owner {
				t.Errorf("group_moved %+v: want from %s to a survivor", e, owner)
			}
		case e.Kind == "fence_started" || e.Kind == "node_fenced":
			t.Errorf("a clean stop was fenced: %+v", e)
		}
		if strings.HasPrefix(e.Kind, "group") || strings.HasPrefix(e.Kind, "resource") || strings.HasPrefix(e.Kind, "node") {
			seen = append(seen, e.Kind+":"+e.Group+e.Resource+e.Target)
		}
	}
	if stopped < 0 || left < 0 || online < 0 || moved < 0 || stopped > left {
		t.Fatalf("%s's events: want resource_stopped(whoami on %s) < node_left, group_online and group_moved; got %d %d %d %d: %s",
			other, owner, stopped, left, online, moved, strings.Join(seen, " "))
	}
}

// TestRestartKeepsGroupsWithoutPreference (issue 16): groups with no
// preferred owner stay where they run when a node stops cleanly and
// starts again (stickiness): its join moves none of them, and the events
// after the join have no group event at all. The node restarted is n3:
// a restarted n1 (the lowest id) coordinates at once and can form a view
// with one peer first and the other a moment later, and that peer then
// loses its lease across the two views and stops its groups for a while
// (quorum_lost, then a fence when the first view excluded it): a
// membership problem seen here and left to its own fix. The restarted
// coordinator's side (it used to publish group_online for every group)
// is core/crm's TestJoinKeepsGroupsWithoutPreference.
func TestRestartKeepsGroupsWithoutPreference(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.127", 3)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"n1", "n2", "n3"} {
				b, _ := os.ReadFile(filepath.Join(dir, n, "corral.log"))
				ls := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("--- %s corral.log (last 40 lines):\n%s", n, strings.Join(ls[max(0, len(ls)-40):], "\n"))
			}
		}
	})
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	names := []string{"a", "b", "c", "d", "e", "f"}
	var before map[string]string // the owners before the restart
	var out map[string]any
	eventually(t, 20*time.Second, "group add on n2", func() error { return run("n2", "group add a", &out) })
	for _, g := range names {
		if g != "a" {
			if err := run("n2", "group add "+g, &out); err != nil {
				t.Fatal(err)
			}
		}
		if err := run("n2", "resource add r"+g+" dummy --group "+g, &out); err != nil {
			t.Fatal(err)
		}
	}
	owners := func(from string) (map[string]string, error) {
		var gs []groupJSON
		if err := run(from, "groups", &gs); err != nil {
			return nil, err
		}
		m := map[string]string{}
		for _, g := range gs {
			if g.State != "online" {
				return nil, fmt.Errorf("group %s is %s on %q (%s)", g.Name, g.State, g.Owner, g.Reason)
			}
			m[g.Name] = g.Owner
		}
		if len(m) != len(names) {
			return nil, fmt.Errorf("groups %+v", gs)
		}
		return m, nil
	}
	eventually(t, 20*time.Second, "every group online", func() error { _, err := owners("n2"); return err })
	pids := demoPIDs(t, dir, 3)
	if err := syscall.Kill(pids[2], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 45*time.Second, "n3 gone and every group online on n1 or n2", func() error {
		if alive(pids[2]) {
			return fmt.Errorf("n3 (pid %d) alive", pids[2])
		}
		m, err := owners("n1")
		if err != nil {
			return err
		}
		for g, o := range m {
			if o == "n3" {
				return fmt.Errorf("group %s still on n3", g)
			}
		}
		before = m
		return nil
	})
	if before == nil {
		t.Fatal("no owners")
	}
	var evs []stopEventJSON
	if err := run("n1", "events", &evs); err != nil {
		t.Fatal(err)
	}
	mark := len(evs)
	// restart n3 once the others no longer reach its old incarnation
	eventually(t, 10*time.Second, "n1 and n2 no longer reach n3", func() error {
		for _, nd := range []string{"n1", "n2"} {
			st, err := shellStatus(t, dir, nd)
			if err != nil {
				return err
			}
			if st.reaches("n3") {
				return fmt.Errorf("%s still reaches n3", nd)
			}
		}
		return nil
	})
	startDemoArgs(t, dir, "127.127", 3, "--web=false")
	eventually(t, 30*time.Second, "n3 back in the view", func() error {
		var st struct {
			Members []string `json:"members"`
		}
		if err := run("n1", "status", &st); err != nil {
			return err
		}
		if len(st.Members) != 3 {
			return fmt.Errorf("members %v", st.Members)
		}
		return nil
	})
	// for a while after the join, every group stays where it ran
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
		m, err := owners("n1")
		if err != nil {
			t.Fatalf("after n3 joined: %v", err)
		}
		if fmt.Sprint(m) != fmt.Sprint(before) {
			t.Fatalf("n3's join moved groups: %v -> %v", before, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := run("n1", "events", &evs); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs[mark:] {
		if strings.HasPrefix(e.Kind, "group_") {
			t.Errorf("after n3's join, n1 recorded %s for %s (owner %s, from %s to %s): no group changed", e.Kind, e.Group, e.Owner, e.From, e.To)
		}
	}
}

// TestPauseMovesGroupsProcesses (issue 16): `pause` does what its help
// says (standby, as in Pacemaker): the paused owner of web runs nothing
// (whoami stopped through the process agent), web comes online on another
// node, no fence; after `resume` web stays where it went.
func TestPauseMovesGroupsProcesses(t *testing.T) {
	dir := t.TempDir()
	startDemoArgs(t, dir, "127.128", 3, "--web=true")
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	var owner string
	eventually(t, 30*time.Second, "web online", func() error {
		var gs []groupJSON
		if err := run("n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "online" {
			return fmt.Errorf("groups %+v", gs)
		}
		owner = gs[0].Owner
		return nil
	})
	w := whoamiPID(t, filepath.Join(dir, owner))
	if w == 0 || !alive(w) {
		t.Fatalf("whoami pid %d on %s: not running", w, owner)
	}
	other := "n1"
	if owner == "n1" {
		other = "n2"
	}
	var out map[string]any
	if err := run(other, "pause "+owner, &out); err != nil {
		t.Fatal(err)
	}
	var now string
	eventually(t, 20*time.Second, "web online on another node than the paused "+owner, func() error {
		var gs []groupJSON
		if err := run(other, "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "online" || gs[0].Owner == owner {
			return fmt.Errorf("groups %+v", gs)
		}
		now = gs[0].Owner
		return nil
	})
	if alive(w) {
		t.Fatalf("whoami (pid %d) still runs on the paused %s", w, owner)
	}
	var evs []stopEventJSON
	if err := run(other, "events", &evs); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == "fence_started" || e.Kind == "node_fenced" {
			t.Errorf("a pause was fenced: %+v", e)
		}
	}
	if err := run(other, "resume "+owner, &out); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, owner+" online again", func() error {
		st, err := shellStatus(t, dir, other)
		if err != nil {
			return err
		}
		var nodes []struct{ Name, State string }
		if err := run(other, "nodes", &nodes); err != nil {
			return err
		}
		for _, n := range nodes {
			if n.Name == owner && n.State != "online" {
				return fmt.Errorf("%s is %s (%s)", owner, n.State, st.Node)
			}
		}
		return nil
	})
	// resumed: web does not come back by itself
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		if err := fenceWebOnline(run, other, now)(); err != nil {
			t.Fatalf("after resume: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
