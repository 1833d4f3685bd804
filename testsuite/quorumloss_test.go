package testsuite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLostNodesVotesZero is the recovery of a cluster that lost quorum for
// good as `corral help operations` tells it ("Take the lost nodes' votes
// away"): two of three nodes are killed and stay down; the survivor is not
// quorate; stopped, given `votes = 0` for the lost nodes in its file and
// started again, it forms a primary view alone, fences the lost nodes and
// takes over their group.
func TestLostNodesVotesZero(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.213", 3)
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	all := []string{"n1", "n2", "n3"}
	eventually(t, 30*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
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
	eventually(t, 15*time.Second, "n1 not quorate", func() error {
		st, err := viewOf(t, dir, "n1")
		if err != nil {
			return err
		}
		if st.Quorate {
			return errors.New("n1 is still quorate")
		}
		return nil
	})

	// The operator's action: stop the survivor, take the lost nodes'
	// votes away in its file, start it again.
	if err := syscall.Kill(pids[0], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "n1 stopped", func() error {
		if alive(pids[0]) {
			return errors.New("n1 still runs")
		}
		return nil
	})
	cfgPath := filepath.Join(dir, "n1", "corral.toml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for _, n := range []string{"n2", "n3"} {
		entry := fmt.Sprintf("name = %q\n", n)
		if strings.Count(cfg, entry) != 1 {
			t.Fatalf("no single [[nodes]] entry %q in %s:\n%s", n, cfgPath, cfg)
		}
		cfg = strings.Replace(cfg, entry, entry+"votes = 0\n", 1)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "n1", "corral.log"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	agent := exec.Command(corralBin(t), "agent", "--config", cfgPath)
	agent.Stdout, agent.Stderr = logf, logf
	agent.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = agent.Wait() }() // reaped; demo stop (startDemo's cleanup) stops it by its pid file
	t.Cleanup(func() {
		if alive(agent.Process.Pid) {
			_ = agent.Process.Kill()
		}
	})
	eventually(t, 30*time.Second, "n1 quorate alone", func() error {
		st, err := viewOf(t, dir, "n1")
		if err != nil {
			return err
		}
		if !st.Quorate || len(st.Members) != 1 {
			return fmt.Errorf("n1: quorate %v, members %v", st.Quorate, st.Members)
		}
		return nil
	})
	eventually(t, 30*time.Second, "g taken over by n1", online("n1"))
}
