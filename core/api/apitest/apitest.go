// Package apitest is a fake node for tests of the admin API and its
// clients: it implements api.Node in memory.
package apitest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/lua"
)

// Node is a fake api.Node. Set its fields before use; its methods are
// safe for concurrent use.
type Node struct {
	mu sync.Mutex
	// St is the status document; Err, when set, fails every call.
	St     node.Status
	Err    error
	Quorum node.QuorumStatus
	Metric node.Metrics
	// FaultsOn is [debug] fault_injection.
	FaultsOn bool
	// Addrs maps node names to their link addresses.
	Addrs map[string][]netip.Addr
	// Actions records SetNodeState and Leave calls: "pause n2", "leave n1".
	Actions []string
	// ActionErr fails SetNodeState.
	ActionErr error

	evs  []node.Event
	subs map[chan node.Event]struct{}
	inj  *Injector

	// KV is the fake configuration database; Stale marks its reads stale;
	// WriteErr fails writes (e.g. cdb.ErrNoQuorum{Votes: 1, Expected: 3}).
	KV       map[string]cdb.KV
	Rev      uint64
	Stale    bool
	WriteErr error
	// ReadErr fails linearizable reads (e.g. one that timed out).
	ReadErr error
	Changes []cdb.Change
	// Compacted is the highest revision a watch can no longer replay.
	Compacted uint64
	// LoseAnswer makes the next write apply and then fail with this error
	// (as when the answer of an update applied elsewhere is lost).
	LoseAnswer error

	dedup map[string]fakeDone // CDBTxnAs: each client's last request

	watchEvs []cdb.WatchEvent // every change CDBTxn applied
	watches  map[*fakeWatch]struct{}

	// LuaHost is the Lua host the Lua endpoints use (nil: they answer
	// 501); LuaStat is what LuaStats returns (lua.go).
	LuaHost *lua.Host
	LuaStat node.LuaStats

	// DLM is the fake lock manager the lock endpoints use (dlm.go; nil:
	// sessions fail as on a stopped node).
	DLM *Locks
}

type fakeDone struct {
	seq uint64
	res cdb.Result
}

type fakeWatch struct {
	ch     chan cdb.WatchEvent
	prefix string
	err    error
}

// Sample is a three-node status seen from n1: n1..n3 online, n3's link 1
// down.
func Sample() node.Status {
	up := func(l, r int, rtt string) node.LinkStatus {
		return node.LinkStatus{Local: l, Remote: r, Up: true, In: true, Out: true, RTT: rtt}
	}
	return node.Status{Cluster: "demo", Node: "n1", Boot: 3, Epoch: 4, Coordinator: "n1", View: "4/n1",
		Primary: true, Quorate: true, Quorum: "primary: 3 of 3 votes of configured nodes, need 2; policy majority",
		Members: []string{"n1", "n2", "n3"}, Uptime: "1m0s",
		Nodes: []node.NodeStatus{
			{Name: "n1", ID: 1, State: "online", Reachable: true},
			{Name: "n2", ID: 2, State: "online", Reachable: true, Links: []node.LinkStatus{up(0, 0, "150µs"), up(1, 1, "160µs")}},
			{Name: "n3", ID: 3, State: "online", Reachable: true, Links: []node.LinkStatus{up(0, 0, "170µs"),
				{Local: 1, Remote: 1, In: true}}},
		}}
}

// New returns a fake node with the Sample status, addresses 127.9.L.K for
// node K's link L, and fault injection on.
func New() *Node {
	n := &Node{St: Sample(), FaultsOn: true, Addrs: map[string][]netip.Addr{}, subs: map[chan node.Event]struct{}{}}
	for _, nd := range n.St.Nodes {
		n.Addrs[nd.Name] = []netip.Addr{netip.AddrFrom4([4]byte{127, 9, 0, byte(nd.ID)}), netip.AddrFrom4([4]byte{127, 9, 1, byte(nd.ID)})}
	}
	n.Quorum = node.QuorumStatus{View: "4/n1", Primary: true, Quorate: true, Votes: 3, Needed: 2, Total: 3,
		Reference: "configured nodes", Policy: "majority", Explanation: n.St.Quorum}
	n.inj = &Injector{node: n}
	return n
}

// Emit records an event: it is numbered and handed to subscribers.
func (n *Node) Emit(e node.Event) node.Event {
	n.mu.Lock()
	defer n.mu.Unlock()
	e.Seq = uint64(len(n.evs)) + 1
	e.Time = "2026-01-02T03:04:05.000Z"
	e.Node = n.St.Node
	n.evs = append(n.evs, e)
	for ch := range n.subs {
		select {
		case ch <- e:
		default:
		}
	}
	return e
}

// StatusDoc implements api.Node.
func (n *Node) StatusDoc() (node.Status, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.St
	st.Members = slices.Clone(n.St.Members)
	st.Nodes = slices.Clone(n.St.Nodes) // callers read it after the lock is released
	return st, n.Err
}

