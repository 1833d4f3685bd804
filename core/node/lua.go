package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/lua"
)

// This file connects the Lua host (package lua) to the node: the node owns
// one Host, built from [lua] paths, grant and pool_size; event handlers get
// the node's event stream off the loop; the corral module's Cluster reads
// the node and writes through its config DB. Lua never runs on the event
// loop: the handlers run on their own goroutine, agents and policies on
// whoever calls the Host (the resource manager's executor).

// LuaAction is a cluster action scripts on this node can call through
// corral.move, start, stop ... (Cluster.Do), with the shell's arguments.
type LuaAction func(ctx context.Context, args []string) error

// luaDriver is the node's Lua host and its event handlers' dispatcher.
type luaDriver struct {
	host    *lua.Host
	timeout time.Duration // one handler call's deadline

	queue   chan Event    // the handlers' subscription to the event log
	last    atomic.Uint64 // the last event seq the dispatcher saw
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	events  atomic.Uint64 // events taken off the queue whose handler calls have all returned
	dropped atomic.Uint64 // events lost because the queue was full

	mu       sync.Mutex
	handlers map[string]*HandlerStats
	actions  map[string]LuaAction
	status   map[string]func(ctx context.Context) (any, error)
}

// HandlerStats counts one event handler's calls.
type HandlerStats struct {
	Name      string `json:"name"`
	Calls     uint64 `json:"calls"`
	Failures  uint64 `json:"failures"` // returned false or raised an error
	Timeouts  uint64 `json:"timeouts"` // stopped at handler_timeout
	LastError string `json:"last_error,omitempty"`
}

// LuaStats is the Lua host's state for the API (/v1/agents, /metrics).
type LuaStats struct {
	VMs      int            `json:"vms"`       // VMs the pool holds now
	Busy     int            `json:"busy"`      // calls running now
	PoolSize int            `json:"pool_size"` // [lua] pool_size
	Queue    int            `json:"queue"`     // [lua] handler_queue
	Queued   int            `json:"queued"`    // events waiting for the handlers now
	Events   uint64         `json:"events"`    // events the handlers were given and are done with
	LastSeq  uint64         `json:"last_seq"`  // the last of them
	Dropped  uint64         `json:"dropped"`   // events dropped: the handlers were too slow
	Handlers []HandlerStats `json:"handlers"`  // by name
	Timeout  string         `json:"handler_timeout"`
}

// openLua builds the Lua host from [lua] and starts the handlers'
// dispatcher. A file of [lua] paths that does not load is logged with its
// file and line and listed as broken (`agents`); calls to it fail, and a
// group whose policy it is gets the built-in default. Shipped scripts
// and paths that are not directories still fail Open.
func (n *Node) openLua() error {
	lc := n.cfg.Lua
	d := &n.lua
	d.timeout = lc.HandlerTimeout.D()
	if d.timeout <= 0 { // a Config not made by config.Load
		d.timeout = config.Default().Lua.HandlerTimeout.D()
	}
	d.handlers = map[string]*HandlerStats{}
	d.actions = map[string]LuaAction{}
	d.status = map[string]func(ctx context.Context) (any, error){}
	h, err := lua.New(lua.Config{Paths: lc.Paths, Grant: lc.Grant, PoolSize: lc.PoolSize,
		Log: n.log.With("component", "lua"), Cluster: nodeCluster{n}, SkipBroken: true})
	if err != nil {
		return fmt.Errorf("[lua]: %w", err)
	}
	d.host = h
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.done = make(chan struct{})
	// The log counts what it cannot queue for the handlers.
	l := n.events
	d.queue = make(chan Event, max(lc.HandlerQueue, 1))
	l.mu.Lock()
	l.subs[d.queue] = &d.dropped
	d.last.Store(l.next - 1)
	l.mu.Unlock()
	go n.dispatch()
	return nil
}

// closeLua stops the dispatcher (a running handler is stopped) and the host.
func (n *Node) closeLua() {
	d := &n.lua
	if d.host == nil {
		return
	}
	n.events.mu.Lock()
	delete(n.events.subs, d.queue)
	n.events.mu.Unlock()
	d.cancel()
	<-d.done
	d.host.Close()
}

