package testsuite

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQuorumUnblockRealProcesses is the recovery of a cluster that lost
// quorum for good as `corral help operations` tells it: three nodes
// without fence devices; n2 and n3 are killed (kill -9) and stay down;
// n1 is not quorate. `quorum unblock` is refused while n2 and n3 are not
// known to be down; `fence confirm` is refused without --yes and for a
// live member; once both are declared down, `quorum unblock --yes` makes
// n1 primary alone: it runs the group n2 ran, and records
// quorum_unblocked. Then n2 and n3 start again, one at a time, and join
// n1's view: one primary view of three, never a second primary.
func TestQuorumUnblockRealProcesses(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.214", 3, "--fence=false")
	all := []string{"n1", "n2", "n3"}
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	refused := func(node, cmd, want string) {
		t.Helper()
		r := corral(t, dir, "shell", "--socket", filepath.Join(dir, node, "corral.sock"), "-c", cmd)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Fatalf("%s on %s: exit %d, stderr %q; want a refusal saying %q (stdout %q)", cmd, node, r.code, r.stderr, want, r.stdout)
		}
	}
	eventually(t, 30*time.Second, "one quorate view of three", func() error { return sameView(t, dir, all, all, true) })
	var out map[string]any
	for _, cmd := range []string{"group add g --prefer n2", "resource add r dummy --group g"} {
		if err := run("n1", cmd, &out); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
	}
	online := func(owner string) func() error {
		return func() error {
			var gs []groupJSON
			if err := run("n1", "groups", &gs); err != nil {
				return err
			}
			if len(gs) != 1 || gs[0].State != "online" || gs[0].Owner != owner {
				return fmt.Errorf("groups %+v, want g online on %s", gs, owner)
			}
			return nil
		}
	}
	eventually(t, 30*time.Second, "g online on n2", online("n2"))

	pids := demoPIDs(t, dir, 3)
	for _, p := range pids[1:] {
		if err := syscall.Kill(p, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, "n1 alone and not quorate", func() error {
		st, err := viewOf(t, dir, "n1")
		if err != nil {
			return err
		}
		if st.Quorate || !slices.Equal(st.Members, []string{"n1"}) {
			return fmt.Errorf("n1: quorate %v, members %v", st.Quorate, st.Members)
		}
		return nil
	})

	refused("n1", "quorum unblock --yes", "not known to be down")
	refused("n1", "fence confirm n2", "add --yes")
	refused("n1", "fence confirm n1 --yes", "is up")
	for _, n := range []string{"n2", "n3"} {
		var res struct {
			Declared bool `json:"declared"`
		}
		if err := run("n1", "fence confirm "+n+" --yes", &res); err != nil || !res.Declared {
			t.Fatalf("fence confirm %s --yes: %+v, %v; want declared", n, res, err)
		}
	}
	refused("n1", "quorum unblock", "add --yes")
	var plan struct {
		WrittenOff []struct {
			Node string `json:"node"`
			Down bool   `json:"down"`
		} `json:"written_off"`
		Expected int  `json:"expected_votes"`
		Primary  bool `json:"primary"`
	}
	if err := run("n1", "quorum unblock --yes", &plan); err != nil {
		t.Fatalf("quorum unblock --yes: %v", err)
	}
	if len(plan.WrittenOff) != 2 || plan.Expected != 1 {
		t.Fatalf("quorum unblock wrote off %+v, expected votes %d; want n2 and n3, 1", plan.WrittenOff, plan.Expected)
	}
	eventually(t, 15*time.Second, "n1 quorate alone", func() error {
		st, err := viewOf(t, dir, "n1")
		if err != nil {
			return err
		}
		if !st.Quorate || !slices.Equal(st.Members, []string{"n1"}) {
			return fmt.Errorf("n1: quorate %v, members %v", st.Quorate, st.Members)
		}
		return nil
	})
	eventually(t, 30*time.Second, "g taken over by n1", online("n1"))
	eventually(t, 10*time.Second, "quorum_unblocked and node_fenced recorded", func() error {
		var evs []struct {
			Kind       string   `json:"kind"`
			Target     string   `json:"target"`
			Device     string   `json:"device"`
			WrittenOff []string `json:"written_off"`
		}
		if err := run("n1", "events", &evs); err != nil {
			return err
		}
		unblocked, fenced := false, map[string]bool{}
		for _, e := range evs {
			if e.Kind == "quorum_unblocked" && slices.Equal(e.WrittenOff, []string{"n2", "n3"}) {
				unblocked = true
			}
			if e.Kind == "node_fenced" && e.Device == "manual" {
				fenced[e.Target] = true
			}
		}
		if !unblocked || !fenced["n2"] || !fenced["n3"] {
			return fmt.Errorf("quorum_unblocked %v, node_fenced (manual) %v", unblocked, fenced)
		}
		return nil
	})

	// The written-off nodes come back, one at a time, each where it
	// reaches the survivor. Meanwhile no two nodes act as primary from
	// different views.
	watch := func(what string, members []string) {
		t.Helper()
		eventually(t, 40*time.Second, what, func() error {
			quorate := map[string]string{}
			for _, n := range all {
				if st, err := viewOf(t, dir, n); err == nil && st.Quorate {
					quorate[n] = st.View
				}
			}
			views := map[string]bool{}
			for _, v := range quorate {
				views[v] = true
			}
			if len(views) > 1 {
				t.Fatalf("two primaries: %v", quorate)
			}
			return sameView(t, dir, members, members, true)
		})
	}
	for i, n := range []string{"n2", "n3"} {
		startAgent(t, dir, n)
		watch(n+" rejoined", all[:i+2])
	}
	eventually(t, 30*time.Second, "g online", func() error {
		var gs []groupJSON
		if err := run("n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "online" {
			return fmt.Errorf("groups %+v", gs)
		}
		return nil
	})
}

// startAgent starts a demo node's agent again (its own session, its log
// appended), as `corral demo` would; the demo's cleanup stops it by its
// pid file.
func startAgent(t *testing.T, dir, node string) {
	t.Helper()
	cfg := filepath.Join(dir, node, "corral.toml")
	logf, err := os.OpenFile(filepath.Join(dir, node, "corral.log"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	agent := exec.Command(corralBin(t), "agent", "--config", cfg)
	agent.Stdout, agent.Stderr = logf, logf
	agent.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = agent.Wait() }()
	t.Cleanup(func() {
		if alive(agent.Process.Pid) {
			_ = agent.Process.Kill()
		}
	})
}
