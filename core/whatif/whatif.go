package whatif

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Node is one configured node.
type Node struct {
	Name string
	ID   wire.NodeID
}

// Input is the live cluster as one node knows it.
type Input struct {
	Nodes   []Node // every configured node
	Quorum  quorum.Config
	Witness bool // a quorum witness is configured
	// Fence is the fence configuration (Targets, Action, timings); Self
	// and Boot are set per simulated node.
	Fence      fence.Config
	FenceState []byte // fence.Fence.Snapshot; nil: nothing known
	// The installed view.
	View    wire.ViewID
	Members []string
	Primary bool
	Paused  []string // members in standby (`pause`)
	Leaving []string
	// Config is the desired state: every /resources/ and /groups/ key.
	Config map[string][]byte
	// State and Known are the resource manager's runtime state and owner
	// table (crm.CRM.Snapshot).
	State crm.State
	Known crm.Known
	// TimeOfDay (when Clock is set) is the local time since midnight, for
	// failback windows.
	TimeOfDay time.Duration
	Clock     bool
}

// Faults is what to try; several combine.
type Faults struct {
	// Stage, when non-nil, is the whole staged desired state (every
	// /resources/ and /groups/ key); keys outside those folders are
	// ignored.
	Stage map[string][]byte
	Kill  []string // crashed nodes
	Pause []string // nodes stopped by their host (SIGSTOP) past their lease
	// Partition splits the members into sides (each member on one side).
	Partition [][]string
	// Fail names resources that fail ("RESOURCE" or "GROUP/RESOURCE",
	// optionally "@NODE"; default: where it runs): its monitor fails
	// there and every start of it there fails.
	Fail []string
}

// Empty reports whether f asks for nothing.
func (f Faults) Empty() bool {
	return f.Stage == nil && len(f.Kill) == 0 && len(f.Pause) == 0 && len(f.Partition) == 0 && len(f.Fail) == 0
}

// Step kinds.
const (
	StepView     = "view"     // a side installs a view
	StepStart    = "start"    // an agent start on a node
	StepStop     = "stop"     // an agent stop on a node
	StepFailed   = "failed"   // an agent call or monitor failed
	StepGroup    = "group"    // a group's state changed
	StepFence    = "fence"    // a fence device call
	StepFenced   = "fenced"   // a node is confirmed fenced
	StepFault    = "fault"    // a fault is applied
	StepNoFence  = "no_fence" // a node waits for a fence that cannot come
	StepSelfStop = "self_stop"
)

// Step is one thing the cores did, in order.
type Step struct {
	Kind     string   `json:"kind"`
	Node     string   `json:"node,omitempty"`
	Group    string   `json:"group,omitempty"`
	Resource string   `json:"resource,omitempty"`
	State    string   `json:"state,omitempty"` // group: its new state
	Text     string   `json:"text"`
	Why      []string `json:"why,omitempty"` // group: the coordinator's reasons
}

// Side is one connected part of the cluster after the faults.
type Side struct {
	Members     []string `json:"members"`
	Coordinator string   `json:"coordinator"`
	Primary     bool     `json:"primary"`
	Quorum      string   `json:"quorum"` // the arithmetic (quorum.Decision.Explain)
}

// Fenced is a node the simulation fenced, or that waits for a fence.
type Fenced struct {
	Node      string `json:"node"`
	Confirmed bool   `json:"confirmed"`
	Device    string `json:"device,omitempty"`
	Level     int    `json:"level,omitempty"` // from 1; 0: watchdog or none
	By        string `json:"by,omitempty"`
	Why       string `json:"why,omitempty"` // not confirmed: why not
}

// Group is one group before and after.
type Group struct {
	Name        string `json:"name"`
	BeforeState string `json:"before_state"`
	BeforeOwner string `json:"before_owner"`
	State       string `json:"state"`
	Owner       string `json:"owner"`
	Reason      string `json:"reason,omitempty"`
	Moved       bool   `json:"moved"`
}

// Output is the simulation's answer.
type Output struct {
	// Underway is what the live cluster was still doing before any
	// fault (it was not quiet).
	Underway []Step   `json:"underway"`
	Steps    []Step   `json:"steps"`
	Sides    []Side   `json:"sides"`
	Quorate  bool     `json:"quorate"` // some side is primary
	Primary  string   `json:"primary"` // the primary side's coordinator ("" none)
	Fenced   []Fenced `json:"fenced"`
	Groups   []Group  `json:"groups"`
	Notes    []string `json:"notes"`
	Quiet    bool     `json:"quiet"` // false: still changing when MaxTime passed
}

// Virtual durations of the simulation.
const (
	// Quiet is how long nothing must happen before the run stops.
	Quiet = 40 * time.Second
	// MaxTime bounds a run.
	MaxTime = 30 * time.Minute
	tick    = 100 * time.Millisecond
	callFor = time.Second // every agent and device call
	bcastIn = time.Millisecond
)

// ErrBadFault is returned for a fault that names nothing it can act on.
var ErrBadFault = errors.New("bad what-if")

const (
	up = iota
	frozen
	dead
)