// Lua is the node's Lua host, for the resource manager's executor
// (RunAgent, RunFence, ChooseOwner, OnFailure) and the API (Scripts, Eval,
// ReloadChanges). Its calls block: never make one on the event loop.
func (n *Node) Lua() *lua.Host { return n.lua.host }

// SetLuaAction makes verb (move, start, stop ...) available to scripts on
// this node through the corral module (corral.move(...) is
// Do("move", args)); pause and resume are built in. f runs on the
// script's goroutine, never on the loop.
func (n *Node) SetLuaAction(verb string, f LuaAction) {
	n.lua.mu.Lock()
	defer n.lua.mu.Unlock()
	n.lua.actions[verb] = f
}

// SetLuaStatus adds a field to the status corral.status() gives scripts
// on this node (the resource manager adds "groups", as `groups --json`).
func (n *Node) SetLuaStatus(field string, f func(ctx context.Context) (any, error)) {
	n.lua.mu.Lock()
	defer n.lua.mu.Unlock()
	n.lua.status[field] = f
}

// LuaStats returns the Lua host's gauges and the handlers' counters.
func (n *Node) LuaStats() LuaStats {
	d := &n.lua
	st := LuaStats{VMs: d.host.VMs(), Busy: d.host.Busy(), PoolSize: n.cfg.Lua.PoolSize, Queue: cap(d.queue),
		Queued: len(d.queue), Events: d.events.Load(), LastSeq: d.last.Load(), Dropped: d.dropped.Load(), Timeout: d.timeout.String()}
	d.mu.Lock()
	for _, hs := range d.handlers {
		st.Handlers = append(st.Handlers, *hs)
	}
	d.mu.Unlock()
	sort.Slice(st.Handlers, func(i, j int) bool { return st.Handlers[i].Name < st.Handlers[j].Name })
	return st
}

// dispatch gives every event to the handlers subscribed to its kind, in
// the order of the stream and, for one event, of the handlers' names,
// each call with its deadline. It never holds the loop up: the event log
// hands events to a bounded queue and drops (and counts) what does not
// fit; the drops are logged here, at most once a second.
func (n *Node) dispatch() {
	d := &n.lua
	defer close(d.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var logged uint64
	report := func() {
		if total := d.dropped.Load(); total > logged {
			n.log.Warn("lua: event handlers are too slow: events dropped",
				"dropped", total-logged, "dropped_total", total, "queue", cap(d.queue),
				"hint", "make the handlers faster, or raise [lua] handler_queue or lower handler_timeout")
			logged = total
		}
	}
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-tick.C:
			report()
		case e := <-d.queue:
			// Counted once every handler call for e has returned, not
			// when it leaves the queue: Queued 0 and Events+Dropped at
			// the stream's last seq then mean no call is left to make
			// or still running (between the two, e is in neither
			// Queued nor Busy).
			n.handleEvent(e)
			d.last.Store(e.Seq)
			d.events.Add(1)
			report()
		}
	}
}

// handleEvent calls each handler subscribed to e's kind.
func (n *Node) handleEvent(e Event) {
	d := &n.lua
	names := d.host.Subscribers(e.Kind)
	if len(names) == 0 {
		return
	}
	ev, err := eventMap(e)
	if err != nil {
		n.log.Error("lua: event not given to handlers", "seq", e.Seq, "err", err)
		return
	}
	for _, name := range names {
		ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
		err := d.host.Handle(ctx, name, ev)
		timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		if d.ctx.Err() != nil {
			return // shutting down
		}
		d.mu.Lock()
		hs := d.handlers[name]
		if hs == nil {
			hs = &HandlerStats{Name: name}
			d.handlers[name] = hs
		}
		hs.Calls++
		if err != nil {
			if timedOut {
				hs.Timeouts++
			} else {
				hs.Failures++
			}
			hs.LastError = err.Error()
		}
		d.mu.Unlock()
		if err != nil {
			n.log.Warn("lua: event handler failed", "handler", name, "seq", e.Seq, "kind", e.Kind, "err", err)
		}
	}
}

