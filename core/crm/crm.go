package crm

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Config configures one node's resource manager.
type Config struct {
	// Self is this node's name.
	Self string
	// AssumeFenced satisfies the fence hook without a Fenced input: a node
	// that left the primary view uncleanly counts as fenced FenceDelay
	// after its departure was seen (until the fencing issue lands; the
	// driver sets FenceDelay to the lease wait of G2).
	AssumeFenced bool
	FenceDelay   time.Duration
	// PolicyTimeout bounds the wait for a Lua policy's answer; then the
	// built-in default decides (default DefaultPolicyTimeout).
	PolicyTimeout time.Duration
	// Known is the last Ready.Persist this node's driver wrote (after a
	// restart): who may run what, as this node knew it (G4).
	Known Known
}

// DefaultPolicyTimeout is Config.PolicyTimeout's default.
const DefaultPolicyTimeout = 2 * time.Second

// View is the installed membership view, as the driver sees it.
type View struct {
	ID          wire.ViewID
	Members     []string // node names
	Coordinator string
	Primary     bool     // the view is primary
	Lease       bool     // this node holds a lease (see below)
	Paused      []string // members in standby: their groups move away, none is placed there
	Leaving     []string // members on their way out: their groups move away
	// Lease is membership's Leased: the view's own lease, or the one this
	// node held in the primary view installed before, carried over: a
	// member of consecutive primary views keeps it across the change, and
	// keeps running what it runs. Takeover is membership's Quorate: the
	// view's lease holds and the takeover wait lease·(1+ρ)+margin has
	// passed since the view committed, so an excluded node that held a
	// lease has lost it.
	Takeover bool
	// StaleConfig: the config DB has not settled in this view (its reads
	// are stale: it may be older than an acknowledged write, a `resource
	// del` or a target=stopped); the coordinator places nothing until it
	// has, and the driver feeds the settled desired state first.
	StaleConfig bool
}

// Input is one thing that happened (see the package comment).
type Input interface{ input() }

// ConfigKey is a change of a /resources/ or /groups/ key; a nil Value
// means the key was deleted.
type ConfigKey struct {
	Key   string
	Value []byte
}

// ConfigKeys is several ConfigKey changes taken at once (one scheduling
// pass for all of them).
type ConfigKeys []ConfigKey

// Deliver is an ordered-broadcast delivery of a crm payload.
type Deliver struct{ Payload []byte }

// ActionDone is this node's executor's result for an Exec action.
type ActionDone struct {
	Op       OpID
	Resource string
	Action   string
	Status   Status
	Error    string
}

// MonitorFailed is a failure of a recurring monitor on this node.
type MonitorFailed struct {
	Resource string
	Status   Status
	Error    string
}

// PolicyAnswer answers a PolicyRequest: Owner for choose_owner, Decision
// (restart, failover, ignore, stop) for on_failure; Error when the policy
// failed (the default decides).
type PolicyAnswer struct {
	ID       uint64
	Owner    string
	Decision string
	Error    string
}

// Fenced confirms that a node is down (fenced): what it ran may start
// elsewhere.
type Fenced struct{ Node string }

// Move is `move GROUP [NODE] [--for D]`.
type Move struct {
	Group string
	Node  string
	For   time.Duration
}

// Cleanup is `cleanup RESOURCE`: forget its failures and bans.
type Cleanup struct{ Resource string }

// Drain is a clean stop of this node (SIGTERM, `leave`) before it
// leaves the view: the coordinator moves every group off this node (it
// stops them here through their agents, then places them elsewhere, or
// leaves them stopped when no other node can run them) and places nothing
// new here. Every member remembers it for DrainHold (or until the node
// leaves the view), so a coordinator of a later view keeps it: a view
// change between the end of the drain and the leave must not place a
// group back on the node. The driver gives it again at every view change
// until Running is empty.
type Drain struct{}

// Resumed tells the resource manager that this node's own state went back
// to online (`resume`, asked here or by a peer): a drain it asked ends.
// Its own copy of the drain must go: the members that saw it leave their
// view forgot it then, but its own views always hold it (it never sees a
// view without itself), so it would keep the drain for DrainHold and, as
// the coordinator of a later view, exclude itself and move away a group
// it runs on a node that stayed in the primary component (continuity).
type Resumed struct{}

