package crm

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// ResState is what one resource is doing on one node.
type ResState uint8

// Resource states. Failed: a monitor or start failed, the resource may be
// half running and must be stopped. StopFailed: a stop failed; nothing can
// be done on that node until cleanup (or fencing).
const (
	Stopped ResState = iota
	Starting
	Started
	Stopping
	Failed
	StopFailed
	numResStates
)

var resStateNames = [...]string{"stopped", "starting", "started", "stopping", "failed", "stop_failed"}

func (s ResState) String() string {
	if s < numResStates {
		return resStateNames[s]
	}
	return "unknown"
}

// Status is an agent call's outcome (the Lua host's statuses).
type Status uint8

// Agent call outcomes.
const (
	StatusOK Status = iota
	StatusNotRunning
	StatusFailed
	StatusConfig
	StatusTimeout
	numStatuses
)

var statusNames = [...]string{"ok", "not_running", "failed", "config", "timeout"}

func (s Status) String() string {
	if s < numStatuses {
		return statusNames[s]
	}
	return "unknown"
}

// Agent actions.
const (
	ActStart   = "start"
	ActStop    = "stop"
	ActMonitor = "monitor"
)

// OpID names one operation. The coordinator numbers its actions within
// its view's epoch; a node's own stops (outside a primary view) have
// Epoch 0.
type OpID struct {
	Epoch uint64
	N     uint64
}

// Zero reports whether id names no operation.
func (id OpID) Zero() bool { return id == OpID{} }

// Action is one agent call for a node's executor.
type Action struct {
	Op       OpID
	Node     string
	Resource string
	Group    string
	Agent    string
	Action   string // start, stop, monitor
	Params   map[string]string
	Timeout  time.Duration
	// Interval and MonitorTimeout: after a successful start the executor
	// monitors the resource every Interval (0: never) until it stops it.
	Interval       time.Duration
	MonitorTimeout time.Duration
}

// ResReport is one resource in a member's report.
type ResReport struct {
	Resource string
	Group    string
	State    ResState
	Op       OpID   // the operation in progress; zero: none
	Action   string // its action
	Done     OpID   // the operation this report completes; zero: none
	// Failure: this report carries a new failure (a failed start or
	// monitor) with its status and error text.
	Failure bool
	Status  Status
	Error   string
}

// Report is a member's account of what it runs: Full at every view
// install (everything, operations in progress included), else the
// resources that just changed.
type Report struct {
	Node string
	View wire.ViewID
	Full bool
	Res  []ResReport
	// Known (full reports only): this member's copy of who may run what
	// (G4: a new coordinator takes the newest of its members' copies
	// before it places anything; doc.go "A new coordinator").
	Known Known
}

// Owner says that Node may run Group ("": something, which group is not
// known): an owner the runtime state names, not yet seen stopped.
type Owner struct {
	Node  string
	Group string
}

// Known is a node's copy of the runtime owner table: every group's active
// nodes and the nodes that left uncleanly and are not confirmed fenced, as
// of the coordinator's State of view View. It is
// what a full Report carries and what Ready.Persist asks the driver to
// keep (Config.Known gives it back after a restart).
type Known struct {
	View   wire.ViewID
	Owners []Owner // sorted by node, then group
}

// Actions are the coordinator's agent calls, each for one node.
type Actions struct {
	View wire.ViewID
	List []Action
}

// Ban keeps a group off a node for a while (it failed there).
type Ban struct {
	Node string
	Left time.Duration // how long it still holds, as of the message
}

// MoveState is an administrator's move in effect.
type MoveState struct {
	Node string        // the node asked for; "" away from Away
	Away string        // the node it was moved away from
	Back string        // the node it returns to when the move expires
	Left time.Duration // 0: until another move
}

// GroupPhase is what a group is doing, as the coordinator derives it
// (corral help design): one of the Group* constants. Its text is what
// the State message, the API and the shell carry.
type GroupPhase string