// QuorumDoc implements api.Node.
func (n *Node) QuorumDoc() (node.QuorumStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.Quorum, n.Err
}

// Events implements api.Node.
func (n *Node) Events(after uint64, limit int) ([]node.Event, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return nil, n.Err
	}
	var out []node.Event
	for _, e := range n.evs {
		if e.Seq > after && (limit == 0 || len(out) < limit) {
			out = append(out, e)
		}
	}
	return out, nil
}

// Subscribe implements api.Node.
func (n *Node) Subscribe(buf int) (<-chan node.Event, func()) {
	ch := make(chan node.Event, buf)
	n.mu.Lock()
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	}
}

// Subscribers returns how many subscriptions are open.
func (n *Node) Subscribers() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.subs)
}

// SetNodeState implements api.Node: it records the call and sets the
// node's state in the status document.
func (n *Node) SetNodeState(name string, s membership.State) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return n.Err
	}
	if n.ActionErr != nil {
		return n.ActionErr
	}
	verb := map[membership.State]string{membership.StatePaused: "pause", membership.StateOnline: "resume", membership.StateLeaving: "leave"}[s]
	n.Actions = append(n.Actions, verb+" "+name)
	for i := range n.St.Nodes {
		if n.St.Nodes[i].Name == name {
			n.St.Nodes[i].State = s.String()
		}
	}
	return nil
}

// Leave implements api.Node.
func (n *Node) Leave(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return n.Err
	}
	n.Actions = append(n.Actions, "leave "+n.St.Node)
	return nil
}

// FaultInjection implements api.Node.
func (n *Node) FaultInjection() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.FaultsOn
}

// Faults implements api.Node.
func (n *Node) Faults() transport.FaultInjector { return n.inj }

// NodeAddrs implements api.Node.
func (n *Node) NodeAddrs(name string) ([]netip.Addr, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	a, ok := n.Addrs[name]
	return a, ok
}

// Metrics implements api.Node.
func (n *Node) Metrics() (node.Metrics, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.Metric, n.Err
}

// CDBGet implements api.Node.
func (n *Node) CDBGet(key string) (cdb.KV, bool, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	kv, ok := n.KV[key]
	return kv, ok, n.Stale, n.Err
}

// CDBList implements api.Node.
func (n *Node) CDBList(prefix string) ([]cdb.KV, uint64, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []cdb.KV
	for k, kv := range n.KV {
		if strings.HasPrefix(k, prefix) {
			out = append(out, kv)
		}
	}
	slices.SortFunc(out, func(a, b cdb.KV) int { return strings.Compare(a.Key, b.Key) })
	return out, n.Rev, n.Stale, n.Err
}

// CDBGetLinear implements api.Node: the fake's state is one node's,
// so a linearizable read is a read of it (refused when Stale is set).
func (n *Node) CDBGetLinear(_ context.Context, key string) (cdb.KV, bool, error) {
	kv, ok, stale, err := n.CDBGet(key)
	if n.ReadErr != nil {
		err = n.ReadErr
	}
	if err == nil && stale {
		err = cdb.ErrNoQuorum{Votes: 1, Expected: 3}
	}
	return kv, ok, err
}

// CDBListLinear implements api.Node (CDBGetLinear).
func (n *Node) CDBListLinear(_ context.Context, prefix string) ([]cdb.KV, uint64, error) {
	kvs, rev, stale, err := n.CDBList(prefix)
	if n.ReadErr != nil {
		err = n.ReadErr
	}
	if err == nil && stale {
		err = cdb.ErrNoQuorum{Votes: 1, Expected: 3}
	}
	return kvs, rev, err
}

// CDBHistory implements api.Node.
func (n *Node) CDBHistory(count int) ([]cdb.Change, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := n.Changes
	if count < len(h) {
		h = h[len(h)-count:]
	}
	return slices.Clone(h), n.Err
}

// CDBTxn implements api.Node: it applies the transaction to KV.
func (n *Node) CDBTxn(_ context.Context, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.txn("test", 0, ifs, then)
}

// CDBTxnAs implements api.Node: a request id seen before gets its
// original result and applies nothing.
func (n *Node) CDBTxnAs(_ context.Context, client string, seq uint64, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d, ok := n.dedup[client]; ok && seq <= d.seq && n.Err == nil && n.WriteErr == nil {
		if seq == d.seq {
			return d.res, nil
		}
		return cdb.Result{Rev: n.Rev, Old: true}, nil
	}
	return n.txn(client, seq, ifs, then)
}

