package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/lua"
)

// PolicyHost answers Lua failover policies off the event loop (the Lua
// host in production). Without one, a group's policy is answered by the
// built-in default at once.
type PolicyHost interface {
	ChooseOwner(ctx context.Context, policy, group string, candidates []string, load map[string]int) (string, error)
	OnFailure(ctx context.Context, policy, group, resource string, failures int, errText string) (string, error)
}

// crmDriver is the node's side of the resource manager (the core and its
// wiring are in core/stack): the executor's and the policy host's calls,
// off the loop, and the recurring monitors.
type crmDriver struct {
	exec     Executor
	policy   PolicyHost
	monitors map[string]uint64 // resource -> the generation of its running monitor
	monGen   uint64
	lastTOD  time.Time
}

// keyCRM holds the resource manager's Ready.Persist: this node's copy of
// who may run what (crm.EncodeKnown), given back at a restart (G4).
var keyCRM = []byte("crm")

// openCRM sets up the resource manager's executor and policy host (the
// Lua host's by default) and tells it the time of day.
func (n *Node) openCRM() {
	r := &n.crm
	r.exec = n.opt.Executor
	r.policy = n.opt.Policy
	n.openCRMLua()
	r.exec = diskExecutor{n: n, inner: r.exec} // the built-in disk agent runs here (disk.go)
	r.monitors = map[string]uint64{}
	n.crmTimeOfDay(n.now())
}

// crmTimeOfDay tells the resource manager the local time of day (for
// failback windows), once a minute.
func (n *Node) crmTimeOfDay(now time.Duration) {
	r := &n.crm
	if t := time.Now(); t.Sub(r.lastTOD) >= time.Minute {
		r.lastTOD = t
		y, m, d := t.Date()
		if err := n.st.Step(now, stack.TimeOfDay{D: t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))}); err != nil {
			n.log.Warn("resource manager: time of day", "err", err)
		}
	}
}

// crmStep hands an answer from off the loop to the stack; an error is
// logged (the stack stopped, or the answer was refused).
func (n *Node) crmStep(in stack.Input, what string) {
	if err := n.st.Step(n.now(), in); err != nil {
		n.log.Warn("resource manager: "+what, "err", err)
	}
}

// crmPublishGroups hands the groups' owners and online states to the DNS
// responder, so a group's name follows it the moment it is online on its
// new owner.
func (n *Node) crmPublishGroups() {
	gs := n.st.Groups()
	rt := make([]GroupRuntime, 0, len(gs))
	for _, g := range gs {
		gr := GroupRuntime{Name: g.Name, Online: g.State == crm.GroupOnline && g.Owner != "", Owner: g.Owner}
		if a, err := netip.ParseAddr(g.Address); err == nil {
			gr.Address = a
		}
		rt = append(rt, gr)
	}
	n.setGroupRuntime(rt)
}

// post runs f on the event loop from another goroutine; false once the
// node stopped.
func (n *Node) post(f func()) bool {
	select {
	case n.reqs <- f:
		return true
	case <-n.done:
		return false
	}
}

func agentResult(out Outcome, err error, ctx context.Context) (crm.Status, string) {
	switch {
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil):
		return crm.StatusTimeout, err.Error()
	case err != nil && out.Status == StatusConfig:
		// the host could not run it as configured (no such agent,
		// parameters its meta() refuses): the configuration's failure,
		// never the node's
		return crm.StatusConfig, err.Error()
	case err != nil:
		return crm.StatusFailed, err.Error()
	}
	st := crm.StatusFailed
	switch out.Status {
	case StatusOK:
		st = crm.StatusOK
	case StatusNotRunning:
		st = crm.StatusNotRunning
	case StatusConfig:
		st = crm.StatusConfig
	case StatusTimeout:
		st = crm.StatusTimeout
	}
	return st, out.Message
}