// DrainHold is how long a Drain keeps a node free of groups: longer than
// a clean stop's drain and leave (config.DrainTimeout, 30 s, and the
// leave's wait), short enough that a node that asked and stayed (its
// clean stop failed and it restarted at once) gets groups again.
const DrainHold = 60 * time.Second

// TimeOfDay is the local time since midnight, for failback windows.
type TimeOfDay struct{ D time.Duration }

// Batch is several inputs taken as one: each is applied in order, then
// one scheduling pass runs (the desired state of an adopted history and
// the new view together, so no pass sees one without the other). Its
// error joins those of its inputs.
type Batch []Input

func (ConfigKey) input()     {}
func (ConfigKeys) input()    {}
func (View) input()          {}
func (Deliver) input()       {}
func (ActionDone) input()    {}
func (MonitorFailed) input() {}
func (PolicyAnswer) input()  {}
func (Fenced) input()        {}
func (Move) input()          {}
func (Cleanup) input()       {}
func (Drain) input()         {}
func (Resumed) input()       {}
func (TimeOfDay) input()     {}
func (Batch) input()         {}

// Policy request kinds.
const (
	PolicyChooseOwner = "choose_owner"
	PolicyOnFailure   = "on_failure"
)

// Failure decisions.
const (
	DecideRestart  = "restart"
	DecideFailover = "failover"
	DecideIgnore   = "ignore"
	DecideStop     = "stop"
)

// NodeLoad is one candidate's load, for policies.
type NodeLoad struct {
	Node   string
	Groups int
}

// PolicyRequest asks a group's Lua policy.
type PolicyRequest struct {
	ID         uint64
	Kind       string // choose_owner, on_failure
	Group      string
	Policy     string
	Candidates []string   // choose_owner: in the default's order
	Load       []NodeLoad // choose_owner
	Resource   string     // on_failure
	Node       string     // on_failure
	Failures   int        // on_failure: restarts in place counted in the period, this one included
	Error      string     // on_failure
}

// Ready is what the driver must do (see the package comment).
type Ready struct {
	Broadcast [][]byte
	Exec      []Action
	Policy    []PolicyRequest
	Events    []Event
	// Changed: the groups' state changed (Groups and Explain differ).
	Changed bool
	// Persist: this node's copy of the owner table changed; the driver
	// writes it (EncodeKnown) before it carries out the rest of this Ready
	// and gives it back as Config.Known after a restart.
	Persist *Known
	// StopFailed: a stop failed on this node of a resource that may run
	// here (a start of it was attempted in this incarnation, and did not
	// end in a configuration error): the driver escalates (asks for this
	// node's fence, or fences itself without a lease). A stop of a
	// resource that never started here is a success and never comes here.
	StopFailed []StopFailure
}

// StopFailure is a failed stop the driver escalates to fencing.
type StopFailure struct {
	Resource string
	Error    string // the status and the agent's message
}

// Empty reports whether there is nothing to do.
func (r *Ready) Empty() bool {
	return len(r.Broadcast) == 0 && len(r.Exec) == 0 && len(r.Policy) == 0 && len(r.Events) == 0 && !r.Changed && r.Persist == nil &&
		len(r.StopFailed) == 0
}

// local is a resource this node runs (or did).
type local struct {
	res   Resource
	state ResState
	op    OpID
	act   string
	// mayRun: a start of it was handed to this node's executor in this
	// incarnation (and did not end in a configuration error), so it may
	// run here; a stop of a resource that never started here is a success
	// whatever the agent answers (there is nothing to stop, and a failed
	// stop must not escalate to fencing).
	mayRun bool
}

// move is a move in effect, with local times.
type move struct {
	node, away, back string
	until            time.Duration // 0: until another move
}

// groupRT is a group's runtime state (times local to this node).
type groupRT struct {
	state               GroupPhase
	owner, reason, why  string
	active              []string
	res                 []ResStatus
	restarts, failovers []time.Duration // when they happened
	bans                map[string]time.Duration
	move                *move
	failed              string
	stopped             bool
	// failedRes failed on failedOn with a configuration error (it is
	// shown failed there, though it does not run)
	failedRes, failedOn string

	// coordinator only
	lastOnline string  // the owner it was last online on
	fresh      bool    // no record of it before this coordinator's first pass
	back       string  // a one-shot return after a move expired
	choice     string  // the policy's choice, while it is a candidate
	policyDone bool    // the policy had its say for this placement
	note       string  // the last failure decision, for Explain
	policy     *policy // a policy question in flight
}

