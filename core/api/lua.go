package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/lua"
)

// LuaNode is what the Lua endpoints need beyond Node (*node.Node has it).
// A Node without it answers them with 501.
type LuaNode interface {
	// Lua is the node's Lua host.
	Lua() *lua.Host
	// LuaStats returns the pool's gauges and the event handlers' counters.
	LuaStats() node.LuaStats
}

var _ LuaNode = (*node.Node)(nil)

// evalTimeout bounds POST /v1/lua/eval: the shell's lua command is for
// quick looks (the shell's client waits 10 s for an answer); automation
// that takes longer is `lua run FILE`, in the shell's own process.
const evalTimeout = 5 * time.Second

// The API's request and answer bodies are defined in core/apitypes (so
// the shell reads them without importing the driver).
type (
	// AgentsDoc is apitypes.AgentsDoc.
	AgentsDoc = apitypes.AgentsDoc
	// EvalRequest is apitypes.EvalRequest.
	EvalRequest = apitypes.EvalRequest
	// EvalResult is apitypes.EvalResult.
	EvalResult = apitypes.EvalResult
	// ReloadResult is apitypes.ReloadResult.
	ReloadResult = apitypes.ReloadResult
)

// restartNeeder is the optional part of a Node that says which config
// changes need a restart (*node.Node has it).
type restartNeeder interface {
	RestartNeeded() []string
}

// addLua registers the Lua endpoints.
func (h *Handler) addLua() {
	h.add("/v1/agents", "GET /v1/agents[?kind=resource|fence|policy|handler]",
		map[string]http.HandlerFunc{http.MethodGet: h.agents})
	h.add("/v1/lua/eval", "POST /v1/lua/eval {code[, session]} | {session, end}", map[string]http.HandlerFunc{http.MethodPost: h.luaEval})
	h.add("/v1/lua/reload", "POST /v1/lua/reload", map[string]http.HandlerFunc{http.MethodPost: h.luaReload})
}

// luaNode returns the node's Lua side, or answers 501.
func (h *Handler) luaNode(w http.ResponseWriter) (LuaNode, bool) {
	ln, ok := h.n.(LuaNode)
	if !ok || ln.Lua() == nil {
		WriteError(w, http.StatusNotImplemented, "this node has no Lua host", "run a corral agent built with Lua (every release is)")
		return nil, false
	}
	return ln, true
}

func (h *Handler) agents(w http.ResponseWriter, r *http.Request) {
	ln, ok := h.luaNode(w)
	if !ok {
		return
	}
	kinds := lua.Kinds
	for k := range r.URL.Query() {
		if k != "kind" {
			errorf(w, http.StatusBadRequest, "use ?kind=resource, fence, policy or handler", "unknown query parameter %q", k)
			return
		}
	}
	if k := r.URL.Query().Get("kind"); k != "" {
		if !slices.Contains(lua.Kinds, lua.Kind(k)) {
			errorf(w, http.StatusBadRequest, "use ?kind=resource, fence, policy or handler", "no script kind %q", k)
			return
		}
		kinds = []lua.Kind{lua.Kind(k)}
	}
	doc := AgentsDoc{Scripts: []lua.Meta{}, Lua: ln.LuaStats()}
	for _, k := range kinds {
		scripts := append(lua.Builtins(k), ln.Lua().Scripts(k)...) // built-in agents (disk) have reserved names
		slices.SortStableFunc(scripts, func(a, b lua.Meta) int { return strings.Compare(a.Name, b.Name) })
		doc.Scripts = append(doc.Scripts, scripts...)
		doc.Scripts = append(doc.Scripts, ln.Lua().Broken(k)...) // Meta.Broken says why
	}
	for i := range doc.Scripts {
		if doc.Scripts[i].Parameters == nil {
			doc.Scripts[i].Parameters = []lua.Param{}
		}
	}
	if doc.Lua.Handlers == nil {
		doc.Lua.Handlers = []node.HandlerStats{}
	}
	WriteJSON(w, http.StatusOK, doc)
}

