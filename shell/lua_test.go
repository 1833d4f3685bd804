package shell

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/lua"
)

// luaFake is a fake node with a real Lua host that loads dir.
func luaFake(t *testing.T) (*apitest.Node, string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "handler"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeHandler(t, dir, "v1")
	h, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	f := apitest.New()
	f.LuaHost = h
	f.LuaStat = node.LuaStats{PoolSize: 2, Queue: 4, Timeout: "5s", Dropped: 3,
		Handlers: []node.HandlerStats{{Name: "note", Calls: 4, Timeouts: 1, LastError: "stopped at its deadline"},
			{Name: "stuck", Calls: 3, Timeouts: 3, Dropped: 2, Disabled: true}}}
	return f, dir, serve(t, f)
}

func writeHandler(t *testing.T, dir, version string) {
	t.Helper()
	code := `local M = {}
function M.meta() return { name = "note", description = "notes ` + version + `", events = { "node_left" } } end
function M.handle(e) return true end
return M
`
	if err := os.WriteFile(filepath.Join(dir, "handler", "note.lua"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAgentsCommand(t *testing.T) {
	_, dir, sock := luaFake(t)
	code, out, errs := runMain(t, "--socket", sock, "-c", "agents --json")
	var metas []lua.Meta
	if code != 0 || json.Unmarshal([]byte(out), &metas) != nil {
		t.Fatalf("agents --json: %d %q %q", code, out, errs)
	}
	var names []string
	for _, m := range metas {
		names = append(names, string(m.Kind)+"/"+m.Name)
	}
	for _, want := range []string{"resource/dummy", "resource/process", "policy/default", "handler/log", "handler/note"} {
		if !slices.Contains(names, want) {
			t.Errorf("agents --json lacks %s: %v", want, names)
		}
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "agents handler")
	if code != 0 || !strings.Contains(out, "notes v1") || !strings.Contains(out, "events:node_left") ||
		!strings.Contains(out, filepath.Join(dir, "handler", "note.lua")) || strings.Contains(out, "resource") ||
		!strings.Contains(out, "3 dropped") || !strings.Contains(out, "handler note: 4 calls, 0 failed, 1 past the deadline") ||
		!strings.Contains(out, "handler stuck: DISABLED") || !strings.Contains(out, "handler stuck: 2 events dropped") ||
		strings.Contains(out, "handler note: DISABLED") {
		t.Fatalf("agents handler: %d %q %q", code, out, errs)
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "agents resource")
	if code != 0 || !strings.Contains(out, "dummy") || !strings.Contains(out, "built in") {
		t.Fatalf("agents resource: %d %q %q", code, out, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "agents widgets"); code != 1 || !strings.Contains(errs, "no script kind") {
		t.Fatalf("agents widgets: %d %q", code, errs)
	}
}

func TestLuaEvalCommand(t *testing.T) {
	_, _, sock := luaFake(t)
	if code, out, errs := runMain(t, "--socket", sock, "-c", "lua 1+1"); code != 0 || out != "2\n" {
		t.Fatalf("lua 1+1: %d %q %q", code, out, errs)
	}
	// The code is passed as typed: quotes stay.
	if code, out, errs := runMain(t, "--socket", sock, "-c", `lua print("a  b") return 'c', #"xy"`); code != 0 || out != "a  b\nc\t2\n" {
		t.Fatalf("lua with quotes: %d %q %q", code, out, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", `lua error("boom")`); code != 1 || !strings.Contains(errs, "boom") {
		t.Fatalf("lua error: %d %q", code, errs)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "lua"); code != 2 || !strings.Contains(errs, "interactive shell") {
		t.Fatalf("lua without code, not interactive: %d %q", code, errs)
	}
}

func TestReloadCommand(t *testing.T) {
	_, dir, sock := luaFake(t)
	if code, out, errs := runMain(t, "--socket", sock, "-c", "reload"); code != 0 || !strings.Contains(out, "reloaded: nothing changed") {
		t.Fatalf("reload: %d %q %q", code, out, errs)
	}
	writeHandler(t, dir, "v2")
	if code, out, errs := runMain(t, "--socket", sock, "-c", "reload"); code != 0 || !strings.Contains(out, "reloaded: changed handler/note") {
		t.Fatalf("reload after an edit: %d %q %q", code, out, errs)
	}
	file := filepath.Join(dir, "handler", "note.lua")
	if err := os.WriteFile(file, []byte("local M = {}\nfunction M.meta()\n  return {\nend\nreturn M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runMain(t, "--socket", sock, "-c", "reload")
	if code != 1 || !strings.Contains(errs, file+":") || !strings.Contains(errs, "stay in use") {
		t.Fatalf("broken reload: %d %q %q", code, out, errs)
	}
	if _, out, _ := runMain(t, "--socket", sock, "-c", "agents handler"); !strings.Contains(out, "notes v2") {
		t.Fatalf("the old script is not kept: %q", out)
	}
}

func TestLuaRunCommand(t *testing.T) {
	f, dir, sock := luaFake(t)
	f.Emit(apitypes.Event{Kind: "view_changed"})
	f.Emit(apitypes.Event{Kind: "node_paused", Target: "n2"})
	script := filepath.Join(dir, "auto.lua")
	err := os.WriteFile(script, []byte(`local corral = require("corral")
local st = corral.status()
print("cluster " .. st.cluster .. " coordinator " .. st.coordinator .. " groups " .. tostring(st.groups))
assert(corral.pause(arg[1]))
assert(corral.set("/auto/done", "yes"))
print("get " .. corral.get("/auto/done") .. " " .. tostring(corral.get("/auto/none")))
for k, v in pairs(corral.list("/auto")) do print("list " .. k .. "=" .. v) end
local e = assert(corral.wait_event{ kinds = { "node_paused" }, since = 1, timeout = 5 })
print("event " .. e.seq .. " " .. e.kind .. " " .. e.target)
local none, why = corral.wait_event{ kinds = { "node_left" }, timeout = 0.2 }
print("wait " .. tostring(none) .. " " .. why)
local ok, err = corral.move("web", "n3")
print("move " .. tostring(ok) .. " " .. tostring(err))
local ok2, err2 = corral.resume(arg[1])
return "done " .. arg[1]
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runMain(t, "--socket", sock, "-c", "lua run "+script+" n2")
	if code != 0 {
		t.Fatalf("lua run: %d %q %q", code, out, errs)
	}
	for _, want := range []string{
		"cluster demo coordinator n1 groups nil\n", "get yes nil\n", "list /auto/done=yes\n",
		"event 2 node_paused n2\n", "wait nil timeout\n", "move nil", "done n2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lua run output lacks %q:\n%s", want, out)
		}
	}
	if strings.Join(f.Actions, ",") != "pause n2,resume n2" {
		t.Errorf("actions %v", f.Actions)
	}
	if code, _, errs := runMain(t, "--socket", sock, "-c", "lua run "+filepath.Join(dir, "nope.lua")); code != 1 || !strings.Contains(errs, "nope.lua") {
		t.Errorf("missing file: %d %q", code, errs)
	}
}

func TestLuaREPL(t *testing.T) {
	_, _, sock := luaFake(t)
	var out strings.Builder
	s := &Shell{Client: NewClient(sock), Stdout: &out}
	lines := []string{"1+1", "function f()", "  return 7 end return f()", `error("boom")`, "", "'a' .. 'b'", "x = 41", "x + 1, f()"}
	var prompts []string
	s.readLine = func(p string) (string, error) {
		prompts = append(prompts, p)
		if len(lines) == 0 {
			return "", io.EOF
		}
		l := lines[0]
		lines = lines[1:]
		return l, nil
	}
	if err := s.Exec(t.Context(), "lua"); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// One VM for the session: x and f of earlier lines are there.
	for _, want := range []string{"2\n", "7\n", "error: ", "boom", "ab\n", "42\t7\n", "globals carry over"} {
		if !strings.Contains(got, want) {
			t.Errorf("REPL output lacks %q:\n%s", want, got)
		}
	}
	if strings.Join(prompts, "|") != "lua> |lua> |lua>> |lua> |lua> |lua> |lua> |lua> |lua> " {
		t.Errorf("prompts %q (an unfinished line continues with lua>>)", prompts)
	}
}

// TestLuaRunSeesGroups: where the node serves /v1/groups, corral.status()
// in lua run carries them (the rolling maintenance script reads them).
func TestLuaRunSeesGroups(t *testing.T) {
	f := apitest.New()
	sock := filepath.Join(t.TempDir(), "corral.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	h := api.New(f)
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/groups", func(w http.ResponseWriter, _ *http.Request) {
		api.WriteJSON(w, http.StatusOK, []map[string]string{{"name": "web", "owner": "n2", "state": "online"}})
	})
	mux.Handle("/", h)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { h.Close(); srv.Close() })
	script := filepath.Join(t.TempDir(), "groups.lua")
	if err := os.WriteFile(script, []byte(`local corral = require("corral")
local g = corral.status().groups[1]
return g.name .. "@" .. g.owner`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runMain(t, "--socket", sock, "-c", "lua run "+script); code != 0 || out != "web@n2\n" {
		t.Fatalf("lua run: %d %q %q", code, out, errs)
	}
}

func TestLuaCompletion(t *testing.T) {
	sock := serve(t, apitest.New())
	c := &completer{s: &Shell{Client: NewClient(sock)}}
	dir := t.TempDir()
	for _, f := range []string{"auto.lua", "auto.txt", "sub/x.lua"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for line, want := range map[string]string{
		"lua ":                  "run ",
		"agents ":               "fence  handler  policy  resource ",
		"lua run " + dir + "/a": "uto.lua ",
		"lua run " + dir + "/s": "ub/",
	} {
		got, _ := c.Do([]rune(line), len([]rune(line)))
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		slices.Sort(gs)
		if strings.Join(gs, " ") != want {
			t.Errorf("complete %q: %q, want %q", line, strings.Join(gs, " "), want)
		}
	}
}

// TestAgentsShowsBroken: a file of [lua] paths that did not load shows in
// `agents` as broken, with the error's file and line, in the table and in
// --json.
func TestAgentsShowsBroken(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "resource"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resource", "bad.lua"), []byte("local M = {}\n\nfunction M.meta(\nreturn M\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 1, SkipBroken: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	f := apitest.New()
	f.LuaHost = h
	sock := serve(t, f)
	code, out, errs := runMain(t, "--socket", sock, "-c", "agents resource")
	if code != 0 || !strings.Contains(out, "BROKEN") || !strings.Contains(out, "bad.lua:4: syntax error") {
		t.Fatalf("agents resource: %d %q %q", code, out, errs)
	}
	code, out, errs = runMain(t, "--socket", sock, "-c", "agents --json")
	var metas []lua.Meta
	if code != 0 || json.Unmarshal([]byte(out), &metas) != nil {
		t.Fatalf("agents --json: %d %q %q", code, out, errs)
	}
	found := false
	for _, m := range metas {
		if m.Name == "bad" && strings.Contains(m.Broken, "bad.lua:4") {
			found = true
		}
	}
	if !found {
		t.Fatalf("agents --json lacks the broken script: %s", out)
	}
}