type policy struct {
	req      PolicyRequest
	deadline time.Duration
}

// CRM is one node's resource manager. Not safe for concurrent use.
type CRM struct {
	cfg    Config
	now    time.Duration
	tod    time.Duration
	todSet bool // a TimeOfDay came: failback windows can be judged

	view View

	resources map[string]Resource
	groups    map[string]Group
	raw       map[string]string     // key -> the value as given
	bad       map[string]string     // key -> parse error
	badGroups map[string]string     // bad resource key -> the group its JSON names
	byGroup   map[string][]Resource // members' cache; nil after a change

	local  map[string]*local
	localN uint64

	// draining: members that stop cleanly (Drain) -> until when their
	// groups stay off them (DrainHold after the request's delivery)
	draining map[string]time.Duration

	// probed: the probes of this incarnation were issued (at its first
	// view); probing: the resources whose probe has not answered yet.
	// No full report goes out while one is outstanding.
	probed  bool
	probing map[string]bool

	rt       map[string]*groupRT
	unfenced map[string]time.Duration // shared copy: node -> auto-fence time (-1: wait for Fenced)
	fenced   map[string]bool          // Fenced commands seen in this view

	co *coord

	policyN uint64
	out     Ready

	gotState  bool          // a State of the current view arrived
	leased    bool          // this node held the current view's lease once
	leaseGone bool          // and lost it since: it stops what it runs
	held      []Action      // starts of the current view refused for want of a lease, taken when it comes
	lastFull  time.Duration // when the last full report went out

	// the owner table's version (the view of the last State that changed
	// this copy), what a restart restored, and the last copy handed out
	// to persist
	knownView wire.ViewID
	restored  []Owner
	persisted string
}

// reportAgain is how long a member waits for the coordinator's first State
// of a view before it sends its full report again (one may have gone out
// while the view was still changing).
const reportAgain = time.Second

// New returns a resource manager. It refuses a config without Self.
func New(cfg Config) (*CRM, error) {
	if cfg.Self == "" {
		return nil, errors.New("crm: Self must be set")
	}
	if cfg.PolicyTimeout == 0 {
		cfg.PolicyTimeout = DefaultPolicyTimeout
	}
	c := &CRM{cfg: cfg, resources: map[string]Resource{}, groups: map[string]Group{}, bad: map[string]string{}, raw: map[string]string{},
		badGroups: map[string]string{}, local: map[string]*local{}, probing: map[string]bool{}, draining: map[string]time.Duration{}, rt: map[string]*groupRT{}, unfenced: map[string]time.Duration{}, fenced: map[string]bool{}}
	c.knownView, c.restored = cfg.Known.View, append([]Owner(nil), cfg.Known.Owners...)
	c.persisted = knownSig(c.ownerTable())
	return c, nil
}

// ownerTable returns this node's copy of the owner table: every group's active
// nodes, the nodes that left uncleanly and are not fenced, and what a
// restart restored until a newer State came.
func (c *CRM) ownerTable() Known {
	set := map[Owner]bool{}
	for _, o := range c.restored {
		set[o] = true
	}
	for g, rt := range c.rt {
		for _, n := range rt.active {
			set[Owner{Node: n, Group: g}] = true
		}
	}
	for n := range c.unfenced {
		set[Owner{Node: n}] = true
	}
	k := Known{View: c.knownView}
	for o := range set {
		k.Owners = append(k.Owners, o)
	}
	sort.Slice(k.Owners, func(i, j int) bool {
		a, b := k.Owners[i], k.Owners[j]
		return a.Node < b.Node || a.Node == b.Node && a.Group < b.Group
	})
	return k
}

func knownSig(k Known) string { return string(EncodeKnown(k)) }

// learned moves the owner table's version to view v (a State of v
// changed it); what a restart restored is superseded.
func (c *CRM) learned(v wire.ViewID) {
	if !viewLess(v, c.knownView) {
		c.knownView, c.restored = v, nil
	}
}

func viewLess(a, b wire.ViewID) bool {
	return a.Epoch < b.Epoch || a.Epoch == b.Epoch && a.Coord < b.Coord
}

// Ready returns what the driver must do: what the inputs since the last
// Advance produced (Step and Tick schedule). It changes nothing.
func (c *CRM) Ready() Ready { return c.out }