// crmExec runs one action on the executor, off the loop.
func (n *Node) crmExec(a crm.Action) {
	r := &n.crm
	if a.Action == crm.ActStop || a.Action == crm.ActStart {
		delete(r.monitors, a.Resource) // the running monitor ends
	}
	params := maps.Clone(a.Params)
	if params == nil {
		params = map[string]string{}
	}
	n.agentContext(params, a)
	timeout := a.Timeout
	if timeout <= 0 {
		timeout = crm.DefaultStartTimeout
	}
	n.log.Info("agent call", "resource", a.Resource, "agent", a.Agent, "action", a.Action)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		out, err := r.exec.RunAgent(ctx, a.Agent, a.Action, params)
		st, msg := agentResult(out, err, ctx)
		cancel()
		n.post(func() {
			// (not running is a stop's and a probe's success)
			if st != crm.StatusOK && (a.Action == crm.ActStart || st != crm.StatusNotRunning) {
				n.log.Warn("agent call failed", "resource", a.Resource, "action", a.Action, "status", st.String(), "error", msg)
			}
			// a failed stop that must escalate comes out of Ready
			// (StopFailed): not one of a resource that never started here
			n.crmStep(stack.AgentResult{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: st, Error: msg}, "agent result")
			if a.Action == crm.ActStart && st == crm.StatusOK && a.Interval > 0 {
				n.crmMonitor(a, params)
			}
		})
	}()
}

// crmMonitor monitors a started resource every interval until it is
// stopped or started again, or its monitor fails (reported once).
func (n *Node) crmMonitor(a crm.Action, params map[string]string) {
	r := &n.crm
	r.monGen++
	gen := r.monGen
	r.monitors[a.Resource] = gen
	timeout := a.MonitorTimeout
	if timeout <= 0 {
		timeout = crm.DefaultMonitorTimeout
	}
	live := make(chan bool, 1)
	check := func() bool {
		ok := n.post(func() { live <- r.monitors[a.Resource] == gen })
		return ok && <-live
	}
	go func() {
		t := time.NewTicker(a.Interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
			case <-n.done:
				return
			}
			if !check() {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			out, err := r.exec.RunAgent(ctx, a.Agent, crm.ActMonitor, params)
			st, msg := agentResult(out, err, ctx)
			cancel()
			if st == crm.StatusOK {
				continue
			}
			n.post(func() {
				if r.monitors[a.Resource] != gen {
					return
				}
				delete(r.monitors, a.Resource)
				n.log.Warn("monitor failed", "resource", a.Resource, "status", st.String(), "error", msg)
				n.crmStep(stack.MonitorFailed{Resource: a.Resource, Status: st, Error: msg}, "monitor result")
			})
			return
		}
	}()
}

// crmPolicy asks the policy host, off the loop; without one, the default
// decides at once.
func (n *Node) crmPolicy(p crm.PolicyRequest) {
	r := &n.crm
	if r.policy == nil {
		n.crmStep(stack.PolicyAnswer{ID: p.ID, Error: "no Lua policy host in this node"}, "policy answer")
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), crm.DefaultPolicyTimeout)
		defer cancel()
		a := stack.PolicyAnswer{ID: p.ID}
		var err error
		switch p.Kind {
		case crm.PolicyChooseOwner:
			load := map[string]int{}
			for _, l := range p.Load {
				load[l.Node] = l.Groups
			}
			a.Owner, err = r.policy.ChooseOwner(ctx, p.Policy, p.Group, p.Candidates, load)
		case crm.PolicyOnFailure:
			a.Decision, err = r.policy.OnFailure(ctx, p.Policy, p.Group, p.Resource, p.Failures, p.Error)
		}
		if err != nil {
			a.Error = err.Error()
		}
		n.post(func() { n.crmStep(a, "policy answer") })
	}()
}

// ---- requests from the API ----

// The API documents are defined in core/apitypes (so the shell reads them
// without importing the driver).
type (
	// GroupStatus is apitypes.GroupStatus.
	GroupStatus = apitypes.GroupStatus
	// ResourceStatus is apitypes.ResourceStatus.
	ResourceStatus = apitypes.ResourceStatus
)

