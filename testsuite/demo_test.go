package testsuite

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoStatus is the part of `shell -c status --json` these tests read.
type demoStatus struct {
	Cluster string `json:"cluster"`
	Node    string `json:"node"`
	Boot    uint32 `json:"boot"`
	Nodes   []struct {
		Name      string `json:"name"`
		Reachable bool   `json:"reachable"`
	} `json:"nodes"`
}

func (s demoStatus) reaches(name string) bool {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n.Reachable
		}
	}
	return false
}

// demoPIDs reads every node's pid file (0 when missing).
func demoPIDs(t *testing.T, dir string, n int) []int {
	t.Helper()
	pids := make([]int, n)
	for k := 1; k <= n; k++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d", k), "corral.pid"))
		if err != nil {
			continue
		}
		pids[k-1], _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	return pids
}

// alive reports whether pid is a live process (zombies count as dead).
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// startDemo runs `corral demo --detach --web=false` (the test sets up its
// own groups; extra flags such as --fence=false follow) and registers a
// cleanup that stops the cluster and kills whatever is left, by pid.
func startDemo(t *testing.T, dir, netBlock string, n int, extra ...string) result {
	t.Helper()
	return startDemoArgs(t, dir, netBlock, n, append([]string{"--web=false"}, extra...)...)
}

