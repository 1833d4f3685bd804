package api

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/lua"
)

const verAgent = `local M = {}
function M.meta() return { name = "ver", description = "version %s", parameters = {{ name = "port", type = "integer", default = "80" }} } end
function M.start() return "ok" end
function M.stop() return "ok" end
function M.monitor() return "ok" end
return M
`

// luaFake is a fake node with a real Lua host loading dir.
func luaFake(t *testing.T) (*apitest.Node, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "resource"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeVer(t, dir, strings.Replace(verAgent, "%s", "1", 1))
	h, err := lua.New(lua.Config{Paths: []string{dir}, PoolSize: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	f := apitest.New()
	f.LuaHost = h
	f.LuaStat = node.LuaStats{VMs: 1, PoolSize: 2, Queue: 8, Events: 5, Dropped: 2,
		Handlers: []node.HandlerStats{{Name: "log", Calls: 5, Failures: 1, Timeouts: 1}}}
	return f, dir
}

func writeVer(t *testing.T, dir, code string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "resource", "ver.lua"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAgents(t *testing.T) {
	f, dir := luaFake(t)
	h := newHandler(t, f)
	var doc AgentsDoc
	decode(t, do(t, h, http.MethodGet, "/v1/agents"), http.StatusOK, &doc)
	byName := map[string]lua.Meta{}
	var kinds []string
	for _, m := range doc.Scripts {
		byName[string(m.Kind)+"/"+m.Name] = m
		if len(kinds) == 0 || kinds[len(kinds)-1] != string(m.Kind) {
			kinds = append(kinds, string(m.Kind))
		}
	}
	if strings.Join(kinds, ",") != "resource,fence,policy,handler" {
		t.Errorf("kinds in order %v", kinds)
	}
	for _, want := range []string{"resource/dummy", "resource/process", "resource/ocf", "fence/dummy", "policy/default", "handler/log"} {
		if _, ok := byName[want]; !ok {
			t.Errorf("%s not listed", want)
		}
	}
	// the built-in served disk agent, with its parameters
	if d := byName["resource/disk"]; !d.Builtin || len(d.Parameters) != 2 || d.Parameters[0].Name != "size" || !d.Parameters[0].Required {
		t.Errorf("resource/disk: %+v", d)
	}
	ver := byName["resource/ver"]
	if ver.Description != "version 1" || ver.File != filepath.Join(dir, "resource", "ver.lua") || ver.Granted ||
		len(ver.Parameters) != 1 || ver.Parameters[0].Name != "port" || ver.Parameters[0].Type != "integer" || ver.Parameters[0].Default != "80" {
		t.Errorf("ver: %+v", ver)
	}
	if doc.Lua.Dropped != 2 || len(doc.Lua.Handlers) != 1 {
		t.Errorf("stats: %+v", doc.Lua)
	}

	decode(t, do(t, h, http.MethodGet, "/v1/agents?kind=handler"), http.StatusOK, &doc)
	if len(doc.Scripts) == 0 {
		t.Fatal("no handlers")
	}
	for _, m := range doc.Scripts {
		if m.Kind != lua.KindHandler {
			t.Errorf("?kind=handler lists %s/%s", m.Kind, m.Name)
		}
	}
	wantError(t, do(t, h, http.MethodGet, "/v1/agents?kind=agent"), http.StatusBadRequest, "resource, fence, policy or handler")
	wantError(t, do(t, h, http.MethodGet, "/v1/agents?sort=name"), http.StatusBadRequest, "unknown query parameter")

	h2 := newHandler(t, apitest.New())
	wantError(t, do(t, h2, http.MethodGet, "/v1/agents"), http.StatusNotImplemented, "no Lua host")
}

func TestLuaEval(t *testing.T) {
	f, _ := luaFake(t)
	h := newHandler(t, f)
	var res EvalResult
	decode(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"code": "1+1"}`), http.StatusOK, &res)
	if res.Output != "2" {
		t.Errorf("1+1 = %q", res.Output)
	}
	decode(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"code": "print('hi') return 'a', 3"}`), http.StatusOK, &res)
	if res.Output != "hi\na\t3" {
		t.Errorf("print and return: %q", res.Output)
	}
	wantError(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"code": "error('boom')"}`), http.StatusUnprocessableEntity, "boom")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"code": "local x = "}`), http.StatusUnprocessableEntity, "eval")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"code": "require('exec')"}`), http.StatusUnprocessableEntity, "grant")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"code": " "}`), http.StatusBadRequest, "no code")
	wantError(t, doBody(t, h, http.MethodPost, "/v1/lua/eval", `{"lua": "1"}`), http.StatusBadRequest, "unknown field")
	wantError(t, do(t, h, http.MethodGet, "/v1/lua/eval"), http.StatusMethodNotAllowed, "POST")
}

func TestLuaReload(t *testing.T) {
	f, dir := luaFake(t)
	h := newHandler(t, f)
	var res ReloadResult
	decode(t, do(t, h, http.MethodPost, "/v1/lua/reload"), http.StatusOK, &res)
	if !res.Empty() || res.Message != "reloaded: nothing changed" || res.Scripts == 0 {
		t.Errorf("unchanged: %+v", res)
	}
	writeVer(t, dir, strings.Replace(verAgent, "%s", "2", 1))
	decode(t, do(t, h, http.MethodPost, "/v1/lua/reload"), http.StatusOK, &res)
	if strings.Join(res.Changed, ",") != "resource/ver" || res.Message != "reloaded: changed resource/ver" {
		t.Errorf("edited: %+v", res)
	}
	writeVer(t, dir, "local M = {}\nfunction M.meta(\nreturn M\n")
	rec := do(t, h, http.MethodPost, "/v1/lua/reload")
	wantError(t, rec, http.StatusUnprocessableEntity, filepath.Join(dir, "resource", "ver.lua")+":")
	if m, _ := f.LuaHost.Script(lua.KindResource, "ver"); m.Description != "version 2" {
		t.Errorf("after a failed reload: %+v", m)
	}
}

func TestLuaMetrics(t *testing.T) {
	f, _ := luaFake(t)
	h := newHandler(t, f)
	rec := do(t, h, http.MethodGet, "/metrics")
	body := rec.Body.String()
	for _, want := range []string{
		"corral_lua_handler_dropped_total 2\n",
		"corral_lua_handler_events_total 5\n",
		`corral_lua_handler_calls_total{handler="log",result="ok"} 3` + "\n",
		`corral_lua_handler_calls_total{handler="log",result="timeout"} 1` + "\n",
		"corral_lua_vms ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestEventsSinceNow(t *testing.T) {
	f := apitest.New()
	h := newHandler(t, f)
	f.Emit(node.Event{Kind: "view_changed"})
	f.Emit(node.Event{Kind: "node_left", Target: "n3"})
	var evs []node.Event
	decode(t, do(t, h, http.MethodGet, "/v1/events?since=now"), http.StatusOK, &evs)
	if len(evs) != 0 {
		t.Fatalf("since=now gave old events: %+v", evs)
	}
	decode(t, do(t, h, http.MethodGet, "/v1/events?since=1"), http.StatusOK, &evs)
	if len(evs) != 1 || evs[0].Seq != 2 {
		t.Fatalf("since=1: %+v", evs)
	}
}