// eventMap is an event as `events --json` prints it.
func eventMap(e Event) (map[string]any, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// nodeCluster is the corral module's Cluster for scripts that run on the
// node (handlers, policies, agents, the shell's lua command): it reads the
// node and writes through the node's config DB, like the admin API.
type nodeCluster struct{ n *Node }

var _ lua.Cluster = nodeCluster{}

// Status is the status document (`status --json`) with the fields added
// by SetLuaStatus.
func (c nodeCluster) Status(ctx context.Context) (map[string]any, error) {
	st, err := c.n.StatusDoc()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	c.n.lua.mu.Lock()
	extra := make(map[string]func(ctx context.Context) (any, error), len(c.n.lua.status))
	for k, f := range c.n.lua.status {
		extra[k] = f
	}
	c.n.lua.mu.Unlock()
	for _, k := range sortedKeys(extra) {
		v, err := extra[k](ctx)
		if err != nil {
			return nil, fmt.Errorf("status %s: %w", k, err)
		}
		m[k] = v
	}
	return m, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Get reads a config DB key.
func (c nodeCluster) Get(_ context.Context, key string) (string, bool, error) {
	kv, found, _, err := c.n.CDBGet(key)
	if err != nil || !found {
		return "", false, err
	}
	return string(kv.Value), true, nil
}

// List reads the config DB keys under prefix.
func (c nodeCluster) List(_ context.Context, prefix string) (map[string]string, error) {
	kvs, _, _, err := c.n.CDBList(prefix)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		out[kv.Key] = string(kv.Value)
	}
	return out, nil
}

// Set writes a config DB key and returns once it is committed.
func (c nodeCluster) Set(ctx context.Context, key, value string) error {
	_, err := c.n.CDBSet(ctx, key, []byte(value))
	return err
}

// Do runs a cluster action: pause and resume here, the others as
// SetLuaAction registered them.
func (c nodeCluster) Do(ctx context.Context, verb string, args []string) error {
	switch verb {
	case "pause", "resume":
		if len(args) != 1 {
			return fmt.Errorf("%s needs one node name", verb)
		}
		s := membership.StatePaused
		if verb == "resume" {
			s = membership.StateOnline
		}
		return c.n.SetNodeState(args[0], s)
	}
	c.n.lua.mu.Lock()
	f, ok := c.n.lua.actions[verb]
	var verbs []string
	for v := range c.n.lua.actions {
		verbs = append(verbs, v)
	}
	c.n.lua.mu.Unlock()
	if !ok {
		verbs = append(verbs, "pause", "resume")
		slices.Sort(verbs)
		return fmt.Errorf("%s is not available to scripts on this node (it has %v)", verb, verbs)
	}
	return f(ctx, args)
}

// WaitEvent returns the first event after since (0: from now) of one of
// kinds (none: any kind).
func (c nodeCluster) WaitEvent(ctx context.Context, kinds []string, since uint64) (map[string]any, error) {
	return waitEvent(ctx, c.n.events, kinds, since)
}

// waitEvent serves WaitEvent from the event log: the stored events first,
// then new ones, reading the log again when the subscription lost some.
func waitEvent(ctx context.Context, l *eventLog, kinds []string, since uint64) (map[string]any, error) {
	ch := make(chan Event, 64)
	l.mu.Lock()
	l.subs[ch] = nil
	if since == 0 {
		since = l.next - 1
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}()
	match := func(e Event) bool { return len(kinds) == 0 || slices.Contains(kinds, e.Kind) }
	last := since
	catchUp := func() (*Event, error) {
		evs, err := l.since(last, 0)
		if err != nil {
			return nil, err
		}
		for _, e := range evs {
			last = e.Seq
			if match(e) {
				return &e, nil
			}
		}
		return nil, nil
	}
	if e, err := catchUp(); e != nil || err != nil {
		if err != nil {
			return nil, err
		}
		return eventMap(*e)
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-ch:
			if e.Seq <= last {
				continue
			}
			if e.Seq > last+1 {
				found, err := catchUp()
				if err != nil {
					return nil, err
				}
				if found != nil {
					return eventMap(*found)
				}
				continue
			}
			last = e.Seq
			if match(e) {
				return eventMap(e)
			}
		}
	}
}

// LastEventSeq is the sequence number of the newest event (0: none yet),
// so a client can wait for events from now on (wait_event, since=now).
func (n *Node) LastEventSeq() uint64 {
	n.events.mu.Lock()
	defer n.events.mu.Unlock()
	return n.events.next - 1
}