// startDemoArgs is startDemo with the demo's own flags (say --web=true).
func startDemoArgs(t *testing.T, dir, netBlock string, n int, args ...string) result {
	t.Helper()
	seen := map[int]bool{}
	t.Cleanup(func() {
		for _, p := range demoPIDs(t, dir, n) {
			seen[p] = true
		}
		if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
			t.Errorf("cleanup: demo stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for p := range seen {
			// demo stop counts a process as gone once its command line is
			// empty, which it is while the kernel still tears it down.
			for end := time.Now().Add(2 * time.Second); alive(p) && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(p) {
				t.Errorf("cleanup: pid %d survived demo stop; killing it", p)
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	r := corral(t, dir, append([]string{"demo", "--detach", "--nodes", strconv.Itoa(n), "--dir", dir, "--net", netBlock}, args...)...)
	for _, p := range demoPIDs(t, dir, n) {
		seen[p] = true
	}
	if r.code != 0 {
		t.Fatalf("demo --detach: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	return r
}

func shellStatus(t *testing.T, dir, node string) (demoStatus, error) {
	t.Helper()
	sock := filepath.Join(dir, node, "corral.sock")
	r := corral(t, dir, "shell", "--socket", sock, "-c", "status", "--json")
	if r.code != 0 {
		return demoStatus{}, fmt.Errorf("shell -c status --json on %s: exit %d: %s", node, r.code, r.stderr)
	}
	var st demoStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		return demoStatus{}, fmt.Errorf("status of %s is not JSON: %v\n%s", node, err, r.stdout)
	}
	return st, nil
}

// eventually polls cond until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDemo is the operator's first session: start the local cluster, look
// at it, lose a node, start the demo again, stop it.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	const n = 3
	r := startDemo(t, dir, "127.77", n)
	for _, want := range []string{"n1", "127.77.0.1", "corral.sock", "shell", "demo stop"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo summary lacks %q:\n%s", want, r.stdout)
		}
	}
	pids := demoPIDs(t, dir, n)
	names := []string{"n1", "n2", "n3"}
	for i, p := range pids {
		if !alive(p) {
			t.Fatalf("%s: pid %d (from its pid file) is not alive", names[i], p)
		}
	}
	boots := map[string]uint32{}
	for _, name := range names {
		st, err := shellStatus(t, dir, name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Cluster != "demo" || st.Node != name || len(st.Nodes) != n {
			t.Fatalf("%s: status %+v: want cluster demo, node %s, %d nodes", name, st, name, n)
		}
		boots[name] = st.Boot
		if fi, err := os.Stat(filepath.Join(dir, name, "corral.sock")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: admin socket mode: %v %v, want 0600", name, fi.Mode(), err)
		}
	}
	reachable := func(from string, want map[string]bool) func() error {
		return func() error {
			st, err := shellStatus(t, dir, from)
			if err != nil {
				return err
			}
			for peer, w := range want {
				if st.reaches(peer) != w {
					return fmt.Errorf("%s sees %s reachable=%v, want %v", from, peer, !w, w)
				}
			}
			return nil
		}
	}
	for _, name := range names {
		want := map[string]bool{}
		for _, o := range names {
			if o != name {
				want[o] = true
			}
		}
		eventually(t, 10*time.Second, name+" reaches the others", reachable(name, want))
	}

	// every node a member of one quorate view first, so that n2 leaves a
	// primary view uncleanly and is fenced (killed before it was a member,
	// it needs no fence)
	for _, name := range names {
		eventually(t, 15*time.Second, name+" in a quorate view of all", func() error {
			var st struct {
				Members []string `json:"members"`
				Quorate bool     `json:"quorate"`
			}
			if err := shellJSON(t, dir, name, "status", &st); err != nil {
				return err
			}
			if len(st.Members) != n || !st.Quorate {
				return fmt.Errorf("%s: members %v quorate %v", name, st.Members, st.Quorate)
			}
			return nil
		})
	}

	// kill -9 n2: the others see it go.
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "n2 killed: its pid gone", func() error {
		if alive(pids[1]) {
			return fmt.Errorf("pid %d alive", pids[1])
		}
		return nil
	})
	eventually(t, 8*time.Second, "n1 sees n2 unreachable", reachable("n1", map[string]bool{"n2": false, "n3": true}))
	eventually(t, 8*time.Second, "n3 sees n2 unreachable", reachable("n3", map[string]bool{"n2": false, "n1": true}))
	// The demo fences a node that left uncleanly (its process device, by
	// the pid file): start n2 again only once n1 saw that fence confirmed,
	// else the fence begun for the dead incarnation would kill the new
	// one, as a power switch would.
	eventually(t, 15*time.Second, "n1 saw n2 fenced", func() error {
		var evs []fenceEventJSON
		if err := shellJSON(t, dir, "n1", "events", &evs); err != nil {
			return err
		}
		for _, e := range evs {
			if e.Kind == "node_fenced" && e.Target == "n2" {
				return nil
			}
		}
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind+":"+e.Target)
		}
		return fmt.Errorf("no node_fenced for n2 in n1's events %v", kinds)
	})

	// demo again: only n2 starts, with its data (a higher boot id).
	r = corral(t, dir, "demo", "--detach", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("second demo --detach: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	again := demoPIDs(t, dir, n)
	if again[0] != pids[0] || again[2] != pids[2] {
		t.Fatalf("live nodes were restarted: pids %v, then %v", pids, again)
	}
	if again[1] == pids[1] || !alive(again[1]) {
		t.Fatalf("n2 not restarted: pids %v, then %v", pids, again)
	}
	if !strings.Contains(r.stdout, "already running") || !strings.Contains(r.stdout, "started") {
		t.Errorf("second summary does not say what it did:\n%s", r.stdout)
	}
	st, err := shellStatus(t, dir, "n2")
	if err != nil {
		t.Fatal(err)
	}
	if st.Boot <= boots["n2"] {
		t.Fatalf("n2 restarted with boot %d, was %d: want it to grow", st.Boot, boots["n2"])
	}
	eventually(t, 10*time.Second, "n1 reaches the new n2", reachable("n1", map[string]bool{"n2": true, "n3": true}))

	// demo stop: every process gone, pid files removed.
	r = corral(t, dir, "demo", "stop", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("demo stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for i, p := range again {
		if alive(p) {
			t.Errorf("%s: pid %d alive after demo stop", names[i], p)
		}
		for _, f := range []string{"corral.pid", "corral.sock"} {
			if _, err := os.Stat(filepath.Join(dir, names[i], f)); err == nil {
				t.Errorf("%s: %s left after demo stop", names[i], f)
			}
		}
	}
	if r = corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 || !strings.Contains(r.stdout, "nothing was running") {
		t.Errorf("second demo stop: exit %d, stdout %q", r.code, r.stdout)
	}
}

// TestDemoAgentRefusesSecond: an agent whose socket a live agent serves
// refuses to start and says why; the live one keeps its socket.
func TestDemoAgentRefusesSecond(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.76", 1)
	r := corral(t, dir, "agent", "--config", filepath.Join(dir, "n1", "corral.toml"))
	if r.code != 1 || !strings.Contains(r.stderr, "already serving") {
		t.Fatalf("second agent: exit %d, stderr %q", r.code, r.stderr)
	}
	if _, err := shellStatus(t, dir, "n1"); err != nil {
		t.Fatalf("the first agent lost its socket: %v", err)
	}
}

func TestDemoAgentBadConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(path, []byte("cluster = \"x\"\nprot = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := corral(t, dir, "agent", "--config", path)
	if r.code != 1 || !strings.Contains(r.stderr, "bad.toml:2: prot: unknown key") {
		t.Fatalf("agent with a bad config: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestDemoShellUnreachable(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "none.sock")
	r := corral(t, dir, "shell", "--socket", sock, "-c", "status")
	if r.code != 1 || !strings.Contains(r.stderr, "cannot reach the node at "+sock) || !strings.Contains(r.stderr, "corral demo") {
		t.Fatalf("shell without a node: exit %d, stderr %q", r.code, r.stderr)
	}
}
