package lua_test

// Escapes from the sandbox (issue 22): each test was seen failing on the
// code before the fix (the report of the change lists the failing lines).

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

// changer is an agent whose monitor calls corral[p.call](p.a, p.b).
const changer = `local corral = require("corral")
local M = {}
function M.meta() return { name = "changer", description = "test agent",
  parameters = {{name = "call"}, {name = "a"}, {name = "b"}} } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor(p)
  local ok, err = corral[p.call](p.a, p.b)
  if not ok then return "failed", tostring(err) end
  return "ok"
end
return M
`

// TestUngrantedCodeCannotChangeCluster: a script outside the shipped ones
// and [lua] grant, and the shell's lua command (Eval), read the cluster but
// cannot change it: a /resources/... entry with the process agent would
// run a command as root.
func TestUngrantedCodeCannotChangeCluster(t *testing.T) {
	fc := newFakeCluster([]string{"n1", "n2"}, map[string]string{"web": "n1"})
	fc.kv["groups/web/policy"] = "default"
	plain := writeScripts(t, map[string]string{"resource/changer.lua": changer})
	granted := writeScripts(t, map[string]string{"resource/changer.lua": changer})
	ctx := context.Background()
	evil := `{"agent": "process", "group": "web", "params": {"command": "touch /tmp/pwned"}}`
	calls := [][3]string{{"set", "resources/evil", evil}, {"move", "web", "n2"}, {"start", "web"}, {"stop", "web"}, {"pause", "n2"}, {"resume", "n2"}}

	h := newHost(t, lua.Config{Paths: []string{plain}, Cluster: fc})
	for _, c := range calls {
		out, err := h.RunAgent(ctx, "changer", "monitor", map[string]string{"call": c[0], "a": c[1], "b": c[2]})
		if err != nil || out.Status != lua.StatusFailed || !strings.Contains(out.Message, "corral."+c[0]+" is not granted to this script") {
			t.Errorf("ungranted corral.%s: %v %q %v; want refused", c[0], out.Status, out.Message, err)
		}
		_, err = h.Eval(ctx, fmt.Sprintf("corral.%s(%q, %q)", c[0], c[1], c[2]))
		if err == nil || !strings.Contains(err.Error(), "the lua command reads the cluster but does not change it") ||
			!strings.Contains(err.Error(), "lua run FILE") {
			t.Errorf("eval corral.%s: %v; want refused, naming lua run", c[0], err)
		}
	}
	// Through loadstring and a required module's view: the same refusal.
	if _, err := h.Eval(ctx, `loadstring("return require('corral').set('resources/evil', 'x')")()`); err == nil || !strings.Contains(err.Error(), "does not change it") {
		t.Errorf("eval through loadstring: %v", err)
	}
	fc.mu.Lock()
	if _, ok := fc.kv["resources/evil"]; ok || len(fc.actions) > 0 {
		t.Errorf("ungranted code changed the cluster: kv %v, actions %v", fc.kv, fc.actions)
	}
	fc.mu.Unlock()
	// Reading is allowed.
	if got, err := h.Eval(ctx, `corral.get("groups/web/policy"), corral.status().groups[1].owner`); err != nil || got != "default\tn1" {
		t.Errorf("eval reads: %q %v", got, err)
	}

	// A granted directory's script changes the cluster.
	g := newHost(t, lua.Config{Paths: []string{granted}, Grant: []string{granted}, Cluster: fc})
	out, err := g.RunAgent(ctx, "changer", "monitor", map[string]string{"call": "set", "a": "groups/web/policy", "b": "least_loaded"})
	if err != nil || out.Status != lua.StatusOK {
		t.Fatalf("granted corral.set: %v %q %v", out.Status, out.Message, err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.kv["groups/web/policy"] != "least_loaded" {
		t.Errorf("granted set did not reach the cluster: %v", fc.kv)
	}
}

// TestScriptCannotChangeWhatShippedAgentRuns is the escape the issue
// reports: an ungranted handler replaced string.gsub, and the next shipped
// process agent on the VM ran the handler's command. Each way a script
// could reach what another calls is tried on a pool of one VM; the process
// agent must then start its own command, and the marker must not appear.
func TestScriptCannotChangeWhatShippedAgentRuns(t *testing.T) {
	for name, attack := range map[string]string{
		"assign":           `string.gsub = evil`,
		"rawset":           `rawset(string, "gsub", evil)`,
		"metatable index":  `getmetatable("").__index.gsub = evil`,
		"setmetatable":     `setmetatable("", {__index = {gsub = evil, match = evil}})`,
		"G":                `_G.string = {gsub = evil}`,
		"loadstring":       `loadstring("string.gsub = ...")(evil)`,
		"loadstring G":     `loadstring("local g = ... _G.string.gsub = g")(evil)`,
		"load":             `local done load(function() if done then return nil end done = true return "string.gsub = ..." end)(evil)`,
		"require view":     `local c = require("corral") c.warn = evil rawset(c, "warn", evil)`,
		"table library":    `table.insert = evil ipairs = evil`,
		"number metatable": `setmetatable(1, {__concat = evil, __index = evil, __tostring = evil})`,
	} {
		t.Run(name, func(t *testing.T) {
			tmp := t.TempDir()
			marker := filepath.Join(tmp, "pwned")
			handler := `local M = {}
function M.meta() return { name = "evil", description = "an ungranted handler", events = {"*"} } end
function M.handle(ev)
  local find = string.find
  local evil = function(s)
    if find(s, "sleep", 1, true) then return "touch ` + marker + `", 1 end
    return s, 0
  end
  local ok, err = pcall(function() ` + attack + ` end)
  return true
end
return M
`
			dir := writeScripts(t, map[string]string{"handler/evil.lua": handler})
			h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1})
			ctx := context.Background()
			if err := h.Handle(ctx, "evil", map[string]any{"kind": "x"}); err != nil {
				t.Fatal(err)
			}
			params := map[string]string{"command": "sleep 30", "start_wait": "0.05s", "_state_dir": tmp, "_resource": "p"}
			out, err := h.RunAgent(ctx, "process", "start", params)
			t.Cleanup(func() { _, _ = h.RunAgent(context.Background(), "process", "stop", params) })
			if _, serr := os.Stat(marker); serr == nil {
				t.Fatalf("the handler's command ran in the process agent (start: %v %q)", out.Status, out.Message)
			}
			if err != nil || out.Status != lua.StatusOK {
				t.Fatalf("process start: %v %q %v", out.Status, out.Message, err)
			}
		})
	}
}

