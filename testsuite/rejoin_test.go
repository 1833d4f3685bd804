package testsuite

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var rejoinRounds = flag.Int("rejoin.rounds", 10, "restarts of n1 in TestRestartedLowestNodeSplitsNothing")

// TestRestartedLowestNodeSplitsNothing: n1, the lowest id of a three-node
// demo with fencing on, is restarted ten times (-rejoin.rounds) (kill -9, started again
// once n2 saw it fenced; or SIGTERM, started again once it is gone). n2
// and n3, healthy all along, run two groups that may not run on n1. A
// restarted n1 used to form a first view with the one peer it heard first
// and the full view some 50 ms later: the other peer left the primary
// view uncleanly, was fenced by n1 (the process device killed it), and a
// survivor could log quorum_lost and stop its groups. Now: no fence of n2
// or n3, every view n2 or n3 installs holds both, and no quorum_lost,
// resource_stopped or group_offline on n2 or n3.
func TestRestartedLowestNodeSplitsNothing(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.170", 3)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"n1", "n2", "n3"} {
				b, _ := os.ReadFile(filepath.Join(dir, n, "corral.log"))
				ls := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("--- %s corral.log (last 60 lines):\n%s", n, strings.Join(ls[max(0, len(ls)-60):], "\n"))
			}
		}
	})
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	var out map[string]any
	eventually(t, 30*time.Second, "group add on n2", func() error { return run("n2", "group add a --prefer n2 --possible n2,n3", &out) })
	for _, cmd := range []string{
		"group add b --prefer n3 --possible n2,n3",
		"resource add ra dummy --group a",
		"resource add rb dummy --group b",
	} {
		if err := run("n2", cmd, &out); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	type status struct {
		Members []string `json:"members"`
		Quorate bool     `json:"quorate"`
	}
	three := func(nodes ...string) func() error {
		return func() error {
			for _, n := range nodes {
				var st status
				if err := run(n, "status", &st); err != nil {
					return err
				}
				if len(st.Members) != 3 || !st.Quorate {
					return fmt.Errorf("%s: members %v quorate %v", n, st.Members, st.Quorate)
				}
			}
			return nil
		}
	}
	eventually(t, 30*time.Second, "three quorate members", three("n1", "n2", "n3"))
	eventually(t, 30*time.Second, "groups a and b online", func() error {
		var gs []groupJSON
		if err := run("n2", "groups", &gs); err != nil {
			return err
		}
		for _, g := range gs {
			if g.State != "online" {
				return fmt.Errorf("group %s is %s (%s)", g.Name, g.State, g.Reason)
			}
		}
		if len(gs) != 2 {
			return fmt.Errorf("groups %+v", gs)
		}
		return nil
	})
	type ev struct {
		Seq      int      `json:"seq"`
		Kind     string   `json:"kind"`
		Target   string   `json:"target"`
		Group    string   `json:"group"`
		Resource string   `json:"resource"`
		On       string   `json:"on"`
		View     string   `json:"view"`
		Members  []string `json:"members"`
	}
	last := map[string]int{}
	for _, n := range []string{"n2", "n3"} {
		var evs []ev
		if err := run(n, "events", &evs); err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			last[n] = evs[len(evs)-1].Seq
		}
	}
	survivors := demoPIDs(t, dir, 3)[1:]
	for round := range *rejoinRounds {
		pid := demoPIDs(t, dir, 3)[0]
		kill := round%2 == 0
		if kill {
			t.Logf("round %d: kill -9 n1 (pid %d)", round, pid)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Logf("round %d: SIGTERM n1 (pid %d)", round, pid)
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 45*time.Second, "n1 gone", func() error {
			if alive(pid) {
				return fmt.Errorf("pid %d alive", pid)
			}
			return nil
		})
		if kill {
			// Start n1 again only once its fence is confirmed, else the
			// fence begun for the dead incarnation kills the new one.
			eventually(t, 20*time.Second, "n2 saw n1 fenced", func() error {
				var evs []ev
				if err := run("n2", fmt.Sprintf("events --since %d", last["n2"]), &evs); err != nil {
					return err
				}
				for _, e := range evs {
					if e.Kind == "node_fenced" && e.Target == "n1" {
						return nil
					}
				}
				return fmt.Errorf("no node_fenced for n1 in n2's events")
			})
		}
		if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
			t.Fatalf("round %d: demo --detach: exit %d\n%s%s", round, r.code, r.stdout, r.stderr)
		}
		eventually(t, 30*time.Second, "n1 back in a quorate view of three", three("n1", "n2", "n3"))
		// A while after the join: n2 and n3 live, in views of three.
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			for i, p := range survivors {
				if !alive(p) {
					t.Fatalf("round %d: n%d (pid %d) was killed", round, i+2, p)
				}
			}
		}
		for _, n := range []string{"n2", "n3"} {
			var evs []ev
			if err := run(n, fmt.Sprintf("events --since %d", last[n]), &evs); err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				switch {
				case (e.Kind == "fence_started" || e.Kind == "node_fenced" || e.Kind == "fence_failed") && e.Target != "n1",
					e.Kind == "view_changed" && (!slices.Contains(e.Members, "n2") || !slices.Contains(e.Members, "n3")),
					e.Kind == "quorum_lost", e.Kind == "resource_stopped", e.Kind == "group_offline":
					t.Errorf("round %d (%s): %s's events: %s target=%s group=%s resource=%s on=%s view=%s members=%v",
						round, map[bool]string{true: "kill -9", false: "SIGTERM"}[kill], n, e.Kind, e.Target, e.Group, e.Resource, e.On, e.View, e.Members)
				}
			}
			if len(evs) > 0 {
				last[n] = evs[len(evs)-1].Seq
			}
		}
		if t.Failed() {
			return
		}
	}
}
