package lua_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

// writeScripts makes a [lua] paths directory with the given files
// ("resource/x.lua" -> code) and returns it.
func writeScripts(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, code := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// agent is a resource agent whose monitor runs body.
func agent(name, body string) string {
	return `local M = {}
function M.meta() return { name = "` + name + `", description = "test agent" } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor(p, info)
` + body + `
end
return M
`
}

func TestDeadlineStopsInfiniteLoop(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/loop.lua":   agent("loop", "while true do end"),
		"resource/sneaky.lua": agent("sneaky", "while true do pcall(function() while true do end end) end"),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}})
	for _, name := range []string{"loop", "sneaky"} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		start := time.Now()
		out, err := h.RunAgent(ctx, name, "monitor", nil)
		cancel()
		if err == nil || out.Status != lua.StatusTimeout {
			t.Fatalf("%s: got %v %q, err %v; want a timeout", name, out.Status, out.Message, err)
		}
		for _, want := range []string{"resource/" + name + " monitor", "deadline"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: stopped after %s", name, d)
		}
	}
	// The pool still works: the stopped VMs were replaced.
	if out, err := h.RunAgent(context.Background(), "dummy", "monitor", map[string]string{"state": t.TempDir() + "/s"}); err != nil || out.Status != lua.StatusNotRunning {
		t.Fatalf("after the timeouts: %v %v", out, err)
	}
}

func TestMemoryBombStopped(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/doubling.lua": agent("doubling", `local s = "x" for i = 1, 40 do s = s .. s end return "ok"`),
		"resource/tables.lua":   agent("tables", `local t, i = {}, 0 while true do i = i + 1 t[i] = {i, i} end`),
		"resource/rep.lua":      agent("rep", `local s = string.rep("x", 1e12) return "ok"`),
		"resource/concat.lua":   agent("concat", `local t = {} local s = string.rep("y", 1e6) for i = 1, 1000 do t[i] = s end return table.concat(t)`),
		"resource/gsub.lua":     agent("gsub", `local s = string.rep("y", 1e5) return s:gsub(".", s)`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, MemoryLimit: 64 << 20, PoolSize: 2})
	for _, name := range []string{"doubling", "tables"} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := h.RunAgent(ctx, name, "monitor", nil)
		cancel()
		if err == nil || out.Status != lua.StatusFailed {
			t.Fatalf("%s: got %v %q, err %v; want it stopped", name, out.Status, out.Message, err)
		}
		for _, want := range []string{"resource/" + name + " monitor", "memory bomb", "limit 64 MiB"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", name, err, want)
			}
		}
	}
	for name, want := range map[string]string{"rep": "string.rep: the result would be", "concat": "table.concat: the result would be above", "gsub": "string.gsub: the result could reach"} {
		out, err := h.RunAgent(context.Background(), name, "monitor", nil)
		if err != nil || out.Status != lua.StatusFailed || !strings.Contains(out.Message, want) || !strings.Contains(out.Message, "resource/"+name+" monitor") {
			t.Errorf("%s: got %v %q, err %v; want failed with %q", name, out.Status, out.Message, err, want)
		}
	}
}

// gated is a resource agent whose monitor waits until its gate file
// exists (the test opens it), then returns ok.
const gated = `local M = {}
local fs, corral = require("fs"), require("corral")
function M.meta() return { name = "gated", description = "waits for a gate", parameters = {{ name = "gate", type = "string", default = "" }} } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor(p)
  while p.gate ~= "" and not fs.exists(p.gate) do corral.sleep(0.005) end
  return "ok", "done"
end
return M
`

// waitBusy waits until n calls run.
func waitBusy(t *testing.T, h *lua.Host, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for h.Busy() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls did not start (busy %d)", n, h.Busy())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolBounds(t *testing.T) {
	dir := writeScripts(t, map[string]string{"resource/gated.lua": gated})
	h := newHost(t, lua.Config{Paths: []string{dir}, Grant: []string{dir}, PoolSize: 2})
	gate := filepath.Join(t.TempDir(), "gate")
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := h.RunAgent(context.Background(), "gated", "monitor", map[string]string{"gate": gate}); err != nil || out.Status != lua.StatusOK {
				t.Errorf("gated call: %v %v", out, err)
			}
		}()
	}
	waitBusy(t, h, 2)
	// Both VMs are busy: a call that cannot wait gets none.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	out, err := h.RunAgent(ctx, "gated", "monitor", nil)
	cancel()
	if err == nil || out.Status != lua.StatusTimeout || !strings.Contains(err.Error(), "all 2 Lua VMs stayed busy") {
		t.Fatalf("third call with both VMs busy: %v %q, err %v", out.Status, out.Message, err)
	}
	if n := h.VMs(); n > 2 {
		t.Fatalf("%d VMs with PoolSize 2", n)
	}
	// A call that may wait gets a VM once one is free.
	waited := make(chan error, 1)
	go func() {
		_, err := h.RunAgent(context.Background(), "gated", "monitor", nil)
		waited <- err
	}()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("waiting call: %v", err)
	}
	wg.Wait()
	if n := h.VMs(); n > 2 {
		t.Fatalf("%d VMs with PoolSize 2", n)
	}
}