// HasReady reports whether Ready has anything. It changes nothing.
func (c *CRM) HasReady() bool { return !c.out.Empty() }

// flush runs the scheduling pass after an input, and persists the owner
// table when it changed.
func (c *CRM) flush() {
	c.schedule()
	// every change of the owner table comes with an input
	if k := c.ownerTable(); knownSig(k) != c.persisted {
		c.persisted = knownSig(k)
		c.out.Persist = &k
	}
}

// Advance clears what Ready returned.
func (c *CRM) Advance() { c.out = Ready{} }

func (c *CRM) broadcast(m Message) { c.out.Broadcast = append(c.out.Broadcast, Encode(m)) }

// Step takes one input. Errors are for inputs a person gave (Move,
// Cleanup naming nothing configured) or a payload that does not decode.
func (c *CRM) Step(now time.Duration, in Input) error {
	c.now = now
	changed, err := c.apply(in)
	if changed {
		c.flush() // scheduled after every input that changed something
	}
	return err
}

// apply takes one input without scheduling; it reports whether the input
// may have changed anything.
func (c *CRM) apply(in Input) (bool, error) {
	switch in := in.(type) {
	case Batch:
		changed := false
		var errs []error
		for _, b := range in {
			ch, err := c.apply(b)
			changed = changed || ch
			if err != nil {
				errs = append(errs, err)
			}
		}
		return changed, errors.Join(errs...)
	case ConfigKey:
		if !c.setKey(in.Key, in.Value) {
			return false, nil
		}
	case ConfigKeys:
		changed := false
		for _, k := range in {
			changed = c.setKey(k.Key, k.Value) || changed
		}
		if !changed {
			return false, nil
		}
	case View:
		c.setView(in)
	case Deliver:
		m, err := Decode(in.Payload)
		if err != nil {
			return false, err
		}
		c.deliver(m)
	case ActionDone:
		c.actionDone(in)
	case MonitorFailed:
		c.monitorFailed(in)
	case PolicyAnswer:
		c.policyAnswer(in)
	case Fenced:
		c.broadcast(&Command{From: c.cfg.Self, Kind: CmdFenced, Node: in.Node})
	case Move:
		if _, ok := c.groups[in.Group]; !ok {
			return false, fmt.Errorf("no group %q: %s", in.Group, c.known("groups", c.groups))
		}
		if in.Node != "" && !contains(c.view.Members, in.Node) {
			return false, fmt.Errorf("node %q is not a member of the view (members: %s)", in.Node, strings.Join(c.view.Members, ", "))
		}
		if in.For < 0 {
			return false, fmt.Errorf("move --for %v: give a positive duration", in.For)
		}
		c.broadcast(&Command{From: c.cfg.Self, Kind: CmdMove, Group: in.Group, Node: in.Node, For: in.For})
	case Cleanup:
		if _, _, ok := c.cleanupTargets(in.Resource); !ok {
			return false, fmt.Errorf("no resource or group %q: %s", in.Resource, c.known("resources", c.resources))
		}
		c.broadcast(&Command{From: c.cfg.Self, Kind: CmdCleanup, Resource: in.Resource})
	case Drain:
		if !c.view.Primary || !contains(c.view.Members, c.cfg.Self) {
			return false, fmt.Errorf("this node is not a member of a primary view: nobody can move its groups: %w", ErrNoPrimary)
		}
		c.broadcast(&Command{From: c.cfg.Self, Kind: CmdDrain, Node: c.cfg.Self})
	case Resumed:
		delete(c.draining, c.cfg.Self)
	case TimeOfDay:
		c.tod, c.todSet = in.D, true
	}
	return true, nil
}

func (c *CRM) known(what string, m any) string {
	var ks []string
	switch m := m.(type) {
	case map[string]Group:
		ks = sortedKeys(m)
	case map[string]Resource:
		ks = sortedKeys(m)
	}
	if len(ks) == 0 {
		return "there are no " + what + " configured"
	}
	return what + ": " + strings.Join(ks, ", ")
}

