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
	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/lua"
)

// tagCRM marks the resource manager's broadcast payloads (next to tagApp
// and tagCDB in cdb.go).
const tagCRM byte = 3

// PolicyHost answers Lua failover policies off the event loop (the Lua
// host in production). Without one, a group's policy is answered by the
// built-in default at once.
type PolicyHost interface {
	ChooseOwner(ctx context.Context, policy, group string, candidates []string, load map[string]int) (string, error)
	OnFailure(ctx context.Context, policy, group, resource string, failures int, errText string) (string, error)
}

// crmTickEvery is how often the resource manager's timers run (moves
// expiring, policy deadlines, failback windows): a pass over every group.
const crmTickEvery = 200 * time.Millisecond

// crmDriver is the node's side of the resource manager's contract
// (core/crm/doc.go); all of it runs on the event loop, except the
// executor's and the policy host's calls.
type crmDriver struct {
	c        *crm.CRM
	exec     Executor
	policy   PolicyHost
	watch    [2]uint64
	view     crm.View
	viewSet  bool
	monitors map[string]uint64 // resource -> the generation of its running monitor
	monGen   uint64
	lastTick time.Duration
	lastTOD  time.Time
}

// keyCRM holds the resource manager's Ready.Persist: this node's copy of
// who may run what (crm.EncodeKnown), given back at a restart (G4).
var keyCRM = []byte("crm")

// openCRM builds the resource manager, gives it the owner table it
// persisted and loads the desired state the config DB holds.
func (n *Node) openCRM() error {
	r := &n.crm
	b, err := n.store.Get(keyCRM)
	if err != nil {
		return err
	}
	var known crm.Known
	if b != nil {
		if known, err = crm.DecodeKnown(b); err != nil {
			return fmt.Errorf("resource manager: the persisted owner table: %w", err)
		}
	}
	if r.c, err = crm.New(crm.Config{Self: n.cfg.Node, AssumeFenced: !n.fencingConfigured(), Known: known}); err != nil { // fence.go
		return fmt.Errorf("resource manager: %w", err)
	}
	r.exec = n.opt.Executor
	r.policy = n.opt.Policy
	n.openCRMLua()
	r.monitors = map[string]uint64{}
	r.watch[0] = n.cdb.db.Watch(crm.ResourcePrefix)
	r.watch[1] = n.cdb.db.Watch(crm.GroupPrefix)
	n.crmTimeOfDay(0)
	n.crmResync()
	return nil
}

// crmResync feeds every /resources/ and /groups/ key (after a restart or
// an adopted history, whose changes no watch reported), in one batch;
// unchanged keys cost nothing.
func (n *Node) crmResync() {
	var batch crm.ConfigKeys
	for _, p := range []string{crm.ResourcePrefix, crm.GroupPrefix} {
		kvs, _, _ := n.cdb.db.List(p)
		seen := map[string]bool{}
		for _, kv := range kvs {
			seen[kv.Key] = true
			batch = append(batch, crm.ConfigKey{Key: kv.Key, Value: nonNil(kv.Value)})
		}
		var known []string
		if p == crm.ResourcePrefix {
			for _, r := range n.crm.c.Resources() {
				known = append(known, p+r.Name)
			}
		} else {
			for _, g := range n.crm.c.Groups() {
				known = append(known, p+g.Name)
			}
		}
		for _, k := range known {
			if !seen[k] {
				batch = append(batch, crm.ConfigKey{Key: k})
			}
		}
	}
	_ = n.crm.c.Step(n.now(), batch)
}

func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// crmWatch feeds the config DB's changes of desired state, one batch per
// round.
func (n *Node) crmWatch(evs []cdb.WatchEvent) {
	var batch crm.ConfigKeys
	for _, ev := range evs {
		if ev.Watch != n.crm.watch[0] && ev.Watch != n.crm.watch[1] {
			continue
		}
		k := crm.ConfigKey{Key: ev.Key}
		if !ev.Deleted {
			k.Value = nonNil(ev.Value)
		}
		batch = append(batch, k)
	}
	if len(batch) > 0 {
		_ = n.crm.c.Step(n.now(), batch)
	}
}