type snode struct {
	name  string
	id    wire.NodeID
	st    int
	c     *crm.CRM
	f     *fence.Fence
	view  crm.View
	fview fence.View
	fail  map[string]bool // resources whose starts fail here
	// alone: a lone two_node view: primary for nothing but fencing its
	// peer until the peer is confirmed fenced
	alone bool
}

type event struct {
	at   time.Duration
	seq  uint64
	real bool // an agent or device call, a timer: the run is not quiet while one is pending
	tick bool
	fn   func()
}

type sim struct {
	in       Input
	out      Output
	now      time.Duration
	seq      uint64
	ticks    uint64
	queue    []event
	pending  int
	nodes    map[string]*snode
	names    []string // by id
	primary  map[wire.ViewID]bool
	epoch    uint64
	last     time.Duration // when something last happened
	record   *[]Step
	baseline bool
	running  map[string]map[string]crm.ResState // the baseline: node -> resource -> state
	groups   map[string]crm.GroupView           // the coordinators' last word, per group
	fenceOn  bool
	fenced   map[string]*Fenced
	notes    map[string]bool
	err      error
}

// Run simulates faults on the cluster in. The error names a fault that
// names nothing (ErrBadFault) or a core that refused its input.
func Run(in Input, f Faults) (Output, error) {
	s := &sim{in: in, nodes: map[string]*snode{}, primary: map[wire.ViewID]bool{}, running: map[string]map[string]crm.ResState{},
		groups: map[string]crm.GroupView{}, fenced: map[string]*Fenced{}, notes: map[string]bool{}}
	nodes := slices.Clone(in.Nodes)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].ID < nodes[j].ID })
	for _, n := range nodes {
		s.names = append(s.names, n.Name)
		s.nodes[n.Name] = &snode{name: n.Name, id: n.ID, st: dead, fail: map[string]bool{}}
	}
	if err := s.check(f); err != nil {
		return Output{}, err
	}
	if err := s.boot(); err != nil {
		return Output{}, err
	}
	// 1. the baseline: the live view, installed afresh
	s.baseline = true
	s.record = &s.out.Underway
	s.epoch = in.View.Epoch
	s.install(slices.Clone(in.Members), in.View, in.Primary, true)
	s.run()
	before := s.finalGroups()
	s.baseline = false
	s.record = &s.out.Steps
	s.out.Underway = nonProbe(s.out.Underway)
	// 2. the faults
	s.apply(f)
	// 3. until quiet
	s.out.Quiet = s.run()
	if s.err != nil {
		return Output{}, s.err
	}
	s.finish(before)
	return s.out, nil
}

// nonProbe drops what the baseline's view install alone causes (its
// group rows being rebuilt): only agent calls and fences say the live
// cluster was busy.
func nonProbe(steps []Step) []Step {
	var out []Step
	for _, st := range steps {
		switch st.Kind {
		case StepStart, StepStop, StepFence, StepFenced, StepFailed:
			out = append(out, st)
		}
	}
	return out
}

// resolveRes finds a resource named "R", "G/R", "R@N" or "G/R@N": its
// name and node ("" where it runs).
func (s *sim) resolveRes(spec string) (res, node string, err error) {
	res, node, _ = strings.Cut(spec, "@")
	group := ""
	if g, r, ok := strings.Cut(res, "/"); ok {
		group, res = g, r
	}
	v, ok := s.in.Config[crm.ResourcePrefix+res]
	if !ok {
		return "", "", fmt.Errorf("--fail %s: no resource %q (`resources` lists them): %w", spec, res, ErrBadFault)
	}
	if group != "" {
		r, perr := crm.ParseResource(res, v)
		if perr == nil && r.Group != group {
			return "", "", fmt.Errorf("--fail %s: resource %s is in group %s, not %s: %w", spec, res, r.Group, group, ErrBadFault)
		}
	}
	if node != "" && !slices.Contains(s.in.Members, node) {
		return "", "", fmt.Errorf("--fail %s: %s is not a member of the view: %w", spec, node, ErrBadFault)
	}
	return res, node, nil
}

// check refuses faults that name nothing.
func (s *sim) check(f Faults) error {
	member := func(flag, n string) error {
		if _, ok := s.nodes[n]; !ok {
			return fmt.Errorf("%s %s: no such node (nodes: %s): %w", flag, n, strings.Join(s.names, ", "), ErrBadFault)
		}
		if !slices.Contains(s.in.Members, n) {
			return fmt.Errorf("%s %s: %s is not a member of the view (members: %s): %w", flag, n, n, strings.Join(s.in.Members, ", "), ErrBadFault)
		}
		return nil
	}
	for _, n := range f.Kill {
		if err := member("--kill", n); err != nil {
			return err
		}
	}
	for _, n := range f.Pause {
		if err := member("--pause", n); err != nil {
			return err
		}
	}
	if len(f.Partition) > 0 {
		seen := map[string]bool{}
		for _, side := range f.Partition {
			for _, n := range side {
				if err := member("--partition", n); err != nil {
					return err
				}
				if seen[n] {
					return fmt.Errorf("--partition: %s is on two sides: %w", n, ErrBadFault)
				}
				seen[n] = true
			}
		}
		for _, n := range s.in.Members {
			if !seen[n] {
				return fmt.Errorf("--partition: %s is on no side: name every member, sides separated by | (e.g. n1,n2|n3): %w", n, ErrBadFault)
			}
		}
	}
	for _, spec := range f.Fail {
		if _, _, err := s.resolveRes(spec); err != nil {
			return err
		}
	}
	return nil
}