// Tick lets time pass: move expiry, bans, periods, policy deadlines,
// fence delays, failback windows.
func (c *CRM) Tick(now time.Duration) {
	c.now = now
	if c.view.ID != (wire.ViewID{}) && !c.gotState && len(c.probing) == 0 && now-c.lastFull >= reportAgain {
		c.broadcast(c.fullReport())
	}
	c.selfStop()
	c.flush()
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// setKey applies one desired-state change; false when nothing changed.
func (c *CRM) setKey(key string, value []byte) bool {
	if old, ok := c.raw[key]; ok == (value != nil) && old == string(value) {
		return false
	}
	if value == nil {
		delete(c.raw, key)
	} else {
		c.raw[key] = string(value)
	}
	c.byGroup = nil
	delete(c.bad, key)
	delete(c.badGroups, key)
	switch {
	case strings.HasPrefix(key, ResourcePrefix):
		name := strings.TrimPrefix(key, ResourcePrefix)
		delete(c.resources, name)
		if value == nil {
			return true
		}
		r, err := ParseResource(name, value)
		if err != nil {
			c.bad[key] = err.Error()
			var j struct {
				Group string `json:"group"`
			}
			if json.Unmarshal(value, &j) == nil {
				c.badGroups[key] = j.Group
			}
			return true
		}
		c.resources[name] = r
	case strings.HasPrefix(key, GroupPrefix):
		name := strings.TrimPrefix(key, GroupPrefix)
		delete(c.groups, name)
		if value == nil {
			return true
		}
		g, err := ParseGroup(name, value)
		if err != nil {
			c.bad[key] = err.Error()
			return true
		}
		c.groups[name] = g
	}
	return true
}

// members returns a group's resources in start order.
func (c *CRM) members(g string) []Resource {
	if c.byGroup == nil {
		c.byGroup = map[string][]Resource{}
		all := map[string][]Resource{}
		for _, r := range c.resources {
			all[r.Group] = append(all[r.Group], r)
		}
		for name := range all {
			c.byGroup[name] = c.membersOf(name, all[name])
		}
	}
	return c.byGroup[g]
}

func (c *CRM) membersOf(g string, rs []Resource) []Resource {
	var out []Resource
	seen := map[string]bool{}
	if gr, ok := c.groups[g]; ok {
		for _, n := range gr.Resources {
			if r, ok := c.resources[n]; ok && r.Group == g {
				out = append(out, r)
				seen[n] = true
			}
		}
	}
	var rest []Resource
	for _, r := range rs {
		if !seen[r.Name] {
			rest = append(rest, r)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i].Name < rest[j].Name })
	return append(out, rest...)
}

// ---- the member side ----

func (c *CRM) setView(v View) {
	old := c.view
	c.view = v
	for _, n := range sortedKeys(c.draining) {
		if !contains(v.Members, n) {
			delete(c.draining, n) // it left: a return is a new start
		}
	}
	if v.ID != old.ID {
		c.fenced = map[string]bool{}
		c.gotState, c.leased, c.leaseGone = false, false, false
		c.held = nil // the previous view's coordinator's plan is void
		// A node that enters a primary view without a lease (its own, or
		// the previous view's carried over) while it runs something lost
		// its lease on the way: it stops, as it would had the lease lapsed
		// inside a view (else it would run on until a non-primary view,
		// past the takeover wait of a view that excluded it; issue 15
		// review).
		if !v.Lease && c.runsAny() {
			c.leaseGone = true
		}
		c.probe()
		// every member tells the view what it runs (once it knows)
		if len(c.probing) == 0 {
			c.broadcast(c.fullReport())
		}
	}
	if v.Lease {
		c.leased, c.leaseGone = true, false
	} else if c.leased {
		c.leaseGone = true // a lease held in this view (or carried into it) lapsed
	}
	c.coordView(old)
	c.selfStop()
	if len(c.held) > 0 && v.Primary && v.Lease {
		// the lease came in the view the starts were ordered in: take
		// them now, judged at this moment as any start (G2)
		held := c.held
		c.held = nil
		c.takeActions(&Actions{View: v.ID, List: held})
	}
}