// TestScriptsHaveTheirOwnGlobals: globals, _G, library tables and the
// string metatable a script changes are not seen by another script on the
// same VM; the libraries are read-only and the string metatable locked.
func TestScriptsHaveTheirOwnGlobals(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/a.lua": agent("a", `x = 1 _G.y = 2 rawset(string, "mine", 3) rawset(_G, "z", 4)
  local ok1, e1 = pcall(function() string.upper = nil end)
  local ok2, e2 = pcall(setmetatable, "", {})
  local ok3 = pcall(setmetatable, string, {})
  local ok4 = pcall(setmetatable, 5, {__tostring = function() return "evil" end})
  return "ok", table.concat({tostring(ok1), tostring(e1), tostring(ok2), tostring(e2), tostring(ok3), tostring(ok4), getmetatable(""), tostring(string.mine)}, "|")`),
		"resource/b.lua": agent("b", `return "ok", table.concat({tostring(x), tostring(y), tostring(z), tostring(string.mine), tostring(string.upper ~= nil), tostring(5), ("ab"):upper()}, "|")`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1})
	ctx := context.Background()
	out, err := h.RunAgent(ctx, "a", "monitor", nil)
	if err != nil || out.Status != lua.StatusOK {
		t.Fatalf("a: %v %q %v", out.Status, out.Message, err)
	}
	f := strings.Split(out.Message, "|")
	if len(f) != 8 || f[0] != "false" || !strings.Contains(f[1], "string is read-only") || f[2] != "false" ||
		!strings.Contains(f[3], "table expected, got string") || f[4] != "false" || f[5] != "false" || f[6] != "locked" || f[7] != "3" {
		t.Errorf("a: %q", out.Message)
	}
	out, err = h.RunAgent(ctx, "b", "monitor", nil)
	if err != nil || out.Status != lua.StatusOK || out.Message != "nil|nil|nil|nil|true|5|AB" {
		t.Errorf("b sees a's changes: %v %q %v", out.Status, out.Message, err)
	}
	// The lua command: each eval has its own globals too.
	if _, err := h.Eval(ctx, `_G.kept = "x"`); err != nil {
		t.Fatal(err)
	}
	if got, err := h.Eval(ctx, `tostring(kept)`); err != nil || got != "nil" {
		t.Errorf("eval sees the last eval's globals: %q %v", got, err)
	}
}

// within runs f and fails the test if it has not returned in d (f keeps
// running: the test binary exits with the failure).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still running after %s", what, d)
	}
}

// TestPatternMatchStopsAtDeadline: a backtracking pattern is one Go call;
// it ran minutes past a 500 ms deadline.
func TestPatternMatchStopsAtDeadline(t *testing.T) {
	h := newHost(t, lua.Config{})
	subject := `string.rep("a", 60)`
	pattern := `string.rep(".-", 12) .. "b"`
	for _, fn := range []string{"find", "match", "gsub", "gmatch"} {
		code := fmt.Sprintf(`string.%s(%s, %s, "")`, fn, subject, pattern)
		if fn == "find" || fn == "match" {
			code = fmt.Sprintf(`string.%s(%s, %s)`, fn, subject, pattern)
		}
		if fn == "gmatch" {
			code = fmt.Sprintf(`string.gmatch(%s, %s)()`, subject, pattern)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		var err error
		start := time.Now()
		within(t, 10*time.Second, fn, func() { _, err = h.Eval(ctx, code) })
		cancel()
		if err == nil || !strings.Contains(err.Error(), "stopped at its deadline") {
			t.Errorf("%s: %v after %s; want stopped at its deadline", fn, err, time.Since(start))
		}
	}
	// A pattern that is not pathological works as before.
	if got, err := h.Eval(context.Background(), `("pid 1234\n"):match("%d+"), ("a,b"):gsub(",", ";")`); err != nil || got != "1234\ta;b\t1" {
		t.Errorf("plain patterns: %q %v", got, err)
	}
}

// TestCompileIsBounded: compiling a deep expression took minutes in one
// Go call; such a chunk is refused at once, from a file, the lua command
// or loadstring.
func TestCompileIsBounded(t *testing.T) {
	deep := "return " + strings.Repeat("a + ", 40000) + "a"
	dir := writeScripts(t, map[string]string{"resource/deep.lua": deep})
	within(t, 10*time.Second, "load", func() {
		_, err := lua.New(lua.Config{Paths: []string{dir}})
		if err == nil || !strings.Contains(err.Error(), "deep.lua:1: expressions or blocks nested more than 200 deep") {
			t.Errorf("load: %v", err)
		}
	})
	h := newHost(t, lua.Config{})
	for what, code := range map[string]string{
		"eval":       strings.TrimPrefix(deep, "return "),
		"huge":       strings.Repeat("x = 1\n", 50000),
		"loadstring": `select(2, loadstring("return " .. string.rep("a + ", 40000) .. "a"))`,
		"load":       `select(2, load(function() n = (n or 0) + 1 if n == 1 then return "return " elseif n < 40000 then return "a + " elseif n == 40000 then return "a" end end))`,
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		var got string
		var err error
		within(t, 10*time.Second, what, func() { got, err = h.Eval(ctx, code) })
		cancel()
		msg := got
		if err != nil {
			msg = err.Error()
		}
		if !strings.Contains(msg, "nested more than 200 deep") && !strings.Contains(msg, "above the sandbox's 256 KiB") {
			t.Errorf("%s: %q; want refused as too deep or too large", what, msg)
		}
	}
	// gopher-lua looks a function's constants up one by one: 40,000
	// distinct numbers or names in a 256 KiB chunk compiled for 16 s;
	// 20,000 labels for 0.7 s.
	var consts, names strings.Builder
	consts.WriteString("#{")
	names.WriteString("local t = {}\n")
	for i := 0; consts.Len() < 250<<10; i++ {
		fmt.Fprintf(&consts, "%d,", 100000+i)
	}
	for i := 0; names.Len() < 250<<10; i++ {
		fmt.Fprintf(&names, "t.k%d = 1\n", 100000+i)
	}
	consts.WriteString("}")
	labels := func() string {
		var b strings.Builder
		for i := 0; b.Len() < 200<<10; i++ {
			fmt.Fprintf(&b, "::l%d::\n", i)
		}
		return b.String()
	}()
	for what, code := range map[string]string{"constants": consts.String(), "names": names.String(), "labels": labels} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		var err error
		start := time.Now()
		within(t, 30*time.Second, what, func() { _, err = h.Eval(ctx, code) })
		cancel()
		if took := time.Since(start); took > 2*time.Second || err == nil || !strings.Contains(err.Error(), "distinct constants") {
			t.Errorf("%s: %v after %s; want refused at once", what, err, took)
		}
	}
	// Ordinary nesting compiles.
	if got, err := h.Eval(context.Background(), "return "+strings.Repeat("1 + ", 150)+"1"); err != nil || got != "151" {
		t.Errorf("150 terms: %q %v", got, err)
	}
}

// logCapture is a slog handler that keeps the records' text.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintln(&c.buf, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&c.buf, " %s=%v", a.Key, a.Value.Any())
		return true
	})
	return nil
}
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *logCapture) WithGroup(string) slog.Handler      { return c }

// TestLogOfSharedTablesIsBounded: corral.log converted a table of shared
// subtables in full (2^depth leaves: 590 MiB at depth 20).
func TestLogOfSharedTablesIsBounded(t *testing.T) {
	lc := &logCapture{}
	dir := writeScripts(t, map[string]string{
		"resource/bomb.lua": agent("bomb", `local t = {x = "leaf"} for i = 1, 18 do t = {a = t, b = t} end
  local c = {} c.self = c
  require("corral").log("bomb", {t = t}) require("corral").log("cycle", {c = c}) return "ok"`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, Log: slog.New(lc)})
	within(t, 10*time.Second, "log", func() {
		out, err := h.RunAgent(context.Background(), "bomb", "monitor", nil)
		if err != nil || out.Status != lua.StatusOK {
			t.Errorf("bomb: %v %q %v", out.Status, out.Message, err)
		}
	})
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if n := lc.buf.Len(); n > 2<<20 {
		t.Fatalf("the log line is %d bytes", n)
	}
	if !strings.Contains(lc.buf.String(), "<truncated>") || !strings.Contains(lc.buf.String(), "<cycle>") {
		t.Errorf("no <truncated> or <cycle> in the log (%d bytes): %.300s ... %s", lc.buf.Len(), lc.buf.String(), lc.buf.String()[max(0, lc.buf.Len()-300):])
	}
}

// TestMemoryKeptAcrossCallsIsBounded: the memory limit was per call, so
// a script keeping a little from each call grew without bound (ten evals
// keeping 40 MiB each left 401 MiB under a 64 MiB limit). What a VM's
// scripts keep is counted after each call; past the limit the VM is
// replaced and their state starts again.
func TestMemoryKeptAcrossCallsIsBounded(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/hoard.lua": `local keep = {}
local M = {}
function M.meta() return { name = "hoard", description = "keeps 3 MiB per call" } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor()
  keep[#keep + 1] = string.rep(tostring(#keep), 3 * 1024 * 1024)
  return "ok", tostring(#keep)
end
return M
`,
	})
	// Each call grows the heap by 3 MiB, well under the 16 MiB the
	// watchdog allows one call.
	h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1, MemoryLimit: 16 << 20})
	most := 0
	for range 10 {
		out, err := h.RunAgent(context.Background(), "hoard", "monitor", nil)
		if err != nil || out.Status != lua.StatusOK {
			t.Fatalf("hoard: %v %q %v", out.Status, out.Message, err)
		}
		var n int
		fmt.Sscan(out.Message, &n)
		most = max(most, n)
	}
	if most > 6 {
		t.Errorf("the script kept %d × 3 MiB across calls under a 16 MiB limit", most)
	}
}

// TestFsWriteDoesNotFollowLinks: fs.write wrote path.tmp, following a link
// planted there, into the link's target.
func TestFsWriteDoesNotFollowLinks(t *testing.T) {
	tmp := t.TempDir()
	victim := filepath.Join(tmp, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(tmp, "state")
	if err := os.Symlink(victim, target+".tmp"); err != nil {
		t.Fatal(err)
	}
	dir := writeScripts(t, map[string]string{
		"resource/writer.lua": agent("writer", `local ok, err = require("fs").write("`+target+`", "new") return ok and "ok" or "failed", tostring(err)`),
	})
	h := newHost(t, lua.Config{Paths: []string{dir}, Grant: []string{dir}})
	out, err := h.RunAgent(context.Background(), "writer", "monitor", nil)
	if err != nil || out.Status != lua.StatusOK {
		t.Fatalf("writer: %v %q %v", out.Status, out.Message, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("the link's target was written: %q", b)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Errorf("the file has %q", b)
	}
}

// TestRandomseedIsPerScript: math.randomseed in one script does not make
// another's math.random predictable (each environment has its source).
func TestRandomseedIsPerScript(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"resource/seeder.lua": `local M = {}
function M.meta() return { name = "seeder", description = "seeds", parameters = {{name = "seed", type = "boolean"}} } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor(p) if p.seed then math.randomseed(1) end return "ok" end
return M
`,
		"resource/roller.lua": agent("roller", `return "ok", math.random(1000000) .. " " .. math.random(1000000)`),
	})
	rolls := func(seed string) string {
		h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1, Seed: 5})
		ctx := context.Background()
		if out, err := h.RunAgent(ctx, "seeder", "monitor", map[string]string{"seed": seed}); err != nil || out.Status != lua.StatusOK {
			t.Fatalf("seeder: %v %q %v", out.Status, out.Message, err)
		}
		out, err := h.RunAgent(ctx, "roller", "monitor", nil)
		if err != nil || out.Status != lua.StatusOK {
			t.Fatalf("roller: %v %q %v", out.Status, out.Message, err)
		}
		return out.Message
	}
	if a, b := rolls("false"), rolls("true"); a != b {
		t.Errorf("another script's math.randomseed changed roller's numbers: %q, then %q", a, b)
	}
}

// TestSessionIsSandboxed: the REPL's session VM (EvalSession) is eval code:
// it reads the cluster but does not change it, its library tables are
// read-only and the string metatable is locked, like Eval's.
func TestSessionIsSandboxed(t *testing.T) {
	fc := newFakeCluster([]string{"n1", "n2"}, map[string]string{"web": "n1"})
	h := newHost(t, lua.Config{Cluster: fc})
	ctx := context.Background()
	evil := `{"agent": "process", "group": "web", "params": {"command": "touch /tmp/pwned"}}`
	if _, err := h.EvalSession(ctx, "s", fmt.Sprintf("corral.set(%q, %q)", "resources/evil", evil)); err == nil ||
		!strings.Contains(err.Error(), "does not change it") {
		t.Errorf("session corral.set: %v; want refused", err)
	}
	if _, err := h.EvalSession(ctx, "s", `string.gsub = function() return "x" end`); err == nil {
		t.Errorf("session replaced string.gsub")
	}
	if got, err := h.EvalSession(ctx, "s", `getmetatable("")`); err != nil || got != "locked" {
		t.Errorf("session getmetatable(\"\"): %q %v; want locked", got, err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if _, ok := fc.kv["resources/evil"]; ok {
		t.Errorf("session code changed the cluster: %v", fc.kv)
	}
}

// TestFormatIsBounded: string.format was Go's fmt.Sprintf on the script's
// format in one Go call: %s of a 64 MiB string repeated 8000 times (or
// %[1]s repeated) builds hundreds of GiB before the watchdog can stop
// anything, and %v of a table printed its entries in full. A format whose
// result could pass the string cap is refused before it is built.
func TestFormatIsBounded(t *testing.T) {
	h := newHost(t, lua.Config{})
	ctx := context.Background()
	for what, code := range map[string]string{
		"many args": `local s = ("x"):rep(8 * 1048576) return #string.format(("%s"):rep(16), s,s,s,s,s,s,s,s,s,s,s,s,s,s,s,s)`,
		"arg index": `local s = ("x"):rep(8 * 1048576) return #string.format(("%[1]s"):rep(16), s)`,
		"widths":    `return #string.format(("%999999d"):rep(100), unpack((function() local t = {} for i = 1, 100 do t[i] = i end return t end)()))`,
	} {
		got, err := h.Eval(ctx, code)
		if err == nil || !strings.Contains(err.Error(), "string.format: the result could reach") {
			t.Errorf("%s: %.100q %v; want refused", what, got, err)
		}
	}
	// A table is formatted as its tostring text, not its entries.
	if got, err := h.Eval(ctx, `local s = ("x"):rep(1048576) local t = {} for i = 1, 100 do t[i .. ""] = s end return #string.format("%#v|%v|%s", t, t, t) < 100`); err != nil || got != "true" {
		t.Errorf("%%v of a table of 100 MiB: %q %v; want its tostring text", got, err)
	}
	// Ordinary formats work as before.
	if got, err := h.Eval(ctx, `string.format("%s=%d %5.2f %q %x %-3s|", "a", 42, 3.14159, "q\n", 255, "b")`); err != nil || got != "a=42  3.14 \"q\\n\" ff b  |" {
		t.Errorf("plain format: %q %v", got, err)
	}
}

// TestOsDateIsBounded: os.date expands its format in one Go call; a 8 MiB
// format of "%c" ran seconds past the deadline and built 600 MiB.
func TestOsDateIsBounded(t *testing.T) {
	h := newHost(t, lua.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Eval(ctx, `return #os.date(("%c"):rep(12 * 1048576))`)
	if took := time.Since(start); took > 2*time.Second || err == nil {
		t.Errorf("os.date of a 24 MiB format: %v after %s; want refused at once", err, took)
	}
	if got, err := h.Eval(context.Background(), `os.date("!%Y-%m-%d", 0)`); err != nil || got != "1970-01-01" {
		t.Errorf("plain os.date: %q %v", got, err)
	}
}

// TestMemoryKeptOutOfSightIsCounted: the retained-memory walk counted a
// gmatch iterator's state as a bare userdata and a function as its
// closure, so a script kept what gmatch found (every match of a string)
// or what loadstring compiled (a 256 KiB chunk each) across calls,
// uncounted, without bound.
func TestMemoryKeptOutOfSightIsCounted(t *testing.T) {
	for what, keep := range map[string]string{
		"gmatch":     `local s = string.rep(tostring(#keep), 32 * 1024) local _, st = s:gmatch(".") keep[#keep + 1] = st`,
		"loadstring": `keep[#keep + 1] = assert(loadstring("return '" .. #keep .. string.rep("x", 200 * 1024) .. "'"))`,
	} {
		t.Run(what, func(t *testing.T) {
			dir := writeScripts(t, map[string]string{
				"resource/hoard.lua": `local keep = {}
local M = {}
function M.meta() return { name = "hoard", description = "keeps what it finds" } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor()
  ` + keep + `
  return "ok", tostring(#keep)
end
return M
`,
			})
			h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1, MemoryLimit: 16 << 20})
			most := 0
			for range 100 {
				out, err := h.RunAgent(context.Background(), "hoard", "monitor", nil)
				if err != nil || out.Status != lua.StatusOK {
					t.Fatalf("hoard: %v %q %v", out.Status, out.Message, err)
				}
				var n int
				fmt.Sscan(out.Message, &n)
				most = max(most, n)
			}
			// gmatch keeps ~4 MiB of matches per call (32 Ki matches), loadstring 200 KiB.
			if most >= 100 {
				t.Errorf("the script kept %d of them across calls under a 16 MiB limit", most)
			}
		})
	}
}