// The group phases.
const (
	GroupOnline   GroupPhase = "online"   // every resource started on its owner
	GroupOffline  GroupPhase = "offline"  // it runs nowhere and should not (or cannot yet)
	GroupStarting GroupPhase = "starting" // being started on its owner (or waiting for its policy)
	GroupStopping GroupPhase = "stopping" // being stopped somewhere (to move or to stop)
	GroupFailed   GroupPhase = "failed"   // left failed until cleanup
	GroupBlocked  GroupPhase = "blocked"  // it cannot proceed: the reason says why
)

// GroupState is the runtime state of one group, as the coordinator
// broadcasts it. Durations are ages or time left as of the message, so no
// node compares another node's clock.
type GroupState struct {
	Name      string
	State     GroupPhase
	Owner     string
	Reason    string
	Why       string // Explain's text
	Active    []string
	Restarts  []time.Duration // ages of the restarts in place counted
	Failovers []time.Duration // ages of the failovers counted
	Bans      []Ban
	Move      *MoveState
	Failed    string // why it was left failed; "" not failed
	Stopped   bool   // a policy stopped it after a failure (until cleanup)
	Res       []ResStatus
}

// ResStatus is where one resource of a group is and what it does there.
type ResStatus struct {
	Resource string
	Node     string // "" nowhere
	State    ResState
}

// Event kinds the resource manager records (corral help events).
const (
	EvResourceStarted = "resource_started"
	EvResourceStopped = "resource_stopped"
	EvResourceFailed  = "resource_failed"
	EvGroupOnline     = "group_online"
	EvGroupOffline    = "group_offline"
	EvGroupMoved      = "group_moved"
)

// Event is one event of the cluster's stream.
type Event struct {
	Kind     string
	Resource string // resource_*
	Group    string
	On       string // resource_*: the node
	Error    string // resource_failed
	Owner    string // group_online, group_offline
	Reason   string // group_offline
	From, To string // group_moved
}

// State is the coordinator's broadcast of runtime state: Full after it
// rebuilt (every group; groups absent are gone), else the groups that
// changed and Removed ones.
type State struct {
	View     wire.ViewID
	Full     bool
	Groups   []GroupState
	Removed  []string
	Unfenced []string // nodes that left uncleanly and are not fenced yet
	Events   []Event
}

// Command kinds.
const (
	CmdMove    = "move"
	CmdCleanup = "cleanup"
	CmdFenced  = "fenced"
	CmdDrain   = "drain" // Node stops cleanly: move its groups away (Drain)
)

// Command is an administrator's request, broadcast so the coordinator
// (whoever it is) applies it in order.
type Command struct {
	From     string
	Kind     string // move, cleanup, fenced, drain
	Group    string // move
	Node     string // move: target ("" away from the current owner); fenced, drain: the node
	For      time.Duration
	Resource string // cleanup
}

// Message is one of Report, Actions, State, Command.
type Message interface{ tag() byte }

const (
	tagReport  byte = 1
	tagActions byte = 2
	tagState   byte = 3
	tagCommand byte = 4

	codecVersion = 1
	maxCount     = 1 << 20
)

func (*Report) tag() byte  { return tagReport }
func (*Actions) tag() byte { return tagActions }
func (*State) tag() byte   { return tagState }
func (*Command) tag() byte { return tagCommand }

// ErrCorrupt is returned for an encoding that does not decode.
var ErrCorrupt = errors.New("crm: corrupt or unsupported message")

// ErrNoPrimary is returned for a request that needs a member of a primary
// view (a coordinator to carry it out).
var ErrNoPrimary = errors.New("crm: no primary view")