func (n *Node) txn(client string, seq uint64, ifs []cdb.Cond, then []cdb.Op) (cdb.Result, error) {
	if n.Err != nil {
		return cdb.Result{}, n.Err
	}
	if n.WriteErr != nil {
		return cdb.Result{}, n.WriteErr
	}
	if n.KV == nil {
		n.KV = map[string]cdb.KV{}
	}
	n.Rev++
	ok := true
	for _, c := range ifs {
		if n.KV[c.Key].ModRev != c.ModRev {
			ok = false
		}
	}
	if ok {
		for _, o := range then {
			switch o.Kind {
			case cdb.OpPut:
				kv, had := n.KV[o.Key]
				if !had {
					kv.CreateRev = n.Rev
				}
				kv.Key, kv.Value, kv.ModRev = o.Key, slices.Clone(o.Value), n.Rev
				n.KV[o.Key] = kv
			case cdb.OpDelete:
				delete(n.KV, o.Key)
			}
		}
	}
	if seq == 0 {
		seq = n.Rev
	}
	n.Changes = append(n.Changes, cdb.Change{Rev: n.Rev, Node: 1, Client: client, Seq: seq, If: ifs, Ops: then, OK: ok})
	if ok {
		for _, o := range then {
			ev := cdb.WatchEvent{Rev: n.Rev, Key: o.Key, Value: slices.Clone(o.Value), Deleted: o.Kind == cdb.OpDelete}
			n.watchEvs = append(n.watchEvs, ev)
			for w := range n.watches {
				if !strings.HasPrefix(ev.Key, w.prefix) {
					continue
				}
				select {
				case w.ch <- ev:
				default:
					n.endWatch(w, node.ErrWatchBehind)
				}
			}
		}
	}
	res := cdb.Result{Rev: n.Rev, OK: ok}
	if client != "test" {
		if n.dedup == nil {
			n.dedup = map[string]fakeDone{}
		}
		n.dedup[client] = fakeDone{seq, res}
	}
	if err := n.LoseAnswer; err != nil {
		n.LoseAnswer = nil
		return cdb.Result{}, err
	}
	return res, nil
}

// Injector is the fake's fault injector: it keeps rules in a list and
// checks what the real one checks for links (two links).
type Injector struct {
	node  *Node
	next  uint64
	rules []transport.Fault
}

// AddFault implements transport.FaultInjector.
func (f *Injector) AddFault(r transport.Fault) (uint64, error) {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	if !f.node.FaultsOn {
		return 0, transport.ErrFaultsDisabled
	}
	if r.Link < -1 || r.Link > 1 {
		return 0, errors.Join(transport.ErrInvalidFault, errors.New("link out of range"))
	}
	if r.Drop == 0 && r.Dup == 0 && r.Delay == 0 {
		return 0, errors.Join(transport.ErrInvalidFault, errors.New("it does nothing"))
	}
	f.next++
	r.ID = f.next
	f.rules = append(f.rules, r)
	return r.ID, nil
}

// Faults implements transport.FaultInjector.
func (f *Injector) Faults() []transport.Fault {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	return slices.Clone(f.rules)
}

// RemoveFault implements transport.FaultInjector.
func (f *Injector) RemoveFault(id uint64) error {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	for i, r := range f.rules {
		if r.ID == id {
			f.rules = slices.Delete(f.rules, i, i+1)
			return nil
		}
	}
	return transport.ErrUnknownFault
}

// ClearFaults implements transport.FaultInjector.
func (f *Injector) ClearFaults() {
	f.node.mu.Lock()
	defer f.node.mu.Unlock()
	f.rules = nil
}

// CDBWatch implements api.Node over the changes CDBTxn applied.
func (n *Node) CDBWatch(prefix string, start uint64, buf int) (*node.CDBWatch, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Err != nil {
		return nil, n.Err
	}
	if start > 0 && start <= n.Compacted {
		return nil, cdb.ErrCompacted{Start: start, Oldest: n.Compacted + 1}
	}
	var replay []cdb.WatchEvent
	for _, ev := range n.watchEvs {
		if start > 0 && ev.Rev >= start && strings.HasPrefix(ev.Key, prefix) {
			replay = append(replay, ev)
		}
	}
	w := &fakeWatch{ch: make(chan cdb.WatchEvent, len(replay)+buf), prefix: prefix}
	for _, ev := range replay {
		w.ch <- ev
	}
	if n.watches == nil {
		n.watches = map[*fakeWatch]struct{}{}
	}
	n.watches[w] = struct{}{}
	return &node.CDBWatch{C: w.ch,
		Err: func() error {
			n.mu.Lock()
			defer n.mu.Unlock()
			return w.err
		},
		Stop: func() {
			n.mu.Lock()
			defer n.mu.Unlock()
			n.endWatch(w, nil)
		}}, nil
}

// DropWatches ends every open watch with err, as the node does with a
// reader that fell behind.
func (n *Node) DropWatches(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for w := range n.watches {
		n.endWatch(w, err)
	}
}

// Watches reports how many watches are open.
func (n *Node) Watches() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.watches)
}

func (n *Node) endWatch(w *fakeWatch, err error) {
	if _, ok := n.watches[w]; !ok {
		return
	}
	delete(n.watches, w)
	w.err = err
	close(w.ch)
}