// crmDeliver takes an ordered-broadcast delivery of a crm payload (the
// agreed one: every member sees them in one order).
func (n *Node) crmDeliver(d bcast.Delivery) {
	if d.Level != bcast.Agreed {
		return
	}
	if err := n.crm.c.Step(n.now(), crm.Deliver{Payload: d.Payload[1:]}); err != nil {
		n.log.Warn("undecodable resource manager message", "view", n.viewName(d.View), "err", err)
	}
}

// crmView tells the resource manager about the view and the lease when
// they changed: Lease is membership's Leased (a lease carried across a
// view change included: a continuing member keeps what it runs), Takeover
// its Quorate (the takeover wait since the view committed has passed).
func (n *Node) crmView(now time.Duration) {
	ms := n.mem.Status()
	v := crm.View{ID: ms.View.ID, Coordinator: n.names[ms.View.ID.Coord], Primary: ms.Primary, Lease: n.mem.Leased(now),
		Takeover: n.mem.Quorate(now), StaleConfig: !n.cdb.db.SettledIn(ms.View.ID)}
	for _, id := range ms.View.Members {
		v.Members = append(v.Members, n.names[id])
		switch ms.States[id] {
		case membership.StatePaused:
			v.Paused = append(v.Paused, n.names[id])
		case membership.StateLeaving:
			v.Leaving = append(v.Leaving, n.names[id])
		}
	}
	r := &n.crm
	if r.viewSet && v.ID == r.view.ID && v.Primary == r.view.Primary && v.Lease == r.view.Lease && v.Takeover == r.view.Takeover &&
		strings.Join(v.Members, ",") == strings.Join(r.view.Members, ",") && strings.Join(v.Paused, ",") == strings.Join(r.view.Paused, ",") &&
		strings.Join(v.Leaving, ",") == strings.Join(r.view.Leaving, ",") && v.StaleConfig == r.view.StaleConfig {
		return
	}
	if v.ID != r.view.ID && v.Primary || !v.StaleConfig && r.view.StaleConfig {
		// a new history, or the DB settled: feed the desired state it
		// holds now (the coordinator places nothing before that)
		n.crmResync()
	}
	r.view, r.viewSet = v, true
	_ = r.c.Step(now, v)
}

// crmTick runs the resource manager's timers, and tells it about a lease
// that came or went.
func (n *Node) crmTick(now time.Duration) {
	r := &n.crm
	n.crmView(now)
	if now-r.lastTick < crmTickEvery {
		return
	}
	r.lastTick = now
	n.crmTimeOfDay(now)
	r.c.Tick(now)
}

// crmTimeOfDay tells the resource manager the local time of day (for
// failback windows), once a minute.
func (n *Node) crmTimeOfDay(now time.Duration) {
	r := &n.crm
	if t := time.Now(); t.Sub(r.lastTOD) >= time.Minute {
		r.lastTOD = t
		y, m, d := t.Date()
		_ = r.c.Step(now, crm.TimeOfDay{D: t.Sub(time.Date(y, m, d, 0, 0, 0, 0, t.Location()))})
	}
}