// Encode returns m's encoding (the ordered-broadcast payload).
func Encode(m Message) []byte {
	var w wire.Writer
	w.Uint8(codecVersion)
	w.Uint8(m.tag())
	switch m := m.(type) {
	case *Report:
		w.String(m.Node)
		w.ViewID(m.View)
		w.Bool(m.Full)
		w.Uvarint(uint64(len(m.Res)))
		for _, r := range m.Res {
			w.String(r.Resource)
			w.String(r.Group)
			w.Uint8(uint8(r.State))
			putOp(&w, r.Op)
			w.String(r.Action)
			putOp(&w, r.Done)
			w.Bool(r.Failure)
			w.Uint8(uint8(r.Status))
			w.String(r.Error)
		}
		putKnown(&w, m.Known)
	case *Actions:
		w.ViewID(m.View)
		w.Uvarint(uint64(len(m.List)))
		for _, a := range m.List {
			putOp(&w, a.Op)
			w.String(a.Node)
			w.String(a.Resource)
			w.String(a.Group)
			w.String(a.Agent)
			w.String(a.Action)
			putMap(&w, a.Params)
			putDur(&w, a.Timeout)
			putDur(&w, a.Interval)
			putDur(&w, a.MonitorTimeout)
		}
	case *State:
		w.ViewID(m.View)
		w.Bool(m.Full)
		w.Uvarint(uint64(len(m.Groups)))
		for _, g := range m.Groups {
			putGroupState(&w, g)
		}
		putStrings(&w, m.Removed)
		putStrings(&w, m.Unfenced)
		w.Uvarint(uint64(len(m.Events)))
		for _, e := range m.Events {
			for _, s := range []string{e.Kind, e.Resource, e.Group, e.On, e.Error, e.Owner, e.Reason, e.From, e.To} {
				w.String(s)
			}
		}
	case *Command:
		w.String(m.From)
		w.String(m.Kind)
		w.String(m.Group)
		w.String(m.Node)
		putDur(&w, m.For)
		w.String(m.Resource)
	}
	return w
}

// Decode reads what Encode wrote. It never panics, whatever its input.
func Decode(b []byte) (Message, error) {
	r := wire.NewReader(b)
	if v := r.Uint8(); v != codecVersion {
		return nil, ErrCorrupt
	}
	var m Message
	switch r.Uint8() {
	case tagReport:
		rp := &Report{Node: r.String(), View: r.ViewID(), Full: r.Bool()}
		n := r.Count(1, maxCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			rr := ResReport{Resource: r.String(), Group: r.String(), State: ResState(r.Uint8()), Op: getOp(r), Action: r.String(), Done: getOp(r),
				Failure: r.Bool(), Status: Status(r.Uint8()), Error: r.String()}
			if rr.State >= numResStates || rr.Status >= numStatuses {
				return nil, ErrCorrupt
			}
			rp.Res = append(rp.Res, rr)
		}
		rp.Known = getKnown(r)
		m = rp
	case tagActions:
		as := &Actions{View: r.ViewID()}
		n := r.Count(1, maxCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			a := Action{Op: getOp(r), Node: r.String(), Resource: r.String(), Group: r.String(), Agent: r.String(), Action: r.String()}
			a.Params = getMap(r)
			a.Timeout, a.Interval, a.MonitorTimeout = getDur(r), getDur(r), getDur(r)
			as.List = append(as.List, a)
		}
		m = as
	case tagState:
		st := &State{View: r.ViewID(), Full: r.Bool()}
		n := r.Count(1, maxCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			st.Groups = append(st.Groups, getGroupState(r))
		}
		st.Removed = getStrings(r)
		st.Unfenced = getStrings(r)
		n = r.Count(1, maxCount)
		for i := 0; i < n && r.Err() == nil; i++ {
			st.Events = append(st.Events, Event{Kind: r.String(), Resource: r.String(), Group: r.String(), On: r.String(),
				Error: r.String(), Owner: r.String(), Reason: r.String(), From: r.String(), To: r.String()})
		}
		m = st
	case tagCommand:
		m = &Command{From: r.String(), Kind: r.String(), Group: r.String(), Node: r.String(), For: getDur(r), Resource: r.String()}
	default:
		return nil, ErrCorrupt
	}
	if r.Err() != nil || r.Len() != 0 {
		return nil, ErrCorrupt
	}
	return m, nil
}

func putGroupState(w *wire.Writer, g GroupState) {
	for _, s := range []string{g.Name, string(g.State), g.Owner, g.Reason, g.Why, g.Failed} {
		w.String(s)
	}
	w.Bool(g.Stopped)
	putStrings(w, g.Active)
	putDurs(w, g.Restarts)
	putDurs(w, g.Failovers)
	w.Uvarint(uint64(len(g.Bans)))
	for _, b := range g.Bans {
		w.String(b.Node)
		putDur(w, b.Left)
	}
	w.Bool(g.Move != nil)
	if g.Move != nil {
		w.String(g.Move.Node)
		w.String(g.Move.Away)
		w.String(g.Move.Back)
		putDur(w, g.Move.Left)
	}
	w.Uvarint(uint64(len(g.Res)))
	for _, rs := range g.Res {
		w.String(rs.Resource)
		w.String(rs.Node)
		w.Uint8(uint8(rs.State))
	}
}