func TestSandbox(t *testing.T) {
	probe := `return tostring(os.execute) .. tostring(io) .. tostring(dofile) .. tostring(loadfile) .. tostring(require("corral") ~= nil)`
	dir := writeScripts(t, map[string]string{
		"resource/probe.lua":  agent("probe", probe),
		"resource/execer.lua": agent("execer", `local exec = require("exec") local code, out = exec.run{argv = {"echo", "hi"}} return "ok", out`),
	})
	granted := writeScripts(t, map[string]string{
		"resource/execer2.lua": agent("execer2", `local exec = require("exec") local code, out = exec.run{argv = {"echo", "hi"}} return "ok", out`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir, granted}, Grant: []string{granted}})
	out, err := h.RunAgent(context.Background(), "probe", "monitor", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The status is the returned string, which is not a status name: read
	// the message instead through Eval below; here, it must not be "ok".
	if out.Status != lua.StatusFailed || !strings.Contains(out.Message, `"nilnilnilniltrue"`) {
		t.Fatalf("probe: %v %q", out.Status, out.Message)
	}
	for code, want := range map[string]string{
		"os.execute":                      "nil",
		"io":                              "nil",
		"dofile":                          "nil",
		"loadfile":                        "nil",
		"os.exit":                         "nil",
		"os.remove":                       "nil",
		"os.getenv":                       "nil",
		"getfenv":                         "nil",
		"collectgarbage":                  "nil",
		"string.dump":                     "nil",
		"type(os.time())":                 "number",
		`select(2, loadstring("\27Lua"))`: "",
		`pcall(require, "exec")`:          "false",
	} {
		got, err := h.Eval(context.Background(), code)
		if err != nil {
			t.Errorf("eval %s: %v", code, err)
			continue
		}
		if want == "" {
			if !strings.Contains(got, "Invalid token") {
				t.Errorf("eval %s = %q: loading bytecode should fail", code, got)
			}
			continue
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("eval %s = %q, want %s", code, got, want)
		}
	}
	_, err = h.Eval(context.Background(), `require("exec")`)
	if err == nil || !strings.Contains(err.Error(), `module "exec" is not granted`) {
		t.Errorf("require exec in eval: %v", err)
	}
	out, _ = h.RunAgent(context.Background(), "execer", "monitor", nil)
	if out.Status != lua.StatusFailed || !strings.Contains(out.Message, `module "exec" is not granted to this script`) {
		t.Errorf("ungranted script: %v %q", out.Status, out.Message)
	}
	out, err = h.RunAgent(context.Background(), "execer2", "monitor", nil)
	if err != nil || out.Status != lua.StatusOK || out.Message != "hi\n" {
		t.Errorf("granted script: %v %q %v", out.Status, out.Message, err)
	}
	if m, _ := h.Script(lua.KindResource, "execer2"); !m.Granted {
		t.Errorf("execer2 meta: not granted")
	}
}

func TestRandomPerVM(t *testing.T) {
	seq := func(seed uint64) string {
		h := newHost(t, lua.Config{Seed: seed, PoolSize: 1})
		out, err := h.Eval(context.Background(), `math.random(1000), math.random(1000), math.random()`)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := seq(7), seq(7), seq(8)
	if a != b {
		t.Errorf("same seed, different numbers: %q %q", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 gave the same numbers %q", a)
	}
	h := newHost(t, lua.Config{PoolSize: 1})
	if _, err := h.Eval(context.Background(), `math.randomseed(1)`); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	cases := map[string]struct{ code, want string }{
		"syntax": {"local M = {}\n\nfunction M.meta(\nreturn M\n", "resource/syntax.lua:4: syntax error"},
		"missing": {"local M = {}\nfunction M.meta() return { description = 'x' } end\nfunction M.start() end\nfunction M.stop() end\n\nreturn M\n",
			`resource/missing.lua:6: the resource script's table has no function "monitor"`},
		"runtime":   {"local M = {}\nlocal x = nil\nx.y = 1\nreturn M\n", "resource/runtime.lua:3:"},
		"badtype":   {agent("badtype", "return 'ok'") + "\n", ""},
		"notable":   {"return 42\n", "resource/notable.lua returned number"},
		"wrongname": {strings.Replace(agent("other", "return 'ok'"), `"other"`, `"other"`, 1), `names the script "other" but its file is wrongname.lua`},
	}
	for name, c := range cases {
		if c.want == "" {
			continue
		}
		dir := writeScripts(t, map[string]string{"resource/" + name + ".lua": c.code})
		_, err := lua.New(lua.Config{Paths: []string{dir}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", name, err, c.want)
		}
	}
	dir := writeScripts(t, map[string]string{"resource/param.lua": `local M = {}
function M.meta() return { description = "x", parameters = {{ name = "n", type = "integer", default = "ten" }} } end
function M.start() end function M.stop() end function M.monitor() end
return M
`})
	_, err := lua.New(lua.Config{Paths: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), `param.lua:4: meta(): default of parameter n: "ten" is not an integer`) {
		t.Errorf("bad default: %v", err)
	}
	dir = writeScripts(t, map[string]string{"handler/h.lua": "local M = {}\nfunction M.meta() return { description = 'x' } end\nfunction M.handle() end\nreturn M\n"})
	_, err = lua.New(lua.Config{Paths: []string{dir}})
	if err == nil || !strings.Contains(err.Error(), "h.lua:4: meta(): a handler's meta needs events") {
		t.Errorf("handler without events: %v", err)
	}
}

func TestParametersCheckedAndDefaulted(t *testing.T) {
	dir := writeScripts(t, map[string]string{"resource/typed.lua": `local M = {}
function M.meta() return { description = "x", parameters = {
  { name = "port", type = "integer", required = true },
  { name = "ratio", type = "number", default = 0.5 },
  { name = "on", type = "boolean", default = false },
  { name = "wait", type = "duration", default = "1m30s" },
  { name = "label", type = "string" },
} } end
function M.start() return "ok" end function M.stop() return "ok" end
function M.monitor(p, info)
  return "ok", string.format("%s %d %s %s %s %s %s", type(p.port), p.port, p.ratio, tostring(p.on), p.wait, tostring(p.label), tostring(info.resource))
end
return M
`})
	h := newHost(t, lua.Config{Paths: []string{dir}})
	out, err := h.RunAgent(context.Background(), "typed", "monitor", map[string]string{"port": "80", "on": "yes", "_resource": "r1"})
	if err != nil || out.Message != "number 80 0.5 true 90 nil r1" {
		t.Fatalf("got %q %v", out.Message, err)
	}
	for params, want := range map[string]string{
		"":                  "parameter port is required",
		"port=x":            `parameter port: "x" is not an integer`,
		"port=1,on=maybe":   `parameter on: "maybe" is not a boolean`,
		"port=1,wait=soon":  `parameter wait: "soon" is not a duration`,
		"port=1,colour=red": "unknown parameter colour",
	} {
		p := map[string]string{}
		for _, kv := range strings.Split(params, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				p[k] = v
			}
		}
		out, err := h.RunAgent(context.Background(), "typed", "monitor", p)
		if err == nil || out.Status != lua.StatusConfig || !strings.Contains(out.Message, want) {
			t.Errorf("%s: %v %q %v, want config %q", params, out.Status, out.Message, err, want)
		}
	}
	if err := h.CheckParams(lua.KindResource, "typed", map[string]string{"port": "x"}); err == nil || !strings.Contains(err.Error(), `resource/typed: parameter port: "x" is not an integer`) {
		t.Errorf("CheckParams: %v", err)
	}
	if err := h.CheckParams(lua.KindResource, "typed", map[string]string{"port": "8"}); err != nil {
		t.Errorf("CheckParams of good params: %v", err)
	}
	if _, err := h.RunAgent(context.Background(), "typed", "promote", map[string]string{"port": "1"}); err == nil || !strings.Contains(err.Error(), `no action "promote"`) {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := h.RunAgent(context.Background(), "nosuch", "start", nil); err == nil || !strings.Contains(err.Error(), `no resource script "nosuch"`) {
		t.Errorf("unknown agent: %v", err)
	}
	out, err = h.RunAgent(context.Background(), "typed", "meta", nil)
	if err != nil || !strings.Contains(out.Message, `"name":"port","type":"integer","required":true`) {
		t.Errorf("meta: %q %v", out.Message, err)
	}
}

func TestReloadPicksUpChanges(t *testing.T) {
	dir := writeScripts(t, map[string]string{"resource/ver.lua": agent("ver", `return "ok", "v1"`)})
	h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 2})
	get := func() string {
		out, err := h.RunAgent(context.Background(), "ver", "monitor", nil)
		if err != nil {
			t.Fatal(err)
		}
		return out.Message
	}
	if got := get(); got != "v1" {
		t.Fatalf("before: %q", got)
	}
	file := filepath.Join(dir, "resource/ver.lua")
	if err := os.WriteFile(file, []byte(agent("ver", `return "ok", "v2"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get(); got != "v1" {
		t.Fatalf("before reload: %q", got)
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	for range 4 { // every VM, not just one
		if got := get(); got != "v2" {
			t.Fatalf("after reload: %q", got)
		}
	}
	// A broken file: Reload says where, and the old scripts stay.
	if err := os.WriteFile(file, []byte("local M = {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err == nil || !strings.Contains(err.Error(), "ver.lua:") {
		t.Fatalf("broken reload: %v", err)
	}
	if got := get(); got != "v2" {
		t.Fatalf("after a failed reload: %q", got)
	}
	// A new script appears.
	if err := os.WriteFile(filepath.Join(dir, "resource/ver.lua"), []byte(agent("ver", `return "ok", "v3"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resource/new.lua"), []byte(agent("new", `return "ok", "new"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.Script(lua.KindResource, "new"); !ok {
		t.Fatal("new script not listed after reload")
	}
}

func TestPolicyAndHandlerErrors(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"policy/bad.lua": `local M = {}
function M.meta() return { description = "returns nonsense" } end
function M.choose_owner(g, c) return "n9" end
function M.on_failure() return "panic" end
return M
`,
		"handler/boom.lua": `local M = {}
function M.meta() return { description = "fails", events = { "group_moved" } } end
function M.handle(e) error("cannot handle " .. e.kind) end
return M
`,
	})
	h := newHost(t, lua.Config{Paths: []string{dir}})
	if _, err := h.ChooseOwner(context.Background(), "bad", map[string]any{"name": "web"}, []string{"n1"}, nil); err == nil || !strings.Contains(err.Error(), `policy/bad choose_owner: choose_owner returned "n9", which is not a candidate`) {
		t.Errorf("choose_owner: %v", err)
	}
	if _, err := h.OnFailure(context.Background(), "bad", map[string]any{}, 1); err == nil || !strings.Contains(err.Error(), "return restart, failover, ignore or stop") {
		t.Errorf("on_failure: %v", err)
	}
	err := h.Handle(context.Background(), "boom", map[string]any{"kind": "group_moved"})
	if err == nil || !strings.Contains(err.Error(), "handler/boom handle:") || !strings.Contains(err.Error(), "boom.lua:3: cannot handle group_moved") {
		t.Errorf("handle: %v", err)
	}
	if got := h.Subscribers("group_moved"); strings.Join(got, ",") != "boom,log" {
		t.Errorf("subscribers of group_moved: %v", got)
	}
	if got := h.Subscribers("view_changed"); strings.Join(got, ",") != "log" {
		t.Errorf("subscribers of view_changed: %v", got)
	}
}

func TestEval(t *testing.T) {
	h := newHost(t, lua.Config{})
	for code, want := range map[string]string{
		"1 + 2":                               "3",
		"'a', {1, 2, x = 'y'}":                `a	{1, 2, x = "y"}`,
		"print('hi') print('there') return 5": "hi\nthere\n5",
		"local x = 2":                         "",
	} {
		got, err := h.Eval(context.Background(), code)
		if err != nil || got != want {
			t.Errorf("eval %q = %q, %v; want %q", code, got, err, want)
		}
	}
	if _, err := h.Eval(context.Background(), "error('nope')"); err == nil || !strings.Contains(err.Error(), "lua eval: eval:1: nope") {
		t.Errorf("error: %v", err)
	}
	if _, err := h.Eval(context.Background(), "local = 1"); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("syntax: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := h.Eval(ctx, "while true do end"); err == nil || !strings.Contains(err.Error(), "lua eval: stopped at its deadline") {
		t.Errorf("loop: %v", err)
	}
}

func TestClosedHost(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	h.Close()
	_, err = h.Eval(context.Background(), "1")
	if err == nil || !errors.Is(err, lua.ErrClosed) {
		t.Errorf("eval on a closed host: %v", err)
	}
}

// TestMemoryBombSparesOthers: a bomb next to a slow, innocent call; the
// watchdog stops the bomb and the other call completes.
func TestMemoryBombSparesOthers(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/doubling.lua": agent("doubling", `local s = "x" for i = 1, 40 do s = s .. s end return "ok"`),
		"resource/gated.lua":    gated,
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, Grant: []string{dir}, MemoryLimit: 64 << 20})
	gate := filepath.Join(t.TempDir(), "gate")
	done := make(chan lua.Outcome, 1)
	go func() {
		out, _ := h.RunAgent(context.Background(), "gated", "monitor", map[string]string{"gate": gate})
		done <- out
	}()
	waitBusy(t, h, 1)
	out, err := h.RunAgent(context.Background(), "doubling", "monitor", nil)
	if err == nil || !strings.Contains(err.Error(), "resource/doubling monitor: stopped: the heap grew") {
		t.Fatalf("bomb: %v %v", out, err)
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := <-done; p.Status != lua.StatusOK || p.Message != "done" {
		t.Fatalf("the innocent call was hit too: %v %q", p.Status, p.Message)
	}
}

// TestSandboxLimits: what a single Go function would do without a bound
// (unpack, string.byte of millions of values), deep recursion, and a
// gopher-lua panic (registry overflow through growing tail-call varargs)
// all end in an error naming the call, and the host goes on.
func TestSandboxLimits(t *testing.T) {
	h := newHost(t, lua.Config{PoolSize: 1})
	for code, want := range map[string]string{
		`unpack({}, 1, 1e8)`:                                             "unpack: too many results (100000000, at most 8000)",
		`string.byte(string.rep("x", 1e6), 1, -1)`:                       "string.byte: too many results (1000000, at most 8000)",
		`local function f() return f() + 1 end return f()`:               "stack overflow",
		`setmetatable({}, {__index = function(t, k) return t[k] end}).x`: "stack overflow",
		// the registry overflows, or (which comes first depends on when the
		// collector last ran) the memory guard stops the growing varargs
		`local function f(...) return f(` + strings.Repeat("1,", 150) + ` ...) end return f()`: "the Lua VM failed|stopped: the heap grew",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := h.Eval(ctx, code)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "lua eval: ") || !slices.ContainsFunc(strings.Split(want, "|"), func(w string) bool { return strings.Contains(err.Error(), w) }) {
			t.Errorf("%.60s: %v, want %q", code, err, want)
		}
	}
	for code, want := range map[string]string{
		`select('#', unpack({}, 1, 8000))`: "8000",
		`string.byte("abc")`:               "97",
		`string.byte("abc", 2, -1)`:        "98\t99",
	} {
		if got, err := h.Eval(context.Background(), code); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", code, got, err, want)
		}
	}
}

