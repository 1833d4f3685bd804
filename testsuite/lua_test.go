package testsuite

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recordHandler appends "seq kind target" to DIR/seen-<node>.txt for each
// event of its kinds; desc is its description (so an edit shows).
func recordHandler(dir, desc string) string {
	return fmt.Sprintf(`local fs = require("fs")
local M = {}
function M.meta()
  return { name = "record", description = %q,
    events = { "view_changed", "node_left", "node_paused", "node_resumed" } }
end
function M.handle(e)
  local file = %q .. "/seen-" .. e.node .. ".txt"
  local old = fs.read(file) or ""
  return fs.write(file, old .. e.seq .. " " .. e.kind .. " " .. (e.target or "-") .. "\n")
end
return M
`, desc, dir)
}

// seen reads what the record handler wrote on node.
func seen(t *testing.T, dir, node string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "seen-"+node+".txt"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestLuaOnDemo runs the Lua side of a 3-node demo whose [lua] paths hold
// a handler: agents lists the scripts with their metadata, lua evaluates
// on the node, reload picks up an edit and refuses a broken file (naming
// its file and line) while keeping the old script, the rolling
// maintenance example runs with lua run, and the handler sees the events
// in order.
func TestLuaOnDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(filepath.Join(scripts, "handler"), 0o755); err != nil {
		t.Fatal(err)
	}
	handler := filepath.Join(scripts, "handler", "record.lua")
	if err := os.WriteFile(handler, []byte(recordHandler(dir, "records events v1")), 0o644); err != nil {
		t.Fatal(err)
	}
	// The demo writes its configs on the first start; give them [lua] and
	// start again (the nodes keep their data).
	startDemo(t, dir, "127.92", 3)
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	for k := 1; k <= 3; k++ {
		cfg := filepath.Join(dir, fmt.Sprintf("n%d", k), "corral.toml")
		f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(f, "\n[lua]\npaths = [%q]\ngrant = [%q]\n", scripts, scripts)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach again: %d\n%s%s", r.code, r.stdout, r.stderr)
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

	// agents --json: the shipped scripts and ours, with their metadata.
	type meta struct {
		Kind        string   `json:"kind"`
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Events      []string `json:"events"`
		File        string   `json:"file"`
		Granted     bool     `json:"granted"`
		Parameters  []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Required bool   `json:"required"`
		} `json:"parameters"`
	}
	agents := func() map[string]meta {
		t.Helper()
		var ms []meta
		if err := shellJSON(t, dir, "n1", "agents", &ms); err != nil {
			t.Fatal(err)
		}
		out := map[string]meta{}
		for _, m := range ms {
			out[m.Kind+"/"+m.Name] = m
		}
		return out
	}
	ms := agents()
	for _, want := range []string{"resource/dummy", "resource/process", "resource/ocf", "resource/tcp_check",
		"resource/http_check", "resource/ipaddr", "fence/dummy", "policy/default", "handler/log", "handler/record"} {
		if m, ok := ms[want]; !ok || m.Description == "" {
			t.Errorf("agents --json: %s missing or without a description: %+v", want, m)
		}
	}
	if p := ms["resource/process"]; len(p.Parameters) == 0 || p.File != "agents/resource/process.lua" || !p.Granted {
		t.Errorf("resource/process: %+v", p)
	}
	if r := ms["handler/record"]; r.File != handler || !r.Granted || r.Description != "records events v1" || len(r.Events) != 4 {
		t.Errorf("handler/record: %+v", r)
	}

	// lua evaluates in the node's sandbox.
	if r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n2", "corral.sock"), "-c", "lua 1+1"); r.code != 0 || r.stdout != "2\n" {
		t.Fatalf("lua 1+1: %d %q %q", r.code, r.stdout, r.stderr)
	}
	eventually(t, 30*time.Second, "lua on n2 sees a view of 3", func() error {
		r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n2", "corral.sock"), "-c", `lua corral.status().node .. " " .. #corral.status().members`)
		if r.code != 0 || r.stdout != "n2 3\n" {
			return fmt.Errorf("lua corral.status(): %d %q %q", r.code, r.stdout, r.stderr)
		}
		return nil
	})

	// ... and reads the cluster but does not change it (a /resources/...
	// entry with the process agent would run a command as root): the
	// error names the shell's commands and lua run.
	if r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n2", "corral.sock"), "-c",
		`lua corral.set("/resources/evil", '{"agent": "process", "params": {"command": "touch /tmp/evil"}}')`); r.code == 0 ||
		!strings.Contains(r.stderr, "does not change it") || !strings.Contains(r.stderr, "lua run FILE") {
		t.Errorf("lua corral.set: %d %q %q; want refused, naming lua run FILE", r.code, r.stdout, r.stderr)
	}
	if r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n2", "corral.sock"), "-c", "cdb get /resources/evil"); r.code == 0 {
		t.Errorf("/resources/evil was written by lua: %q", r.stdout)
	}

	// The Lua REPL in a real terminal.
	luaREPLInTerminal(t, dir)

	// reload picks up an edit ...
	if err := os.WriteFile(handler, []byte(recordHandler(dir, "records events v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n1", "corral.sock"), "-c", "reload"); r.code != 0 || !strings.Contains(r.stdout, "changed handler/record") {
		t.Fatalf("reload: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if d := agents()["handler/record"].Description; d != "records events v2" {
		t.Fatalf("after reload: %q", d)
	}
	// ... and refuses a broken file, naming it and its line, keeping the old.
	broken := filepath.Join(scripts, "handler", "broken.lua")
	if err := os.WriteFile(broken, []byte("local M = {}\nfunction M.meta()\n  return { name = \"broken\" \nend\nreturn M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n1", "corral.sock"), "-c", "reload")
	if r.code != 1 || !strings.Contains(r.stderr, broken+":4") {
		t.Fatalf("broken reload: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if m := agents(); m["handler/record"].Description != "records events v2" {
		t.Fatalf("the old scripts are not kept after a failed reload: %+v", m["handler/record"])
	}
	if err := os.Remove(broken); err != nil {
		t.Fatal(err)
	}

	// lua run: the rolling maintenance example pauses, moves the node's
	// groups away, runs the command on and resumes every node in turn. A
	// group db (a dummy resource) preferring n1 is handed over on the way.
	sock1 := filepath.Join(dir, "n1", "corral.sock")
	for _, c := range []string{"group add db --prefer n1", "resource add d1 dummy --group db --monitor 1s"} {
		// n1 may be between views after the pauses above: retry while it
		// says there is no quorum yet.
		eventually(t, 20*time.Second, c, func() error {
			if r := corral(t, dir, "shell", "--socket", sock1, "-c", c); r.code != 0 {
				return fmt.Errorf("%d %s%s", r.code, r.stdout, r.stderr)
			}
			return nil
		})
	}
	dbOn := func(want string) func() error {
		return func() error {
			var gs []struct{ Name, State, Owner string }
			if err := shellJSON(t, dir, "n2", "groups", &gs); err != nil {
				return err
			}
			if len(gs) != 1 || gs[0].State != "online" || (want != "" && gs[0].Owner != want) {
				return fmt.Errorf("groups %+v, want db online on %q", gs, want)
			}
			return nil
		}
	}
	eventually(t, 20*time.Second, "db online on n1", dbOn("n1"))
	example, err := filepath.Abs("../examples/lua/automation/rolling_maintenance.lua")
	if err != nil {
		t.Fatal(err)
	}
	r = corral(t, dir, "shell", "--socket", sock1, "-c", "lua run "+example+" 'echo maintained $NODE' 60")
	if r.code != 0 {
		t.Fatalf("lua run rolling_maintenance: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"maintenance of n1: moving db away", "maintained n1", "maintenance of n2: done", "maintained n3", "maintenance of n3: done", "3 nodes done"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lua run output lacks %q:\n%s", want, r.stdout)
		}
	}
	eventually(t, 20*time.Second, "db online after the maintenance", dbOn(""))

	// The handler saw every node paused and resumed, then n3 leave, in
	// the order of n1's event stream.
	pids := demoPIDs(t, dir, 3)
	if err := syscall.Kill(pids[2], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "n1's handler sees n3 leave", func() error {
		for _, l := range seen(t, dir, "n1") {
			if strings.HasSuffix(l, " node_left n3") {
				return nil
			}
		}
		return fmt.Errorf("seen: %v", seen(t, dir, "n1"))
	})
	got := seen(t, dir, "n1")
	var evs []struct {
		Seq    uint64 `json:"seq"`
		Kind   string `json:"kind"`
		Target string `json:"target"`
	}
	if err := shellJSON(t, dir, "n1", "events --since 0", &evs); err != nil {
		t.Fatal(err)
	}
	last, _ := strconv.ParseUint(strings.Fields(got[len(got)-1])[0], 10, 64)
	first, _ := strconv.ParseUint(strings.Fields(got[0])[0], 10, 64)
	var want []string
	for _, e := range evs {
		switch e.Kind {
		case "view_changed", "node_left", "node_paused", "node_resumed":
			if e.Seq >= first && e.Seq <= last {
				target := e.Target
				if target == "" {
					target = "-"
				}
				want = append(want, fmt.Sprintf("%d %s %s", e.Seq, e.Kind, target))
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("n1's handler saw\n%s\nn1's stream has\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{"node_paused n1", "node_resumed n1", "node_paused n2", "node_paused n3", "node_resumed n3"} {
		if !strings.Contains(strings.Join(got, "\n"), w) {
			t.Errorf("n1's handler did not see %s:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

// TestCheckConfigLoadsScripts: check-config loads the [lua] paths scripts
// as the node would, so a broken one is reported with its file and line.
func TestCheckConfigLoadsScripts(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../examples/three-node/n1.toml")
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n") // no key ships with the examples
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	scripts := filepath.Join(dir, "scripts")
	if err := os.MkdirAll(filepath.Join(scripts, "handler"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "n1.toml")
	if err := os.WriteFile(path, []byte(string(src)+fmt.Sprintf("\n[lua]\npaths = [%q]\n", scripts)), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "check-config", path); r.code != 0 {
		t.Fatalf("check-config with an empty scripts dir: %d %s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(scripts, "handler", "bad.lua"), []byte("local M = {}\nfunction M.meta() return {} end\nreturn M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := corral(t, dir, "check-config", path)
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(scripts, "handler", "bad.lua")+":3") || !strings.Contains(r.stderr, `no function "handle"`) {
		t.Fatalf("check-config with a broken handler: %d %q", r.code, r.stderr)
	}
}

// luaREPLInTerminal types into `lua` in the interactive shell on n1 (tmux):
// an expression, an unfinished line that continues, an error, Ctrl-D back
// to the shell.
func luaREPLInTerminal(t *testing.T, dir string) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Log("tmux is not installed (.ci/run installs it): the Lua REPL is not tried in a terminal")
		return
	}
	m := &tmux{t: t, session: fmt.Sprintf("corral-lua-%d", os.Getpid())}
	home := t.TempDir()
	shellCmd := fmt.Sprintf("env HOME=%s XDG_CONFIG_HOME= LANG=C.UTF-8 TERM=xterm %s shell --socket %s",
		home, corralBin(t), filepath.Join(dir, "n1", "corral.sock"))
	if out, err := m.run("new-session", "-d", "-s", m.session, "-x", "200", "-y", "50", shellCmd); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = m.run("kill-server") })
	m.waitScreen("the prompt", func(string) bool { return m.atPrompt() && strings.HasPrefix(m.lastLine(), "demo n1 ") })
	m.keys("lua", "Enter")
	m.waitScreen("the Lua prompt", func(string) bool { return strings.TrimSpace(m.lastLine()) == "lua>" })
	if !strings.Contains(m.screen(), "one VM for this session: globals carry over") {
		t.Errorf("the REPL's banner does not say that globals carry over:\n%s", m.screen())
	}
	m.keys("corral.status().node .. '!'", "Enter")
	m.waitScreen("the answer", func(s string) bool {
		return strings.Contains(s, "\nn1!\n") && strings.TrimSpace(m.lastLine()) == "lua>"
	})
	m.keys("function f()", "Enter")
	m.waitScreen("the continuation prompt", func(string) bool { return strings.TrimSpace(m.lastLine()) == "lua>>" })
	m.keys("return 40 end return f() + 2", "Enter")
	m.waitScreen("the function's value", func(s string) bool { return strings.Contains(s, "\n42\n") && strings.TrimSpace(m.lastLine()) == "lua>" })
	m.keys("error('no such thing')", "Enter")
	m.waitScreen("the error", func(s string) bool {
		return strings.Contains(s, "no such thing") && strings.TrimSpace(m.lastLine()) == "lua>"
	})
	// One VM for the session: a global of one line is there on the next.
	m.keys("answer = 6 * 7", "Enter")
	m.waitScreen("the Lua prompt", func(string) bool { return strings.TrimSpace(m.lastLine()) == "lua>" })
	m.keys("'got ' .. answer", "Enter")
	m.waitScreen("the global of the line before", func(s string) bool {
		return strings.Contains(s, "\ngot 42\n") && strings.TrimSpace(m.lastLine()) == "lua>"
	})
	m.keys("C-d")
	m.waitScreen("back in the shell", func(string) bool { return m.atPrompt() && strings.HasPrefix(m.lastLine(), "demo n1 ") })
	// A y/N answer is not a command: it stays out of the history.
	m.keys("fence n3", "Enter")
	m.waitScreen("the question", func(string) bool { return strings.HasSuffix(strings.TrimSpace(m.lastLine()), "[y/N]") })
	m.keys("n", "Enter")
	m.waitScreen("not fenced", func(s string) bool { return strings.Contains(s, "\nnot fenced\n") && m.atPrompt() })
	hist := filepath.Join(home, ".config", "corral", "history")
	eventually(t, 5*time.Second, "the history of shell commands only", func() error {
		b, err := os.ReadFile(hist)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if strings.Join(lines, "|") != "lua|fence n3" {
			return fmt.Errorf("history %q, want the shell's commands only: lua, fence n3", lines)
		}
		return nil
	})
	m.keys("C-d")
	eventually(t, 5*time.Second, "the shell exits on Ctrl-D", func() error {
		if m.alive() {
			return fmt.Errorf("still running; screen:\n%s", m.screen())
		}
		return nil
	})
}