// probe asks, once per incarnation at its first view, the agent of every
// configured resource whether it runs here (a monitor). What an agent
// started may outlive the node's process (an address stays on its
// interface, an OCF daemon runs on), and this incarnation knows nothing of
// it: its full report waits for the answers, so no coordinator places a
// group while it may still run here (G4; the coordinator rebuilds from
// every member's full report before it schedules). A probe that finds the
// resource running makes it run here (Started); one that fails otherwise
// than with a configuration error (an error, a timeout) makes it Failed
// here, so the coordinator stops it and a failed stop escalates; one that
// finds it not running, or answers "config" (the resource cannot run as
// configured: issue 16, a typo never fences), leaves it stopped.
func (c *CRM) probe() {
	if c.probed {
		return
	}
	c.probed = true
	for _, n := range sortedKeys(c.resources) {
		r := c.resources[n]
		if _, ok := c.local[n]; ok || r.Agent == "" {
			continue
		}
		c.localN++
		l := &local{res: r, state: Stopped, op: OpID{N: c.localN}, act: ActMonitor}
		if l.res.Timeouts.Stop == 0 {
			l.res.Timeouts.Stop = DefaultStopTimeout
		}
		c.local[n] = l
		c.probing[n] = true
		c.out.Exec = append(c.out.Exec, Action{Op: l.op, Node: c.cfg.Self, Resource: n, Group: r.Group, Agent: r.Agent,
			Action: ActMonitor, Params: r.Params, Timeout: r.Timeouts.Monitor})
	}
}

// probeDone notes that a probe answered (or was overtaken by an action);
// after the last one the full report goes out.
func (c *CRM) probeDone(name string) {
	if !c.probing[name] {
		return
	}
	delete(c.probing, name)
	if len(c.probing) == 0 && c.view.ID != (wire.ViewID{}) {
		c.broadcast(c.fullReport())
	}
}

// runsAny reports whether this node runs, starts or stops a resource.
func (c *CRM) runsAny() bool {
	for _, n := range sortedKeys(c.local) {
		if l := c.local[n]; l.state != Stopped || !l.op.Zero() {
			return true
		}
	}
	return false
}

func (c *CRM) fullReport() *Report {
	c.lastFull = c.now
	rp := &Report{Node: c.cfg.Self, View: c.view.ID, Full: true, Known: c.ownerTable()}
	for _, n := range sortedKeys(c.local) {
		l := c.local[n]
		rp.Res = append(rp.Res, ResReport{Resource: n, Group: l.res.Group, State: l.state, Op: l.op, Action: l.act})
	}
	return rp
}

func (c *CRM) report(name string, done OpID, failure bool, st Status, errText string) {
	rr := ResReport{Resource: name, State: Stopped, Done: done, Failure: failure, Status: st, Error: errText}
	if l, ok := c.local[name]; ok {
		rr.Group, rr.State, rr.Op, rr.Action = l.res.Group, l.state, l.op, l.act
	}
	c.broadcast(&Report{Node: c.cfg.Self, View: c.view.ID, Res: []ResReport{rr}})
}

// selfStop stops what this node runs while its view is not primary, or
// once it lost the lease it held (G2: the others take over only after the
// lease wait, or a fence). A view change alone never stops anything: the
// lease a member held in the previous primary view carries over
// (View.Lease).
func (c *CRM) selfStop() {
	if c.view.ID == (wire.ViewID{}) || c.view.Primary && !c.leaseGone {
		return
	}
	for _, n := range sortedKeys(c.local) {
		l := c.local[n]
		if !l.op.Zero() || l.state == Stopped || l.state == StopFailed {
			continue
		}
		c.localN++
		l.op, l.act, l.state = OpID{N: c.localN}, ActStop, Stopping
		c.out.Exec = append(c.out.Exec, Action{Op: l.op, Node: c.cfg.Self, Resource: n, Group: l.res.Group, Agent: l.res.Agent,
			Action: ActStop, Params: l.res.Params, Timeout: l.res.Timeouts.Stop})
	}
}

