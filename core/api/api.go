package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/transport"
)

// Node is what the API needs from the running node (*node.Node has it).
type Node interface {
	// StatusDoc returns the node's status document; node.ErrClosed once
	// the node has stopped.
	StatusDoc() (node.Status, error)
	// QuorumDoc returns the installed view's quorum arithmetic.
	QuorumDoc() (node.QuorumStatus, error)
	// Events returns stored events with seq > after, oldest first, at most
	// limit (0: all).
	Events(after uint64, limit int) ([]node.Event, error)
	// Subscribe streams new events until the returned function is called.
	Subscribe(buf int) (<-chan node.Event, func())
	// SetNodeState asks a node, by name, for online, paused or leaving.
	SetNodeState(name string, s membership.State) error
	// Leave makes this node leave the cluster cleanly and waits for it.
	Leave(ctx context.Context) error
	// FaultInjection reports whether [debug] fault_injection is on.
	FaultInjection() bool
	// Faults is the transport's fault injector.
	Faults() transport.FaultInjector
	// NodeAddrs returns a configured node's link IP addresses.
	NodeAddrs(name string) ([]netip.Addr, bool)
	// Metrics returns the counters /metrics exposes.
	Metrics() (node.Metrics, error)
	// CDBGet, CDBList and CDBHistory read this node's state of the
	// configuration database (stale: this node is not quorate);
	// CDBGetLinear and CDBListLinear read it linearizably (every update
	// acknowledged before the call is seen); CDBTxn writes it and returns
	// once the update is durable on every member of the primary view.
	CDBGet(key string) (kv cdb.KV, found, stale bool, err error)
	CDBList(prefix string) (kvs []cdb.KV, rev uint64, stale bool, err error)
	CDBGetLinear(ctx context.Context, key string) (kv cdb.KV, found bool, err error)
	CDBListLinear(ctx context.Context, prefix string) (kvs []cdb.KV, rev uint64, err error)
	CDBHistory(n int) ([]cdb.Change, error)
	CDBTxn(ctx context.Context, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error)
	// CDBTxnAs is CDBTxn under the caller's request id (client, seq): a
	// retry with the same id gets the original result, applied once.
	CDBTxnAs(ctx context.Context, client string, seq uint64, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error)
	// CDBWatch subscribes to the changes under prefix (from revision start
	// when > 0; cdb.ErrCompacted when those are gone).
	CDBWatch(prefix string, start uint64, buf int) (*node.CDBWatch, error)
}

var _ Node = (*node.Node)(nil)

// Error is apitypes.Error (the API types are defined there, so the shell reads
// them without importing the driver).
type Error = apitypes.Error

// route is one endpoint: a path pattern ({name} matches one segment) and a
// handler per method.
type route struct {
	path    string
	segs    []string
	methods map[string]http.HandlerFunc
	summary string
}

// Handler serves the admin API over a node.
type Handler struct {
	n      Node
	routes []route

	unauthorized atomic.Uint64 // TCP requests refused for a missing or wrong token
	lockSessions atomic.Int64  // lock sessions open (dlm.go)

	mu           sync.Mutex
	eventKind    map[string]uint64 // events seen since start, by kind
	lockCount    map[string]uint64 // lock sessions' requests, completions and errors, by kind (dlm.go)
	lastRecovery string            // the newest dlm_recovered's took
	resFailed    map[string]string // a resource's last failure since it last started (disk.go)
	done         chan struct{}
	closeOnce    sync.Once
	stopSub      func()
}

var _ http.Handler = (*Handler)(nil)

// New returns the admin API's handler for n. Close it when done: it
// follows the event stream (for /metrics) and ends open event streams.
func New(n Node) *Handler {
	h := &Handler{n: n, eventKind: map[string]uint64{}, lockCount: map[string]uint64{}, resFailed: map[string]string{},
		done: make(chan struct{})}
	get := func(f http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: f}
	}
	post := func(f http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodPost: f}
	}
	h.add("/v1/status", "GET /v1/status", get(h.status))
	h.add("/v1/nodes", "GET /v1/nodes", get(h.nodes))
	h.add("/v1/nodes/{name}", "GET /v1/nodes/NAME", get(h.nodeOne))
	h.add("/v1/nodes/{name}/pause", "POST /v1/nodes/NAME/pause", post(h.action(membership.StatePaused, "pause")))
	h.add("/v1/nodes/{name}/resume", "POST /v1/nodes/NAME/resume", post(h.action(membership.StateOnline, "resume")))
	h.add("/v1/nodes/{name}/leave", "POST /v1/nodes/NAME/leave", post(h.action(membership.StateLeaving, "leave")))
	h.add("/v1/links", "GET /v1/links", get(h.links))
	h.add("/v1/quorum", "GET /v1/quorum", get(h.quorum))
	h.add("/v1/views", "GET /v1/views", get(h.views))
	h.add("/v1/events", "GET /v1/events?since=N[&limit=M][&follow=1]", get(h.events))
	h.add("/v1/debug/faults", "GET|POST|DELETE /v1/debug/faults", map[string]http.HandlerFunc{
		http.MethodGet: h.faultList, http.MethodPost: h.faultAdd, http.MethodDelete: h.faultClear})
	h.add("/v1/debug/faults/{id}", "DELETE /v1/debug/faults/ID", map[string]http.HandlerFunc{
		http.MethodDelete: h.faultRemove})
	h.add("/metrics", "GET /metrics", get(h.metrics))
	h.add("/v1/dns", "GET /v1/dns", get(h.dnsRecords))
	h.add("/v1/dns/query", "GET /v1/dns/query?name=N[&type=T]", get(h.dnsQuery))
	h.add("/v1/cdb", "GET /v1/cdb?prefix=P, GET|PUT|POST|DELETE /v1/cdb/KEY", nil)
	h.add("/v1/cdb-history", "GET /v1/cdb-history[?n=N]", get(h.cdbHistory))
	h.add("/v1/cdb-txn", "POST /v1/cdb-txn {if, ops}", map[string]http.HandlerFunc{http.MethodPost: h.cdbTxn})
	h.add("/v1/cdb-watch", "GET /v1/cdb-watch?prefix=P[&start=R] (Server-Sent Events)", get(h.cdbWatch))
	h.addCRM()     // crm.go
	h.addFence()   // fence.go
	h.addExplain() // explain.go
	h.addVerify()  // verify.go
	h.addLua()     // lua.go
	h.addDLM()     // dlm.go
	h.addDisk()    // disk.go
	ch, stop := n.Subscribe(1024)
	h.stopSub = stop
	go h.count(ch)
	return h
}