func getGroupState(r *wire.Reader) GroupState {
	g := GroupState{Name: r.String(), State: GroupPhase(r.String()), Owner: r.String(), Reason: r.String(), Why: r.String(), Failed: r.String()}
	g.Stopped = r.Bool()
	g.Active = getStrings(r)
	g.Restarts = getDurs(r)
	g.Failovers = getDurs(r)
	n := r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		g.Bans = append(g.Bans, Ban{Node: r.String(), Left: getDur(r)})
	}
	if r.Bool() {
		g.Move = &MoveState{Node: r.String(), Away: r.String(), Back: r.String(), Left: getDur(r)}
	}
	n = r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		rs := ResStatus{Resource: r.String(), Node: r.String(), State: ResState(r.Uint8())}
		if rs.State >= numResStates {
			rs.State = Failed
		}
		g.Res = append(g.Res, rs)
	}
	return g
}

func putKnown(w *wire.Writer, k Known) {
	w.ViewID(k.View)
	w.Uvarint(uint64(len(k.Owners)))
	for _, o := range k.Owners {
		w.String(o.Node)
		w.String(o.Group)
	}
}

func getKnown(r *wire.Reader) Known {
	k := Known{View: r.ViewID()}
	n := r.Count(1, maxCount)
	for i := 0; i < n && r.Err() == nil; i++ {
		k.Owners = append(k.Owners, Owner{Node: r.String(), Group: r.String()})
	}
	return k
}

// EncodeKnown and DecodeKnown are Known's encoding (what the driver
// persists); DecodeKnown never panics.
func EncodeKnown(k Known) []byte {
	var w wire.Writer
	w.Uint8(codecVersion)
	putKnown(&w, k)
	return w
}

// DecodeKnown reads what EncodeKnown wrote.
func DecodeKnown(b []byte) (Known, error) {
	r := wire.NewReader(b)
	if v := r.Uint8(); v != codecVersion {
		return Known{}, ErrCorrupt
	}
	k := getKnown(r)
	if r.Err() != nil || r.Len() != 0 {
		return Known{}, ErrCorrupt
	}
	return k, nil
}

func putOp(w *wire.Writer, id OpID) {
	w.Uvarint(id.Epoch)
	w.Uvarint(id.N)
}

func getOp(r *wire.Reader) OpID { return OpID{Epoch: r.Uvarint(), N: r.Uvarint()} }

func putDur(w *wire.Writer, d time.Duration) {
	if d < 0 {
		d = 0
	}
	w.Uvarint(uint64(d))
}

func getDur(r *wire.Reader) time.Duration {
	v := r.Uvarint()
	if v > 1<<62 {
		v = 1 << 62
	}
	return time.Duration(v)
}

func putDurs(w *wire.Writer, ds []time.Duration) {
	w.Uvarint(uint64(len(ds)))
	for _, d := range ds {
		putDur(w, d)
	}
}

func getDurs(r *wire.Reader) []time.Duration {
	n := r.Count(1, maxCount)
	var out []time.Duration
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, getDur(r))
	}
	return out
}

func putStrings(w *wire.Writer, ss []string) {
	w.Uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.String(s)
	}
}

func getStrings(r *wire.Reader) []string {
	n := r.Count(1, maxCount)
	var out []string
	for i := 0; i < n && r.Err() == nil; i++ {
		out = append(out, r.String())
	}
	return out
}

func putMap(w *wire.Writer, m map[string]string) {
	ks := slices.Sorted(maps.Keys(m))
	w.Uvarint(uint64(len(ks)))
	for _, k := range ks {
		w.String(k)
		w.String(m[k])
	}
}

func getMap(r *wire.Reader) map[string]string {
	n := r.Count(1, maxCount)
	m := map[string]string{}
	for i := 0; i < n && r.Err() == nil; i++ {
		k := r.String()
		m[k] = r.String()
	}
	return m
}