// TestConcatChainsKeepTheirMeaning: the sandbox compiles a..b..c as
// pairs (TestConcatJoinsTwoAtATime); the values are those of Lua.
func TestConcatChainsKeepTheirMeaning(t *testing.T) {
	h := newHost(t, lua.Config{})
	for code, want := range map[string]string{
		`local a, b, c = "a", "b", "c" return a..b..c..1 ..2.5`:                            "abc12.5",
		`local x, b, c = true, "b", "c" return "a" .. (x and b..c) .. "d" .. (x and b..c)`: "abcdbc",
		`local x = false return "a" .. (x or "b".."c") .. ("d".."e")..("f")`:               "abcdef",
		`local n = 0 local function f() n = n + 1 return n end return f()..f()..f()..f()`:  "1234",
		`local mt = {__concat = function(l, r) return (type(l) == "table" and l.v or l) .. (type(r) == "table" and r.v or r) end}
local o = setmetatable({v = "O"}, mt) return "a"..o.."b"..o`: "aObO",
		`return select("#", ("x"):rep(3)..("y"):rep(2))`:                           "1",
		`local ok, err = pcall(function() return "a" .. nil .. "b" end) return ok`: "false",
	} {
		got, err := h.Eval(context.Background(), code)
		if err != nil || got != want {
			t.Errorf("%s: %q %v; want %q", code, got, err, want)
		}
	}
}