func (h *Handler) luaEval(w http.ResponseWriter, r *http.Request) {
	ln, ok := h.luaNode(w)
	if !ok {
		return
	}
	const example = `{"code": "1+1"}`
	var req EvalRequest
	if !decodeBody(w, r, &req, false, example) {
		return
	}
	if req.End {
		if req.Session == "" {
			WriteError(w, http.StatusBadRequest, "end needs the session to end", `send {"session": "ID", "end": true}`)
			return
		}
		ln.Lua().EndSession(req.Session)
		WriteJSON(w, http.StatusOK, EvalResult{})
		return
	}
	if strings.TrimSpace(req.Code) == "" {
		WriteError(w, http.StatusBadRequest, "no code to evaluate", "send e.g. "+example)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), evalTimeout)
	defer cancel()
	var out string
	var err error
	if req.Session != "" {
		out, err = ln.Lua().EvalSession(ctx, req.Session, req.Code)
	} else {
		out, err = ln.Lua().Eval(ctx, req.Code)
	}
	if err != nil {
		switch {
		case errors.Is(err, lua.ErrClosed):
			nodeError(w, "lua", node.ErrClosed)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			errorf(w, http.StatusUnprocessableEntity, "the node's lua command is for quick looks; run long automation with `lua run FILE` in the shell",
				"stopped after %s: %v", evalTimeout, err)
		default:
			WriteError(w, http.StatusUnprocessableEntity, err.Error(),
				"fix the code; it runs in the node's sandbox (the corral module reads the cluster; no exec, fs or net, no changes: use the shell's commands or `lua run FILE`)")
		}
		return
	}
	WriteJSON(w, http.StatusOK, EvalResult{Output: out})
}

func (h *Handler) luaReload(w http.ResponseWriter, r *http.Request) {
	ln, ok := h.luaNode(w)
	if !ok {
		return
	}
	var none struct{}
	if !decodeBody(w, r, &none, true, "{}") {
		return
	}
	ch, err := ln.Lua().ReloadChanges()
	if err != nil {
		if errors.Is(err, lua.ErrClosed) {
			nodeError(w, "lua", node.ErrClosed)
			return
		}
		WriteError(w, http.StatusUnprocessableEntity, "reload failed: "+err.Error(),
			"fix the file at that line and reload; until then the scripts loaded before stay in use")
		return
	}
	res := ReloadResult{Changes: ch, Message: reloadMessage(ch)}
	if rn, ok := h.n.(restartNeeder); ok {
		res.Restart = rn.RestartNeeded()
	}
	for _, l := range []*[]string{&res.Added, &res.Removed, &res.Changed} {
		if *l == nil {
			*l = []string{}
		}
	}
	WriteJSON(w, http.StatusOK, res)
}

// reloadMessage says what a reload changed, in words.
func reloadMessage(ch lua.Changes) string { return node.ReloadMessage(ch) }

// luaMetrics writes the Lua host's families into /metrics.
func (h *Handler) luaMetrics(p promWriter) {
	ln, ok := h.n.(LuaNode)
	if !ok || ln.Lua() == nil {
		return
	}
	st := ln.LuaStats()
	p.one("corral_lua_vms", "gauge", "Lua VMs the pool holds now.", float64(st.VMs))
	p.one("corral_lua_busy", "gauge", "Lua calls running now.", float64(st.Busy))
	p.one("corral_lua_handler_queued", "gauge", "Events waiting for the event handlers.", float64(st.Queued))
	p.one("corral_lua_handler_events_total", "counter", "Events given to the event handlers.", float64(st.Events))
	p.one("corral_lua_handler_dropped_total", "counter", "Events dropped because the event handlers were too slow (queue full).", float64(st.Dropped))
	p.family("corral_lua_handler_calls_total", "counter", "Event handler calls, by handler and result.")
	for _, hs := range st.Handlers {
		ok := hs.Calls - hs.Failures - hs.Timeouts
		p.sample("corral_lua_handler_calls_total", float64(ok), "handler", hs.Name, "result", "ok")
		p.sample("corral_lua_handler_calls_total", float64(hs.Failures), "handler", hs.Name, "result", "failed")
		p.sample("corral_lua_handler_calls_total", float64(hs.Timeouts), "handler", hs.Name, "result", "timeout")
	}
	p.family("corral_lua_handler_disabled", "gauge", "1 if the event handler was disabled for passing its deadline too often (reload enables it).")
	for _, hs := range st.Handlers {
		p.sample("corral_lua_handler_disabled", b2f(hs.Disabled), "handler", hs.Name)
	}
}

// lastSeqer is the optional part of a Node that serves ?since=now.
type lastSeqer interface {
	LastEventSeq() uint64
}

// sinceNow turns GET /v1/events?since=now into since=<the newest event's
// seq>, so a stream (what the shell's lua run waits for events with)
// starts from now. It answers the request itself when it cannot.
func (h *Handler) sinceNow(w http.ResponseWriter, r *http.Request) bool {
	q := r.URL.Query()
	if q.Get("since") != "now" {
		return true
	}
	ls, ok := h.n.(lastSeqer)
	if !ok {
		WriteError(w, http.StatusBadRequest, "since=now is not served by this node", "give since=N, an event sequence number")
		return false
	}
	q.Set("since", strconv.FormatUint(ls.LastEventSeq(), 10))
	r.URL.RawQuery = q.Encode()
	return true
}