// crmRound carries out the resource manager's Ready (after telling it
// about a membership change); it reports whether there was anything.
func (n *Node) crmRound(now time.Duration, memberChanged bool) bool {
	if memberChanged || !n.crm.viewSet || n.cdb.db.SettledIn(n.crm.view.ID) == n.crm.view.StaleConfig {
		n.crmView(now)
	}
	r := &n.crm
	if !r.c.HasReady() {
		return false
	}
	rd := r.c.Ready()
	r.c.Advance()
	if rd.Persist != nil {
		if err := n.store.Put(keyCRM, crm.EncodeKnown(*rd.Persist)); err != nil {
			// the owner table a new coordinator relies on is not durable
			// (G4): stop, as the config DB and fence writes do
			n.fatal(fmt.Errorf("resource manager: cannot persist the owner table: %w", err))
			return true
		}
	}
	for _, p := range rd.Broadcast {
		if _, err := n.bc.Broadcast(append([]byte{tagCRM}, p...)); err != nil {
			n.log.Warn("resource manager broadcast", "err", err)
		}
	}
	for _, f := range rd.StopFailed {
		n.stopFailed(f.Resource, f.Error)
	}
	for _, a := range rd.Exec {
		n.crmExec(a)
	}
	for _, p := range rd.Policy {
		n.crmPolicy(p)
	}
	var stream []Event
	view := n.viewName(n.mem.Status().View.ID)
	for _, e := range rd.Events {
		stream = append(stream, Event{Kind: e.Kind, View: view, Resource: e.Resource, Group: e.Group, On: e.On, Error: e.Error,
			Owner: e.Owner, Reason: e.Reason, From: e.From, To: e.To})
		switch e.Kind {
		case crm.EvResourceFailed:
			n.log.Warn(e.Kind, "resource", e.Resource, "group", e.Group, "on", e.On, "error", e.Error)
		case crm.EvGroupOnline, crm.EvGroupOffline, crm.EvGroupMoved:
			n.log.Info(e.Kind, "group", e.Group, "owner", e.Owner, "reason", e.Reason, "from", e.From, "to", e.To)
		}
	}
	n.events.append(stream)
	if rd.Changed {
		n.crmPublishGroups()
	}
	return true
}

// crmPublishGroups hands the groups' owners and online states to the DNS
// responder, so a group's name follows it the moment it is online on its
// new owner.
func (n *Node) crmPublishGroups() {
	gs := n.crm.c.Groups()
	rt := make([]GroupRuntime, 0, len(gs))
	for _, g := range gs {
		gr := GroupRuntime{Name: g.Name, Online: g.State == "online" && g.Owner != "", Owner: g.Owner}
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
			_ = r.c.Step(n.now(), crm.ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: st, Error: msg})
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
				_ = r.c.Step(n.now(), crm.MonitorFailed{Resource: a.Resource, Status: st, Error: msg})
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
		_ = r.c.Step(n.now(), crm.PolicyAnswer{ID: p.ID, Error: "no Lua policy host in this node"})
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), crm.DefaultPolicyTimeout)
		defer cancel()
		a := crm.PolicyAnswer{ID: p.ID}
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
		n.post(func() { _ = r.c.Step(n.now(), a) })
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
	if err := n.do(func() { gs = n.crm.c.Groups() }); err != nil {
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
	if err := n.do(func() { rs = n.crm.c.Resources() }); err != nil {
		return nil, err
	}
	out := make([]ResourceStatus, 0, len(rs))
	for _, r := range rs {
		out = append(out, ResourceStatus{Name: r.Name, Agent: r.Agent, Group: r.Group, State: r.State, Node: r.Node, Error: r.Error})
	}
	return out, nil
}

// ErrNotFound is returned for a group or resource that is not configured.
var ErrNotFound = errors.New("not configured")

// Move asks for `move GROUP [NODE] [--for D]`.
func (n *Node) Move(group, node string, d time.Duration) error {
	var err error
	if e := n.do(func() {
		if !n.crm.c.HasGroup(group) {
			err = fmt.Errorf("no group %q: %w", group, ErrNotFound)
			return
		}
		err = n.crm.c.Step(n.now(), crm.Move{Group: group, Node: node, For: d})
	}); e != nil {
		return e
	}
	return err
}

// Cleanup asks for `cleanup RESOURCE` (or a group: all its resources).
func (n *Node) Cleanup(resource string) error {
	var err error
	if e := n.do(func() {
		if !n.crm.c.CanCleanup(resource) {
			err = fmt.Errorf("no resource or group %q: %w", resource, ErrNotFound)
			return
		}
		err = n.crm.c.Step(n.now(), crm.Cleanup{Resource: resource})
	}); e != nil {
		return e
	}
	return err
}

// Explain says why a group runs where it runs, or why it does not.
func (n *Node) Explain(group string) (string, error) {
	var s string
	var found bool
	err := n.do(func() {
		found = n.crm.c.HasGroup(group)
		s = n.crm.c.Explain(group)
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