func (c *CRM) takeActions(as *Actions) {
	if as.View != c.view.ID {
		return // from an earlier view: its coordinator's plan is void
	}
	for _, a := range as.List {
		if a.Node != c.cfg.Self {
			continue
		}
		for i, h := range c.held {
			if h.Resource == a.Resource {
				c.held = append(c.held[:i:i], c.held[i+1:]...) // a later order replaces it
				break
			}
		}
		if a.Action == ActStart && (!c.view.Primary || !c.view.Lease) {
			// It may not start anything now (G2: a start needs a lease
			// held now, not only one never lost: a node that restarted
			// carries none into its first primary view, whose answers
			// may come after the coordinator placed a group here). It
			// keeps the order, unanswered, and takes it if a lease comes
			// in this view (setView); a view change drops it. Reporting
			// it stopped at once made the coordinator ask again at once:
			// a broadcast storm until the lease came (review2).
			if _, ok := c.local[a.Resource]; !ok {
				c.held = append(c.held, a)
			}
			continue
		}
		l, ok := c.local[a.Resource]
		if !ok {
			l = &local{res: Resource{Name: a.Resource, Group: a.Group}}
			c.local[a.Resource] = l
		}
		// A stop of what this node started runs with the agent and the
		// parameters it was started with: a change made since (a typo, a
		// nonexistent interface, another agent) must neither fail the
		// stop with a configuration error (it escalates: a typo would
		// fence this node) nor stop something else and succeed while the
		// started instance runs on (issue 16, G4).
		keep := a.Action == ActStop && l.mayRun && l.res.Agent != ""
		if a.Agent != "" && !keep {
			l.res = Resource{Name: a.Resource, Group: a.Group, Agent: a.Agent, Params: a.Params,
				Monitor: a.Interval, Timeouts: Timeouts{Monitor: a.MonitorTimeout}}
			switch a.Action {
			case ActStart:
				l.res.Timeouts.Start = a.Timeout
			case ActStop:
				l.res.Timeouts.Stop = a.Timeout
			}
		} else {
			// a stop of what this node knows better than the coordinator
			if keep && a.Timeout > 0 {
				l.res.Timeouts.Stop = a.Timeout
			}
			a.Agent, a.Params = l.res.Agent, l.res.Params
		}
		if l.res.Timeouts.Stop == 0 {
			l.res.Timeouts.Stop = DefaultStopTimeout
		}
		if a.Agent == "" {
			// nothing known about it here: it is not running
			delete(c.local, a.Resource)
			c.report(a.Resource, a.Op, false, StatusOK, "")
			continue
		}
		l.op, l.act = a.Op, a.Action
		defer c.probeDone(a.Resource)
		switch a.Action {
		case ActStart:
			l.state, l.mayRun = Starting, true
		case ActStop:
			l.state = Stopping
		}
		c.out.Exec = append(c.out.Exec, a)
	}
}

func (c *CRM) actionDone(d ActionDone) {
	l, ok := c.local[d.Resource]
	if !ok || l.op != d.Op {
		return // an answer nobody waits for any more
	}
	l.op, l.act = OpID{}, ""
	failure := false
	switch d.Action {
	case ActStart:
		switch d.Status {
		case StatusOK:
			l.state = Started
		case StatusConfig:
			// The agent (or the host's check of the parameters against
			// its meta()) refused the configuration: nothing was started,
			// nothing needs a stop. The coordinator leaves the group
			// failed; no node would do better.
			l.state, failure = Stopped, true
		default:
			l.state, failure = Failed, true
		}
	case ActStop:
		switch {
		case d.Status == StatusOK || d.Status == StatusNotRunning:
			l.state = Stopped
		case !l.mayRun:
			// It never started here (in this incarnation): there is
			// nothing to stop, whatever the agent says (a typo in its
			// parameters fails the stop's check as it failed the
			// start's). Never a reason to fence this node.
			l.state = Stopped
		default:
			l.state, failure = StopFailed, true
			c.out.StopFailed = append(c.out.StopFailed, StopFailure{Resource: d.Resource, Error: failText(d.Status, d.Error)})
		}
	case ActMonitor:
		switch d.Status {
		case StatusOK:
			l.state, l.mayRun = Started, true // it runs here, whoever started it
		case StatusNotRunning, StatusConfig:
			l.state = Stopped
		default:
			// it may run: the coordinator stops it, and a failed stop
			// escalates
			l.state, l.mayRun, failure = Failed, true, true
		}
	}
	if c.probing[d.Resource] {
		// a probe: its answer goes out in the full report
		if l.state == Stopped {
			delete(c.local, d.Resource)
		}
		c.probeDone(d.Resource)
		c.selfStop()
		return
	}
	c.report(d.Resource, d.Op, failure, d.Status, d.Error)
	if l.state == Stopped {
		delete(c.local, d.Resource)
	}
	c.selfStop()
}

func (c *CRM) monitorFailed(f MonitorFailed) {
	l, ok := c.local[f.Resource]
	if !ok || l.state != Started || !l.op.Zero() {
		return
	}
	l.state = Failed
	c.report(f.Resource, OpID{}, true, f.Status, f.Error)
	c.selfStop()
}

