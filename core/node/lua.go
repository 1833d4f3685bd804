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

	"github.com/corral-ha/corral/core/apitypes"
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
	host         *lua.Host
	timeout      time.Duration // one handler call's deadline
	disableAfter int           // calls in a row past timeout that disable a handler

	queue   chan Event    // the handlers' subscription to the event log
	last    atomic.Uint64 // the last event seq whose handler calls have all returned
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	workers sync.WaitGroup // one per handler
	events  atomic.Uint64  // events whose handler calls have all returned (or that had none)
	dropped atomic.Uint64  // events lost because a queue was full (the log's, or a handler's)

	mu       sync.Mutex
	handlers map[string]*handlerQueue
	actions  map[string]LuaAction
	status   map[string]func(ctx context.Context) (any, error)
}

// handlerQueue is one event handler's own queue and worker, so a slow or
// looping handler delays only itself.
type handlerQueue struct {
	q     chan *pendingEvent
	stats HandlerStats // under luaDriver.mu
	// streak counts calls in a row past the deadline; disabledGen is the
	// Lua host's generation when it was disabled (a reload enables it).
	streak      int
	disabledGen uint64
}

// pendingEvent is an event handed to handler queues; it is done when the
// last call made for it returns.
type pendingEvent struct {
	e       Event
	ev      map[string]any
	pending atomic.Int32
}

// The API documents are defined in core/apitypes (so the shell reads them
// without importing the driver).
type (
	// HandlerStats is apitypes.HandlerStats.
	HandlerStats = apitypes.HandlerStats
	// LuaStats is apitypes.LuaStats.
	LuaStats = apitypes.LuaStats
)

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
	d.disableAfter = lc.HandlerDisableAfter
	if d.disableAfter <= 0 {
		d.disableAfter = config.Default().Lua.HandlerDisableAfter
	}
	d.handlers = map[string]*handlerQueue{}
	d.actions = map[string]LuaAction{}
	d.status = map[string]func(ctx context.Context) (any, error){}
	h, err := lua.New(lua.Config{Paths: lc.Paths, Grant: lc.Grant, PoolSize: lc.PoolSize,
		Log: n.log.With("component", "lua"), Cluster: nodeCluster{n}, Locks: n, SkipBroken: true})
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
	d.workers.Wait()
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
	for _, hq := range d.handlers {
		hs := hq.stats
		hs.Queued = len(hq.q)
		st.Queued += hs.Queued
		st.Handlers = append(st.Handlers, hs)
	}
	d.mu.Unlock()
	sort.Slice(st.Handlers, func(i, j int) bool { return st.Handlers[i].Name < st.Handlers[j].Name })
	return st
}

// dispatch hands every event to the queue of each handler subscribed to
// its kind, in the order of the stream; each handler has its own queue
// ([lua] handler_queue) and worker, so one that is slow, loops or hangs
// delays only itself. It never holds the loop up: the event log hands
// events to a bounded queue and a full queue drops (and counts) what does
// not fit; the drops are logged here, at most once a second.
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
			n.fanOut(e)
			report()
		}
	}
}

// fanOut puts e on the queue of each handler subscribed to its kind. The
// event counts as done (Events, LastSeq) once every call made for it has
// returned: Queued 0 and Events+Dropped at the stream's last seq then mean
// no call is left to make or still running.
func (n *Node) fanOut(e Event) {
	d := &n.lua
	names := d.host.Subscribers(e.Kind)
	if len(names) == 0 {
		n.eventDone(e)
		return
	}
	ev, err := eventMap(e)
	if err != nil {
		n.log.Error("lua: event not given to handlers", "seq", e.Seq, "err", err)
		n.eventDone(e)
		return
	}
	pe := &pendingEvent{e: e, ev: ev}
	pe.pending.Store(1) // fanOut's own hold, so no worker finishes it early
	gen := d.host.Generation()
	for _, name := range names {
		d.mu.Lock()
		hq := d.handlers[name]
		if hq == nil {
			hq = &handlerQueue{q: make(chan *pendingEvent, cap(d.queue)), stats: HandlerStats{Name: name}}
			d.handlers[name] = hq
			d.workers.Add(1)
			go n.runHandler(hq)
		}
		if hq.stats.Disabled && hq.disabledGen != gen {
			hq.stats.Disabled, hq.streak = false, 0
			n.log.Info("lua: event handler enabled again after a reload", "handler", name)
		}
		disabled := hq.stats.Disabled
		d.mu.Unlock()
		if disabled {
			continue
		}
		pe.pending.Add(1)
		select {
		case hq.q <- pe:
		default:
			pe.pending.Add(-1)
			d.dropped.Add(1)
			d.mu.Lock()
			hq.stats.Dropped++
			d.mu.Unlock()
		}
	}
	n.finish(pe)
}

// finish releases one hold on pe; the last one marks the event done.
func (n *Node) finish(pe *pendingEvent) {
	if pe.pending.Add(-1) == 0 {
		n.eventDone(pe.e)
	}
}

func (n *Node) eventDone(e Event) {
	d := &n.lua
	for {
		last := d.last.Load()
		if e.Seq <= last || d.last.CompareAndSwap(last, e.Seq) {
			break
		}
	}
	d.events.Add(1)
}

// runHandler is one handler's worker: it calls the handler for each event
// of its queue, each call with its deadline, and disables the handler
// after handler_disable_after calls in a row past it.
func (n *Node) runHandler(hq *handlerQueue) {
	d := &n.lua
	defer d.workers.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case pe := <-hq.q:
			n.callHandler(hq, pe)
			n.finish(pe)
		}
	}
}

func (n *Node) callHandler(hq *handlerQueue, pe *pendingEvent) {
	d := &n.lua
	d.mu.Lock()
	name, disabled := hq.stats.Name, hq.stats.Disabled
	d.mu.Unlock()
	if disabled {
		return // disabled while the event waited
	}
	e := pe.e
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	start := time.Now()
	err := d.host.Handle(ctx, name, pe.ev)
	timedOut := errors.Is(ctx.Err(), context.DeadlineExceeded)
	n.counts.luaCall(lua.KindHandler, luaResult(ctx, lua.Outcome{}, err), time.Since(start))
	cancel()
	if d.ctx.Err() != nil {
		return // shutting down
	}
	d.mu.Lock()
	hs := &hq.stats
	hs.Calls++
	disable := false
	switch {
	case err != nil && timedOut:
		hs.Timeouts++
		hq.streak++
		disable = hq.streak >= d.disableAfter
	case err != nil:
		hs.Failures++
		hq.streak = 0
	default:
		hq.streak = 0
	}
	if err != nil {
		hs.LastError = err.Error()
	}
	if disable {
		hs.Disabled, hq.disabledGen = true, d.host.Generation()
	}
	streak := hq.streak
	d.mu.Unlock()
	if err != nil {
		n.log.Warn("lua: event handler failed", "handler", name, "seq", e.Seq, "kind", e.Kind, "err", err)
	}
	if disable {
		n.log.Error("lua: event handler disabled: it passed its deadline too many times in a row",
			"handler", name, "in_a_row", streak, "handler_timeout", d.timeout.String(),
			"hint", "fix the handler, then reload (agents handler shows it disabled)")
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
