package node

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/lua"
)

// This file keeps the counters /metrics shows beyond the cores' own: config
// DB writes, fence device calls and operations, Lua calls and their
// latency. They are counted where the node does the work (off the loop
// for Lua and fence calls), under one mutex.

// LatencyBuckets are the upper bounds, in seconds, of the Lua call latency
// histogram: a Lua monitor takes microseconds, an OCF one milliseconds, a
// fence device seconds.
var LatencyBuckets = []float64{0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60}

// GroupStates and ResourceStates are the states /metrics always shows
// (0 when no group or resource is in one).
var (
	GroupStates    = []string{"online", "offline", "starting", "stopping", "failed", "blocked"}
	ResourceStates = []string{"stopped", "starting", "started", "stopping", "failed", "stop_failed", "blocked"}
)

// Count is one labelled counter.
type Count struct {
	Labels []string // label values, in the order the metric names them
	Value  uint64
}

// Histogram is one latency histogram: Counts[i] calls took at most
// LatencyBuckets[i] (not cumulative), Count all of them.
type Histogram struct {
	Labels []string
	Counts []uint64
	Count  uint64
	Sum    float64 // seconds
}

// counters are the node's own counters (Node.counts).
type counters struct {
	mu         sync.Mutex
	cdbWrites  map[string]uint64    // result
	fenceCalls map[[2]string]uint64 // action, result
	fenceOps   map[string]uint64    // fence event kind
	luaCalls   map[[2]string]uint64 // kind, result
	luaLatency map[string]*Histogram
}

func (c *counters) init() {
	c.cdbWrites = map[string]uint64{}
	c.fenceCalls = map[[2]string]uint64{}
	c.fenceOps = map[string]uint64{}
	c.luaCalls = map[[2]string]uint64{}
	c.luaLatency = map[string]*Histogram{}
}

// cdbWrite counts one config DB transaction this node proposed, by result:
// ok, condition_failed (compare-and-set lost), no_quorum, error.
func (c *counters) cdbWrite(res cdb.Result, err error) {
	result := "ok"
	var nq cdb.ErrNoQuorum
	switch {
	case errors.As(err, &nq):
		result = "no_quorum"
	case err != nil:
		result = "error"
	case !res.OK:
		result = "condition_failed"
	}
	c.mu.Lock()
	c.cdbWrites[result]++
	c.mu.Unlock()
}

func (c *counters) fenceCall(action string, ok bool) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	c.mu.Lock()
	c.fenceCalls[[2]string{action, result}]++
	c.mu.Unlock()
}

func (c *counters) fenceOp(kind string) {
	c.mu.Lock()
	c.fenceOps[kind]++
	c.mu.Unlock()
}

// luaCall counts one Lua call of a script kind (resource, fence, policy,
// handler) and its latency; result is ok, failed, config or timeout.
func (c *counters) luaCall(kind lua.Kind, result string, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.luaCalls[[2]string{string(kind), result}]++
	h := c.luaLatency[string(kind)]
	if h == nil {
		h = &Histogram{Labels: []string{string(kind)}, Counts: make([]uint64, len(LatencyBuckets))}
		c.luaLatency[string(kind)] = h
	}
	s := took.Seconds()
	if i := sort.SearchFloat64s(LatencyBuckets, s); i < len(LatencyBuckets) {
		h.Counts[i]++
	}
	h.Count++
	h.Sum += s
}

// luaResult names a call's outcome for the counters.
func luaResult(ctx context.Context, out lua.Outcome, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || out.Status == lua.StatusTimeout:
		return "timeout"
	case err != nil || out.Status == lua.StatusFailed:
		return "failed"
	case out.Status == lua.StatusConfig:
		return "config"
	default:
		return "ok"
	}
}

// timedExecutor is the Lua host as the resource manager's executor, with
// each call counted.
type timedExecutor struct {
	n    *Node
	host *lua.Host
}

func (e timedExecutor) RunAgent(ctx context.Context, agent, action string, params map[string]string) (Outcome, error) {
	start := time.Now()
	out, err := e.host.RunAgent(ctx, agent, action, params)
	e.n.counts.luaCall(lua.KindResource, luaResult(ctx, out, err), time.Since(start))
	return out, err
}

func sortedCounts[K comparable](m map[K]uint64, labels func(K) []string) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{Labels: labels(k), Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].Labels, out[j].Labels) < 0 })
	return out
}

// snapshot fills m's node counters.
func (c *counters) snapshot(m *Metrics) {
	c.mu.Lock()
	defer c.mu.Unlock()
	one := func(k string) []string { return []string{k} }
	two := func(k [2]string) []string { return []string{k[0], k[1]} }
	m.CDBWrites = sortedCounts(c.cdbWrites, one)
	m.FenceCalls = sortedCounts(c.fenceCalls, two)
	m.FenceOps = sortedCounts(c.fenceOps, one)
	m.LuaCalls = sortedCounts(c.luaCalls, two)
	for _, k := range sortedKeys(c.luaLatency) {
		h := *c.luaLatency[k]
		h.Counts = slices.Clone(h.Counts)
		m.LuaLatency = append(m.LuaLatency, h)
	}
}

// byState counts states, with every state of all at 0 at least.
func byState(all []string, states []string) []Count {
	m := map[string]uint64{}
	for _, s := range all {
		m[s] = 0
	}
	for _, s := range states {
		m[s]++
	}
	return sortedCounts(m, func(k string) []string { return []string{k} })
}