// deliver takes one ordered-broadcast message.
func (c *CRM) deliver(m Message) {
	switch m := m.(type) {
	case *Actions:
		c.takeActions(m)
	case *Report:
		if c.co != nil && m.View == c.co.view {
			c.coReport(m)
		}
	case *State:
		c.out.Events = append(c.out.Events, m.Events...)
		if m.View == c.view.ID {
			c.gotState = true
		}
		if c.co != nil && c.co.view == m.View {
			return // its own: it already holds it
		}
		c.applyState(m)
	case *Command:
		c.command(m)
	}
}

// applyState keeps a member's copy of the coordinator's runtime state.
func (c *CRM) applyState(st *State) {
	if st.Full {
		keep := map[string]bool{}
		for _, g := range st.Groups {
			keep[g.Name] = true
		}
		for n := range c.rt {
			if !keep[n] {
				delete(c.rt, n)
			}
		}
	}
	for _, n := range st.Removed {
		delete(c.rt, n)
	}
	for _, g := range st.Groups {
		c.rt[g.Name] = c.fromState(g)
	}
	c.unfenced = map[string]time.Duration{}
	for _, n := range st.Unfenced {
		c.unfenced[n] = -1
	}
	c.learned(st.View)
	c.out.Changed = true
}

func (c *CRM) fromState(g GroupState) *groupRT {
	rt := &groupRT{state: g.State, owner: g.Owner, reason: g.Reason, why: g.Why, active: g.Active, res: g.Res,
		failed: g.Failed, stopped: g.Stopped, bans: map[string]time.Duration{}}
	for _, a := range g.Restarts {
		rt.restarts = append(rt.restarts, c.now-a)
	}
	for _, a := range g.Failovers {
		rt.failovers = append(rt.failovers, c.now-a)
	}
	for _, b := range g.Bans {
		rt.bans[b.Node] = c.now + b.Left
	}
	if m := g.Move; m != nil {
		rt.move = &move{node: m.Node, away: m.Away, back: m.Back}
		if m.Left > 0 {
			rt.move.until = c.now + m.Left
		}
	}
	if old := c.rt[g.Name]; old != nil {
		rt.lastOnline = old.lastOnline
	}
	if g.Failed != "" {
		for _, rs := range g.Res {
			if rs.State == Failed {
				rt.failedRes, rt.failedOn = rs.Resource, rs.Node
			}
		}
	}
	if g.State == GroupOnline {
		rt.lastOnline = g.Owner
	}
	return rt
}

func (c *CRM) toState(name string, rt *groupRT) GroupState {
	g := GroupState{Name: name, State: rt.state, Owner: rt.owner, Reason: rt.reason, Why: rt.why, Active: rt.active, Res: rt.res,
		Failed: rt.failed, Stopped: rt.stopped}
	for _, t := range rt.restarts {
		g.Restarts = append(g.Restarts, c.now-t)
	}
	for _, t := range rt.failovers {
		g.Failovers = append(g.Failovers, c.now-t)
	}
	for _, n := range sortedKeys(rt.bans) {
		g.Bans = append(g.Bans, Ban{Node: n, Left: rt.bans[n] - c.now})
	}
	if m := rt.move; m != nil {
		g.Move = &MoveState{Node: m.node, Away: m.away, Back: m.back}
		if m.until > 0 {
			g.Move.Left = max(m.until-c.now, 1)
		}
	}
	return g
}

func (c *CRM) command(m *Command) {
	switch m.Kind {
	case CmdFenced:
		c.fenced[m.Node] = true
		delete(c.unfenced, m.Node)
		if c.co != nil {
			c.coFenced(m.Node)
		} else {
			// confirmed down: whatever it ran there has stopped
			for _, rt := range c.rt {
				rt.active = remove(rt.active, m.Node)
			}
		}
		var keep []Owner
		for _, o := range c.restored {
			if o.Node != m.Node {
				keep = append(keep, o)
			}
		}
		c.restored = keep
	case CmdDrain:
		if contains(c.view.Members, m.Node) {
			c.draining[m.Node] = c.now + DrainHold
		}
	case CmdMove:
		if c.co != nil {
			c.coMove(m)
		}
	case CmdCleanup:
		if c.co != nil {
			c.coCleanup(m.Resource)
		}
	}
}

func (c *CRM) policyAnswer(a PolicyAnswer) {
	if c.co == nil {
		return
	}
	c.coPolicyAnswer(a)
}