// TestMemoryBombStopsTheUngrantedCall: the watchdog stopped, of the calls
// the heap grew during, the one that started last, so an ungranted
// handler growing the heap while a shipped or granted agent's monitor ran
// got the monitor stopped as the memory bomb (a failed monitor: a restart
// or a failover the handler could not ask for). An ungranted call is
// stopped before a granted one.
func TestMemoryBombStopsTheUngrantedCall(t *testing.T) {
	plain := writeScripts(t, map[string]string{
		"handler/hog.lua": `local corral = require("corral")
local M = {}
function M.meta() return { name = "hog", description = "grows the heap", events = {"*"} } end
function M.handle()
  corral.sleep(0.3) -- let the monitor start
  local keep = {}
  for i = 1, 1000 do keep[i] = string.rep(tostring(i), 2 * 1024 * 1024) corral.sleep(0.005) end
  return true
end
return M
`,
	})
	granted := writeScripts(t, map[string]string{
		"resource/steady.lua": agent("steady", `require("corral").sleep(1.5) return "ok"`),
	})
	h := newHost(t, lua.Config{Paths: []string{plain, granted}, Grant: []string{granted}, MemoryLimit: 64 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	hog := make(chan error, 1)
	go func() { hog <- h.Handle(ctx, "hog", map[string]any{"kind": "x"}) }()
	waitBusy(t, h, 1)
	out, err := h.RunAgent(ctx, "steady", "monitor", nil)
	if err != nil || out.Status != lua.StatusOK {
		t.Errorf("the granted monitor: %v %q %v; want ok (the handler is the bomb)", out.Status, out.Message, err)
	}
	if err := <-hog; err == nil || !strings.Contains(err.Error(), "memory bomb") {
		t.Errorf("the handler: %v; want stopped as a memory bomb", err)
	}
}

// TestGoLoopsStopAtDeadline: unpack(t, -2^62, 2^62) passed the 8000-value
// check (the count overflowed) and pushed until the value stack
// overflowed, 2 s in one Go call; table.sort with a Go function as the
// comparator is one Go call too: sorting 1000 numbers with string.rep
// (each comparison a 600 KB string) took 23 s, whatever the deadline.
func TestGoLoopsStopAtDeadline(t *testing.T) {
	h := newHost(t, lua.Config{})
	if got, err := h.Eval(context.Background(), `select(2, pcall(unpack, {}, -2^62, 2^62))`); err != nil || !strings.Contains(got, "unpack: too many results") {
		t.Errorf("unpack with an overflowing count: %q %v; want too many results", got, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var err error
	var took time.Duration
	within(t, 60*time.Second, "sort", func() {
		start := time.Now()
		_, err = h.Eval(ctx, `local t = {} for i = 1, 300 do t[i] = 100000 + i end table.sort(t, string.rep)`)
		took = time.Since(start)
	})
	if err == nil || !strings.Contains(err.Error(), "stopped at its deadline") || took > 2*time.Second {
		t.Errorf("sort: %v after %s; want stopped at its 500 ms deadline", err, took)
	}
	// gopher-lua's table.concat pushed every piece and separator on the
	// value stack: 200,000 pieces overflowed it after growing it 1024
	// slots at a time, 3.7 s in one Go call.
	h = newHost(t, lua.Config{})
	start := time.Now()
	if got, err := h.Eval(context.Background(), `local t = {} for i = 1, 200000 do t[i] = i % 10 end local s = table.concat(t, ",") return #s, s:sub(1, 7), #table.concat(t, "", 5, 9), table.concat({}, "x"), table.concat({1, 2.5, "z"})`); err != nil || got != "399999	1,2,3,4	5		12.5z" {
		t.Errorf("table.concat of 200,000 pieces: %q %v after %s", got, err, time.Since(start))
	}
	if _, err := h.Eval(context.Background(), `table.concat({1, {}, 3})`); err == nil || !strings.Contains(err.Error(), "invalid value (table) at index 2 in table for concat") {
		t.Errorf("table.concat of a table: %v", err)
	}
	// Sorting works as before.
	if got, err := h.Eval(context.Background(), `local t = {3, 1, 2} table.sort(t) local u = {"b", "c", "a"} table.sort(u, function(a, b) return a > b end) return table.concat(t, ",") .. " " .. table.concat(u, ",")`); err != nil || got != "1,2,3 c,b,a" {
		t.Errorf("plain sort: %q %v", got, err)
	}
}

// TestSubstringsDoNotKeepTheirString: string.sub and the pattern
// functions' captures were slices of their string in Go, so a script
// keeping one byte of a 2 MiB string from each call kept the 2 MiB,
// counted as one byte by the retained-memory walk: 100 calls held 200 MiB
// under a 16 MiB limit. They are copies now.
func TestSubstringsDoNotKeepTheirString(t *testing.T) {
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	for what, keep := range map[string]string{
		"sub":    `s:sub(1, 1)`,
		"match":  `s:match("^.")`,
		"find":   `select(3, s:find("^(.)"))`,
		"gmatch": `(function() for c in s:gmatch("^.") do return c end end)()`,
		"gsub":   `(function() local got s:gsub("^.", function(c) got = c end) return got end)()`,
	} {
		t.Run(what, func(t *testing.T) {
			dir := writeScripts(t, map[string]string{
				"resource/hoard.lua": agent("hoard", `keep = keep or {}
  local s = string.rep(tostring(#keep), 2 * 1024 * 1024)
  keep[#keep + 1] = `+keep+`
  return "ok", tostring(#keep)`),
			})
			h := newHost(t, lua.Config{Paths: []string{dir}, PoolSize: 1, MemoryLimit: 16 << 20})
			before := heap()
			for range 100 {
				if out, err := h.RunAgent(context.Background(), "hoard", "monitor", nil); err != nil || out.Status != lua.StatusOK {
					t.Fatalf("hoard: %v %q %v", out.Status, out.Message, err)
				}
			}
			if grew := int64(heap()) - int64(before); grew > 48<<20 {
				t.Errorf("100 calls each keeping one byte of a 2 MiB string grew the heap by %d MiB", grew>>20)
			}
		})
	}
}

// TestUngrantedCallsLeaveVMsForGranted: ungranted handlers (one worker
// each) sleeping to their deadline took every VM of the pool, so a
// shipped or granted agent's monitor found none before its deadline: a
// failed monitor, a restart or a failover the handlers had no grant to
// ask for. Ungranted calls get at most PoolSize - PoolSize/4 VMs.
func TestUngrantedCallsLeaveVMsForGranted(t *testing.T) {
	files := map[string]string{}
	for i := range 4 {
		name := fmt.Sprintf("sleeper%d", i)
		files["handler/"+name+".lua"] = `local M = {}
function M.meta() return { name = "` + name + `", description = "sleeps", events = {"*"} } end
function M.handle() require("corral").sleep(3) return true end
return M
`
	}
	plain := writeScripts(t, files)
	granted := writeScripts(t, map[string]string{"resource/quick.lua": agent("quick", `return "ok"`)})
	h := newHost(t, lua.Config{Paths: []string{plain, granted}, Grant: []string{granted}, PoolSize: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = h.Handle(ctx, fmt.Sprintf("sleeper%d", i), map[string]any{"kind": "x"})
		}()
	}
	defer wg.Wait()
	waitBusy(t, h, 3)
	// Give the fourth a chance to take the last VM (it must not).
	for end := time.Now().Add(500 * time.Millisecond); h.Busy() < 4 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	mctx, mcancel := context.WithTimeout(context.Background(), time.Second)
	defer mcancel()
	if out, err := h.RunAgent(mctx, "quick", "monitor", nil); err != nil || out.Status != lua.StatusOK {
		t.Errorf("the granted monitor while ungranted handlers sleep: %v %q %v; want ok", out.Status, out.Message, err)
	}
}