// boot builds every member's resource manager and fence core from the
// live state.
func (s *sim) boot() error {
	for _, t := range s.in.Fence.Targets {
		if len(t.Levels) > 0 || t.Watchdog {
			s.fenceOn = true
		}
	}
	boots := map[string]uint64{}
	if s.in.FenceState != nil {
		cfg := s.in.Fence
		cfg.Self = s.names[0]
		f, err := fence.New(cfg)
		if err != nil {
			return fmt.Errorf("fence configuration: %w", err)
		}
		if err := f.Restore(s.in.FenceState); err != nil {
			return fmt.Errorf("fence state: %w", err)
		}
		for _, t := range f.Status() {
			boots[t.Target] = t.Boot
			if t.Confirmed && slices.Contains(s.in.Members, t.Target) {
				// a member confirmed fenced at the last boot id known
				// here has restarted since: its reports with the new
				// boot id have not been merged yet
				boots[t.Target]++
			}
		}
	}
	// the running placement, from the runtime state's rows
	for _, g := range s.in.State.Groups {
		for _, r := range g.Res {
			if r.Node == "" || r.State == crm.Stopped || r.State == crm.Stopping {
				continue
			}
			if s.running[r.Node] == nil {
				s.running[r.Node] = map[string]crm.ResState{}
			}
			s.running[r.Node][r.Resource] = r.State
		}
	}
	state := crm.Encode(&s.in.State)
	var keys crm.ConfigKeys
	for _, k := range slices.Sorted(maps.Keys(s.in.Config)) {
		keys = append(keys, crm.ConfigKey{Key: k, Value: nonNil(s.in.Config[k])})
	}
	for _, name := range s.names {
		n := s.nodes[name]
		if !slices.Contains(s.in.Members, name) {
			continue
		}
		n.st = up
		c, err := crm.New(crm.Config{Self: name, AssumeFenced: !s.fenceOn, Known: s.in.Known})
		if err != nil {
			return err
		}
		n.c = c
		cfg := s.in.Fence
		cfg.Self, cfg.Boot = name, max(boots[name], 1)
		if n.f, err = fence.New(cfg); err != nil {
			return fmt.Errorf("fence configuration: %w", err)
		}
		if s.in.FenceState != nil {
			if err := n.f.Restore(s.in.FenceState); err != nil {
				return fmt.Errorf("fence state: %w", err)
			}
		}
		if s.in.Clock {
			s.crmStep(n, crm.TimeOfDay{D: s.in.TimeOfDay})
		}
		s.crmStep(n, keys)
		s.crmStep(n, crm.Deliver{Payload: state})
	}
	return s.err
}

func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// ---- the event queue ----

// at schedules fn after d; real: an agent or device call or a timer (the
// run is not quiet while one is pending).
func (s *sim) at(d time.Duration, real bool, fn func()) {
	s.push(event{at: s.now + d, real: real, fn: fn})
}

func (s *sim) push(e event) {
	s.seq++
	e.seq = s.seq
	i := sort.Search(len(s.queue), func(i int) bool {
		q := s.queue[i]
		return q.at > e.at || q.at == e.at && q.seq > e.seq
	})
	s.queue = slices.Insert(s.queue, i, e)
	if e.real {
		s.pending++
	}
}

// run runs events until quiet (true) or MaxTime (false).
func (s *sim) run() bool {
	start := s.now
	s.last = s.now
	s.push(event{at: s.now + tick, tick: true})
	for len(s.queue) > 0 && s.err == nil {
		e := s.queue[0]
		s.queue = s.queue[1:]
		s.now = e.at
		if e.real {
			s.pending--
		}
		if !e.tick {
			e.fn()
			continue
		}
		if s.pending == 0 && s.now-s.last >= Quiet+s.maxDelay() {
			s.dropTicks()
			return true
		}
		if s.now-start >= MaxTime {
			s.dropTicks()
			return false
		}
		s.tick()
		s.push(event{at: s.now + tick, tick: true})
	}
	return true
}

func (s *sim) dropTicks() {
	s.queue = slices.DeleteFunc(s.queue, func(e event) bool { return e.tick })
}

func (s *sim) maxDelay() time.Duration {
	var d time.Duration
	for _, t := range s.in.Fence.Targets {
		d = max(d, t.Delay)
	}
	return d
}

func (s *sim) tick() {
	s.ticks++
	for _, name := range s.names {
		n := s.nodes[name]
		if n.st != up {
			continue
		}
		n.f.Tick(s.now)
		if s.ticks%2 == 0 {
			n.c.Tick(s.now) // every 200 ms, as the stack ticks it
		}
		s.drain(n)
	}
}
