package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/corral-ha/corral/core/node"
)

// Node is what the API needs from the running node (*node.Node has it).
type Node interface {
	// StatusDoc returns the node's status document; node.ErrClosed once
	// the node has stopped.
	StatusDoc() (node.Status, error)
}

// Error is the body of every error response.
type Error struct {
	Error string `json:"error"`
	Hint  string `json:"hint,omitempty"`
}

// route is one endpoint: a path and a handler per method.
type route struct {
	path    string
	methods map[string]http.HandlerFunc
	summary string
}

// Handler serves the admin API over a node.
type Handler struct {
	n      Node
	routes map[string]route
}

var _ http.Handler = (*Handler)(nil)

// New returns the admin API's handler for n.
func New(n Node) *Handler {
	h := &Handler{n: n, routes: map[string]route{}}
	h.add(route{path: "/v1/status", summary: "GET /v1/status",
		methods: map[string]http.HandlerFunc{http.MethodGet: h.status}})
	return h
}

func (h *Handler) add(r route) { h.routes[r.path] = r }

// ServeHTTP dispatches on the path, then the method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, ok := h.routes[path]
	if !ok {
		h.notFound(w, r)
		return
	}
	f, ok := rt.methods[r.Method]
	if !ok && r.Method == http.MethodHead {
		f, ok = rt.methods[http.MethodGet]
	}
	if !ok {
		allow := rt.allowed()
		w.Header().Set("Allow", strings.Join(allow, ", "))
		WriteError(w, http.StatusMethodNotAllowed,
			r.Method+" is not allowed on "+path,
			"use "+strings.Join(allow, " or ")+" "+path)
		return
	}
	f(w, r)
}

func (rt route) allowed() []string {
	var ms []string
	for m := range rt.methods {
		ms = append(ms, m)
	}
	sort.Strings(ms)
	return ms
}

// endpoints lists the API's endpoints, for hints.
func (h *Handler) endpoints() []string {
	var out []string
	for _, rt := range h.routes {
		out = append(out, rt.summary)
	}
	sort.Strings(out)
	return out
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	hint := "this node serves " + strings.Join(h.endpoints(), ", ")
	if !strings.HasPrefix(r.URL.Path, "/v1/") {
		hint = "paths are versioned (/v1/...): " + hint
	}
	WriteError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path, hint+"; `corral shell` speaks this API for you")
}

func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	st, err := h.n.StatusDoc()
	if err != nil {
		if errors.Is(err, node.ErrClosed) {
			WriteError(w, http.StatusServiceUnavailable, "the node is shutting down",
				"start it again (corral agent, or corral demo for the local cluster)")
			return
		}
		WriteError(w, http.StatusInternalServerError, "status: "+err.Error(), "see the agent's log")
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

// WriteJSON writes v as the JSON body of a response with the given status.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError writes an Error response.
func WriteError(w http.ResponseWriter, code int, msg, hint string) {
	WriteJSON(w, code, Error{Error: msg, Hint: hint})
}