func TestReloadChangesSaysWhatChanged(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/ver.lua":  agent("ver", `return "ok", "v1"`),
		"resource/same.lua": agent("same", `return "ok"`),
		"resource/gone.lua": agent("gone", `return "ok"`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1})
	ch, err := h.ReloadChanges()
	if err != nil || !ch.Empty() {
		t.Fatalf("a reload of unchanged files: %+v %v", ch, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resource/ver.lua"), []byte(agent("ver", `return "ok", "v2"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "resource/gone.lua")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "resource/new.lua"), []byte(agent("new", `return "ok"`)), 0o644); err != nil {
		t.Fatal(err)
	}
	ch, err = h.ReloadChanges()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ch.Added, ch.Removed, ch.Changed) != "[resource/new] [resource/gone] [resource/ver]" {
		t.Fatalf("changes: %+v", ch)
	}
	if ch.Scripts != len(h.Scripts(lua.KindResource))+len(h.Scripts(lua.KindFence))+len(h.Scripts(lua.KindPolicy))+len(h.Scripts(lua.KindHandler)) {
		t.Fatalf("scripts count %d", ch.Scripts)
	}
}

func TestEvalHasCorralAtHand(t *testing.T) {
	h := newHost(t, lua.Config{PoolSize: 1})
	out, err := h.Eval(context.Background(), "corral.OK .. ' ' .. type(corral.status)")
	if err != nil || out != "ok function" {
		t.Fatalf("corral in eval: %q %v", out, err)
	}
}