// Close stops following the event stream and ends open event streams.
func (h *Handler) Close() {
	h.closeOnce.Do(func() {
		close(h.done)
		h.stopSub()
	})
}

func (h *Handler) count(ch <-chan node.Event) {
	for {
		select {
		case e := <-ch:
			h.mu.Lock()
			h.eventKind[e.Kind]++
			if e.Kind == "dlm_recovered" {
				h.lastRecovery = e.Took
			}
			h.noteResource(e) // disk.go
			h.mu.Unlock()
		case <-h.done:
			return
		}
	}
}

func (h *Handler) add(path, summary string, methods map[string]http.HandlerFunc) {
	h.routes = append(h.routes, route{path: path, segs: strings.Split(path, "/"), methods: methods, summary: summary})
}

// match finds the route for path and fills the request's path values.
func (h *Handler) match(r *http.Request, path string) (route, bool) {
	segs := strings.Split(path, "/")
	for _, rt := range h.routes {
		if len(rt.segs) != len(segs) {
			continue
		}
		ok := true
		for i, s := range rt.segs {
			if strings.HasPrefix(s, "{") {
				if segs[i] == "" {
					ok = false
					break
				}
				continue
			}
			if s != segs[i] {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		for i, s := range rt.segs {
			if strings.HasPrefix(s, "{") {
				r.SetPathValue(strings.Trim(s, "{}"), segs[i])
			}
		}
		return rt, true
	}
	return route{}, false
}

// ServeHTTP dispatches on the path, then the method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	if path == "/v1/cdb" || strings.HasPrefix(path, "/v1/cdb/") {
		h.cdb(w, r, path)
		return
	}
	rt, ok := h.match(r, path)
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

// RequireToken wraps the handler for the TCP listener: a request must
// carry "Authorization: Bearer TOKEN"; others get 401, are counted
// (corral_api_unauthorized_total) and their connection is closed (no
// keep-alive for a client without the token).
func (h *Handler) RequireToken(token string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if got == "" || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			h.unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Bearer realm="corral"`)
			msg := "missing bearer token"
			if got != "" {
				msg = "wrong bearer token"
			}
			w.Header().Set("Connection", "close")
			WriteError(w, http.StatusUnauthorized, msg,
				"send 'Authorization: Bearer TOKEN' with the token from the node's api.token_file, or use the Unix socket (admin_socket)")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Unauthorized returns how many requests RequireToken refused.
func (h *Handler) Unauthorized() uint64 { return h.unauthorized.Load() }

func (rt route) allowed() []string {
	return slices.Sorted(maps.Keys(rt.methods))
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

// nodeError answers a failed call to the node.
func nodeError(w http.ResponseWriter, what string, err error) {
	if errors.Is(err, node.ErrClosed) {
		WriteError(w, http.StatusServiceUnavailable, "the node is shutting down",
			"start it again (corral agent, or corral demo for the local cluster)")
		return
	}
	WriteError(w, http.StatusInternalServerError, what+": "+err.Error(), "see the agent's log")
}

func (h *Handler) status(w http.ResponseWriter, _ *http.Request) {
	st, err := h.n.StatusDoc()
	if err != nil {
		nodeError(w, "status", err)
		return
	}
	WriteJSON(w, http.StatusOK, st)
}

func (h *Handler) quorum(w http.ResponseWriter, _ *http.Request) {
	q, err := h.n.QuorumDoc()
	if err != nil {
		nodeError(w, "quorum", err)
		return
	}
	WriteJSON(w, http.StatusOK, q)
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decodeBody decodes a JSON request body strictly into v: unknown fields,
// trailing data and bad JSON are errors. An empty body leaves v alone when
// optional is set.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool, example string) bool {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		WriteError(w, http.StatusBadRequest, "reading the request body: "+err.Error(), "send the body again")
		return false
	}
	if len(data) > maxBody {
		WriteError(w, http.StatusRequestEntityTooLarge, "the request body is larger than 1 MiB", "send a small JSON object, e.g. "+example)
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		if optional {
			return true
		}
		WriteError(w, http.StatusBadRequest, "the request needs a JSON body", "send e.g. "+example)
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteError(w, http.StatusBadRequest, "bad JSON body: "+err.Error(), "send e.g. "+example)
		return false
	}
	if dec.More() {
		WriteError(w, http.StatusBadRequest, "bad JSON body: more than one JSON value", "send one object, e.g. "+example)
		return false
	}
	return true
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

func errorf(w http.ResponseWriter, code int, hint, format string, args ...any) {
	WriteError(w, code, fmt.Sprintf(format, args...), hint)
}