// Groups returns every group's runtime state (as this node last heard it
// from the coordinator).
func (n *Node) Groups() ([]GroupStatus, error) {
	var gs []crm.GroupView
	if err := n.do(func() { gs = n.st.Groups() }); err != nil {
		return nil, err
	}
	out := make([]GroupStatus, 0, len(gs))
	for _, g := range gs {
		st := GroupStatus{Name: g.Name, State: string(g.State), Owner: g.Owner, Address: g.Address, Reason: g.Reason, Target: g.Target,
			Resources: []ResourceStatus{}}
		if st.Address == "" && g.Owner != "" {
			for _, nd := range n.cfg.Nodes {
				if nd.Name == g.Owner && len(nd.Addresses) > 0 {
					st.Address = nd.Addresses[0]
				}
			}
		}
		for _, r := range g.Resources {
			st.Resources = append(st.Resources, ResourceStatus{Name: r.Resource, Group: g.Name, State: r.State.String(), Node: r.Node})
		}
		out = append(out, st)
	}
	return out, nil
}

// Resources returns every resource with where it runs.
func (n *Node) Resources() ([]ResourceStatus, error) {
	var rs []crm.ResourceView
	if err := n.do(func() { rs = n.st.Resources() }); err != nil {
		return nil, err
	}
	out := make([]ResourceStatus, 0, len(rs))
	for _, r := range rs {
		out = append(out, ResourceStatus{Name: r.Name, Agent: r.Agent, Group: r.Group, State: r.State, Node: r.Node, Error: r.Error})
	}
	return out, nil
}

// ErrNotFound is returned for a group or resource that is not configured.
var ErrNotFound = stack.ErrNotFound

// Move asks for `move GROUP [NODE] [--for D]`.
func (n *Node) Move(group, node string, d time.Duration) error {
	var err error
	if e := n.do(func() { err = n.st.Move(n.now(), crm.Move{Group: group, Node: node, For: d}) }); e != nil {
		return e
	}
	return err
}

// Cleanup asks for `cleanup RESOURCE` (or a group: all its resources).
func (n *Node) Cleanup(resource string) error {
	var err error
	if e := n.do(func() { err = n.st.Cleanup(n.now(), resource) }); e != nil {
		return e
	}
	return err
}

// Explain says why a group runs where it runs, or why it does not.
func (n *Node) Explain(group string) (string, error) {
	var s string
	var found bool
	err := n.do(func() {
		found = n.st.HasGroup(group)
		s = n.st.Explain(group)
	})
	if err == nil && !found && !strings.Contains(s, "Group "+group) {
		return s, fmt.Errorf("%s: %w", strings.TrimSpace(s), ErrNotFound)
	}
	if err == nil && found {
		s += n.brokenPolicy(group)
	}
	return s, err
}

// brokenPolicy says, for explain, that a group's policy script is broken
// on this node, so the built-in default decides (empty when it is not).
func (n *Node) brokenPolicy(group string) string {
	if n.lua.host == nil {
		return ""
	}
	kv, found, _, err := n.CDBGet(crm.GroupPrefix + group)
	if err != nil || !found {
		return ""
	}
	var g struct {
		Policy string `json:"policy"`
	}
	if json.Unmarshal(kv.Value, &g) != nil || g.Policy == "" {
		return ""
	}
	for _, b := range n.lua.host.Broken(lua.KindPolicy) {
		if b.Name == g.Policy {
			return fmt.Sprintf("Its policy %s is broken on this node (%s): the built-in default policy decides until it is fixed and reloaded.\n",
				g.Policy, b.Broken)
		}
	}
	return ""
}

// SetTarget sets a group's target (started or stopped) in the config DB:
// `start GROUP` and `stop GROUP`.
func (n *Node) SetTarget(ctx context.Context, group, target string) error {
	key := crm.GroupPrefix + group
	for try := 0; try < 5; try++ {
		kv, found, _, err := n.CDBGet(key)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no group %q: %w", group, ErrNotFound)
		}
		var m map[string]any
		if err := json.Unmarshal(kv.Value, &m); err != nil {
			return fmt.Errorf("%s: bad JSON (%v): fix it with group add or cdb set", key, err)
		}
		if m == nil {
			m = map[string]any{}
		}
		m["target"] = target
		v, _ := json.Marshal(m)
		res, err := n.CDBCAS(ctx, key, kv.ModRev, v)
		if err != nil {
			return err
		}
		if res.OK {
			return nil
		}
	}
	return fmt.Errorf("%s keeps changing: try again", key)
}