// TestSkipBrokenKeepsTheRest: with SkipBroken a broken file of [lua] paths
// does not fail New; it is listed by Broken with its file and line, calls
// to it fail with ErrBroken, and every other script works.
func TestSkipBrokenKeepsTheRest(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/good.lua": agent("good", `return "ok", "fine"`),
		"resource/bad.lua":  "local M = {}\n\nfunction M.meta(\nreturn M\n",
		"policy/broken.lua": "local M = {}\nreturn M\n",
	})
	h, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 1, SkipBroken: true})
	if err != nil {
		t.Fatalf("New with a broken file: %v", err)
	}
	defer h.Close()
	out, err := h.RunAgent(context.Background(), "good", "monitor", nil)
	if err != nil || out.Message != "fine" {
		t.Fatalf("good agent: %+v, %v", out, err)
	}
	b := h.Broken(lua.KindResource)
	if len(b) != 1 || b[0].Name != "bad" || !strings.Contains(b[0].Broken, "resource/bad.lua:4: syntax error") {
		t.Fatalf("Broken(resource) = %+v", b)
	}
	if _, err := h.RunAgent(context.Background(), "bad", "monitor", nil); !errors.Is(err, lua.ErrBroken) {
		t.Fatalf("call to the broken agent: %v, want ErrBroken", err)
	}
	if _, err := h.ChooseOwner(context.Background(), "broken", map[string]any{"name": "g"}, []string{"n1"}, map[string]any{}); !errors.Is(err, lua.ErrBroken) || !strings.Contains(err.Error(), "policy/broken.lua") {
		t.Fatalf("call to the broken policy: %v, want ErrBroken naming the file", err)
	}
	// Without SkipBroken, New stays strict (check-config relies on it).
	if _, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 1}); err == nil {
		t.Fatal("strict New accepted a broken file")
	}
}

