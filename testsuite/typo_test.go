package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listenPIDs lists the live `corral whoami` processes listening on addr
// (the net block tells this test's cluster from others on the machine).
func listenPIDs(addr string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if slices.Contains(args, "whoami") && slices.Contains(args, addr) && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestTypoNeverFences (issue 16, "a typo must never fence a node"), on a
// real three-node demo with fencing on (the process fence device) and the
// group web running:
//   - the typo (resource add app process cmd=... --group test1)
//     and an unknown agent, a parameter the agent does not take, are
//     refused with the reason, and nothing of them is written (neither
//     the resource nor the group: one transaction);
//   - a resource that passes the checks but whose agent answers "not
//     configured" (an OCF agent exiting 6 on every action) leaves its
//     group failed with the reason on every node, is tried once, and
//     fences nobody: no fence_started, no node_fenced, every node alive,
//     web on the same owner with the same pid;
//   - group del of a group that keeps a resource is refused; with
//     --with-resources both go, and no row of it is left anywhere.
func TestTypoNeverFences(t *testing.T) {
	const block = "127.122"
	dir := t.TempDir()
	startDemoArgs(t, dir, block, 3, "--web=true")
	g := webOnline(t, dir, "n1", "web", "", 30*time.Second)
	owner := g.Owner
	listen := nodeAddr(block, owner) + ":8080"
	pids := listenPIDs(listen)
	if len(pids) != 1 {
		t.Fatalf("whoami processes on %s: %v, want one", listen, pids)
	}
	nodePIDs := demoPIDs(t, dir, 3)
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	sh := func(cmd string) result {
		return corral(t, dir, "shell", "--socket", filepath.Join(dir, "n1", "corral.sock"), "-c", cmd)
	}

	for _, c := range []struct{ cmd, want string }{
		{"resource add app process cmd='corral serve' --group test1 --monitor 5s", "agent process has no parameter cmd (parameters: command"},
		{"resource add r1 nosuchagent --group g", `no resource agent "nosuchagent"`},
		{"resource add r3 dummy bogus=1 --group g3", "agent dummy has no parameter bogus"},
		{`cdb set /resources/app '{"agent":"process","group":"test1","params":{"cmd":"x"}}'`, "agent process has no parameter cmd"},
		// issue 21: a value that is not JSON, under /resources/
		{`cdb set /resources/x 'not json'`, `/resources/x: bad JSON: `},
	} {
		r := sh(c.cmd)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Fatalf("%s: exit %d, stderr %q; want a refusal saying %q", c.cmd, r.code, r.stderr, c.want)
		}
		if strings.Contains(c.want, "bad JSON") && !strings.Contains(r.stderr, `write one JSON object, e.g. {"agent": "dummy", "group": "web"}`) {
			t.Fatalf("%s: stderr %q does not say what to write", c.cmd, r.stderr)
		}
	}
	// a `lua run` script's corral.set is checked the same way
	luaFile := filepath.Join(dir, "typo.lua")
	code := `local corral = require("corral")
local ok, err = corral.set("/resources/lx", '{"agent": "process", "group": "test1", "params": {"cmd": "x"}}')
print(ok, err)`
	if err := os.WriteFile(luaFile, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := sh("lua run " + luaFile); !strings.Contains(r.stdout+r.stderr, "agent process has no parameter cmd") {
		t.Fatalf("lua run of corral.set with a typo: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	for _, k := range []string{"/resources/app", "/groups/test1", "/resources/r1", "/groups/g", "/resources/r3", "/groups/g3", "/resources/lx", "/resources/x"} {
		if r := sh("cdb get " + k); r.code == 0 {
			t.Fatalf("%s was written by a refused command: %s", k, r.stdout)
		}
	}

	// An OCF agent that says "not configured" (6) to every action: the
	// parameters pass the checks (the ocf wrapper takes any), the start
	// fails as the configuration's failure.
	root := filepath.Join(dir, "ocf")
	if err := os.MkdirAll(filepath.Join(root, "resource.d", "test"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho 'ocf-exit-reason:config missing' >&2\nexit 6\n"
	if err := os.WriteFile(filepath.Join(root, "resource.d", "test", "Broken"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := run("n1", "resource add bad ocf type=Broken provider=test root="+root+" --group test1 --monitor 2s", &out); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		eventually(t, 30*time.Second, "test1 failed on "+n, func() error {
			var gs []groupJSON
			if err := run(n, "groups", &gs); err != nil {
				return err
			}
			for _, g := range gs {
				if g.Name == "test1" && g.State == "failed" && strings.Contains(g.Reason, "configuration error") &&
					strings.Contains(g.Reason, "not configured") {
					return nil
				}
			}
			return fmt.Errorf("groups on %s: %+v", n, gs)
		})
		var rs []struct{ Name, State, Node, Error string }
		if err := run(n, "resources", &rs); err != nil {
			t.Fatal(err)
		}
		ok := false
		for _, r := range rs {
			ok = ok || r.Name == "bad" && r.State == "failed" && strings.Contains(r.Error, "not configured")
		}
		if !ok {
			t.Fatalf("resources on %s: %+v, want bad failed with the reason", n, rs)
		}
	}
	// for 5 s (before the fix a fence came within one), every node's
	// events show no fence, one failure of bad, and web undisturbed
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end) && !t.Failed(); {
		for _, n := range []string{"n1", "n2", "n3"} {
			var evs []map[string]any
			if err := run(n, "events --limit 1000", &evs); err != nil {
				t.Fatal(err)
			}
			failed := 0
			for _, e := range evs {
				switch k, _ := e["kind"].(string); {
				case k == "fence_started" || k == "node_fenced" || k == "fence_failed":
					t.Errorf("%s: a configuration error led to %s: %v", n, k, e)
				case k == "resource_failed" && e["resource"] == "bad":
					failed++
				case (k == "group_moved" || k == "group_offline") && e["group"] == "web":
					t.Errorf("%s: web was disturbed: %v", n, e)
				}
			}
			if failed != 1 {
				t.Errorf("%s: bad failed %d times, want once (never retried elsewhere)", n, failed)
			}
		}
	}
	for i, p := range nodePIDs {
		if !alive(p) {
			t.Errorf("n%d (pid %d) is gone", i+1, p)
		}
	}
	if g := webOnline(t, dir, "n2", "web", "", 5*time.Second); g.Owner != owner {
		t.Errorf("web moved from %s to %s", owner, g.Owner)
	}
	if p := listenPIDs(listen); !slices.Equal(p, pids) {
		t.Errorf("web's whoami on %s: %v, was %v (restarted)", listen, p, pids)
	}
	if t.Failed() {
		t.FailNow()
	}

	// no row survives its group
	if r := sh("group del test1"); r.code == 0 || !strings.Contains(r.stderr, "still has resources bad") {
		t.Fatalf("group del of a group with a resource: exit %d, %q", r.code, r.stderr)
	}
	if r := sh("group del test1 --with-resources"); r.code != 0 {
		t.Fatalf("group del --with-resources: exit %d, %q", r.code, r.stderr)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		eventually(t, 15*time.Second, "only web left on "+n, func() error {
			var gs []groupJSON
			if err := run(n, "groups", &gs); err != nil {
				return err
			}
			if len(gs) != 1 || gs[0].Name != "web" || gs[0].State != "online" || gs[0].Owner != owner {
				return fmt.Errorf("groups on %s: %+v", n, gs)
			}
			return nil
		})
	}
}
