package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBrokenLuaOnDemo: a broken file under [lua] paths does not stop the
// demo's nodes: they start, log the file and line, `agents` shows it
// BROKEN, and a group whose policy it is runs under the default policy
// with explain saying so.
func TestBrokenLuaOnDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	for file, code := range map[string]string{
		"resource/unused.lua": "local M = {}\n\nfunction M.meta(\nreturn M\n",
		"policy/mine.lua":     "local M = {}\nfunction M.meta() return { description = 'x' } end\nreturn M\n",
	} {
		p := filepath.Join(scripts, file)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, code)
	}
	startDemo(t, dir, "127.139", 3)
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	for k := 1; k <= 3; k++ {
		cfg := filepath.Join(dir, fmt.Sprintf("n%d", k), "corral.toml")
		f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(f, "\n[lua]\npaths = [%q]\n", scripts)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo with a broken script did not start: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 30*time.Second, "n1 reaches n2 and n3", func() error {
		st, err := shellStatus(t, dir, "n1")
		if err != nil {
			return err
		}
		if !st.reaches("n2") || !st.reaches("n3") {
			return fmt.Errorf("n1 sees %+v", st.Nodes)
		}
		return nil
	})
	unused := filepath.Join(scripts, "resource", "unused.lua") + ":4: syntax error"
	log, err := os.ReadFile(filepath.Join(dir, "n1", "corral.log"))
	if err != nil || !strings.Contains(string(log), unused) {
		t.Fatalf("n1's log does not name %s (%v)", unused, err)
	}
	r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n1", "corral.sock"), "-c", "agents resource")
	if r.code != 0 || !strings.Contains(r.stdout, "BROKEN") || !strings.Contains(r.stdout, unused) {
		t.Fatalf("agents resource: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	run := func(node, cmd string, v any) error { return shellJSON(t, dir, node, cmd, v) }
	var out map[string]any
	eventually(t, 20*time.Second, "group add on n1", func() error { return run("n1", "group add g1 --policy mine", &out) })
	if err := run("n1", "resource add r1 dummy --group g1 --monitor 1s", &out); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "g1 online under the default policy", func() error {
		var gs []groupJSON
		if err := run("n1", "groups", &gs); err != nil {
			return err
		}
		if len(gs) != 1 || gs[0].State != "online" {
			return fmt.Errorf("groups: %+v", gs)
		}
		return nil
	})
	var ex struct{ Text string }
	if err := run("n1", "explain g1", &ex); err != nil || !strings.Contains(ex.Text, "policy mine is broken") ||
		!strings.Contains(ex.Text, "default policy decides") {
		t.Fatalf("explain g1 does not say the policy is broken and the default decides: %v\n%s", err, ex.Text)
	}
}