// TestReservedDiskAgent: a resource script named as the built-in served
// disk agent is refused at load, strict and with SkipBroken alike, with
// a message that names the file and says what to do; Builtins lists the
// built-in one with its parameters.
func TestReservedDiskAgent(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/disk.lua": agent("disk", `return "ok"`),
		"resource/good.lua": agent("good", `return "ok"`),
	})
	_, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 1})
	if err == nil || !strings.Contains(err.Error(), "resource/disk.lua") || !strings.Contains(err.Error(), "reserved") || !strings.Contains(err.Error(), "rename the file") {
		t.Fatalf("strict New with resource/disk.lua: %v, want a refusal naming the file", err)
	}
	h, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 1, SkipBroken: true})
	if err != nil {
		t.Fatalf("New with SkipBroken: %v", err)
	}
	defer h.Close()
	if _, ok := h.Script(lua.KindResource, "disk"); ok {
		t.Fatal("resource/disk.lua loaded as a script")
	}
	if b := h.Broken(lua.KindResource); len(b) != 1 || b[0].Name != "disk" || !strings.Contains(b[0].Broken, "reserved") {
		t.Fatalf("Broken(resource) = %+v", b)
	}
	// A fence driver may be called disk: only the resource name is taken.
	dir2 := writeScripts(t, map[string]string{"policy/disk.lua": "local M = {}\nfunction M.meta() return {name = \"disk\", description = \"p\"} end\nfunction M.choose_owner() return nil end\nfunction M.on_failure() return \"restart\" end\nreturn M\n"})
	h2, err := lua.New(lua.Config{Paths: []string{dir2}, PoolSize: 1})
	if err != nil {
		t.Fatalf("policy/disk.lua: %v", err)
	}
	h2.Close()
	m, ok := lua.Builtin(lua.KindResource, "disk")
	if !ok || !m.Builtin || len(m.Parameters) != 2 || m.Parameters[0].Name != "size" || !m.Parameters[0].Required || m.Parameters[1].Name != "backing" {
		t.Fatalf("Builtin(resource, disk) = %+v %v", m, ok)
	}
	if bs := lua.Builtins(lua.KindResource); len(bs) != 1 || bs[0].Name != "disk" {
		t.Fatalf("Builtins(resource) = %+v", bs)
	}
}
