package stack

import (
	"errors"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/wire"
)

// ErrNotFound is returned for a group or resource that is not configured.
var ErrNotFound = errors.New("not configured")

// Reads: none of these changes what the stack does (Alone and Paired
// note the two_node pairing they derive, as a round would).

// Self is this node's id.
func (s *Stack) Self() wire.NodeID { return s.cfg.Self }

// Stopped is the reason the stack stopped (nil while it runs).
func (s *Stack) Stopped() error { return s.stop }

// Membership is membership's status.
func (s *Stack) Membership() membership.Status { return s.mem.Status() }

// Quorate reports whether this node may act as primary at now.
func (s *Stack) Quorate(now time.Duration) bool { return s.mem.Quorate(now) }

// Leased reports whether this node holds its lease at now (a lease
// carried across a view change included).
func (s *Stack) Leased(now time.Duration) bool { return s.mem.Leased(now) }

// ViewLeased reports whether this node holds the lease of its installed
// view at now (what a fence device call needs: the driver checks it again
// just before the call, after the Ready's fsync).
func (s *Stack) ViewLeased(now time.Duration) bool { return s.mem.ViewLeased(now) }

// Peers is every peer's connectivity state.
func (s *Stack) Peers() []conn.PeerStatus { return s.conn.Status() }

// Peer is one peer's connectivity state.
func (s *Stack) Peer(id wire.NodeID) (conn.PeerStatus, bool) { return s.conn.Peer(id) }

// ConnStats is the connectivity core's counters.
func (s *Stack) ConnStats() conn.Stats { return s.conn.Stats() }

// BcastStatus is the ordered broadcast's status.
func (s *Stack) BcastStatus() bcast.Status { return s.bc.Status() }

// InstalledView is the view the stack carried out the install of (the
// config DB's view).
func (s *Stack) InstalledView() wire.ViewID { return s.cdb.cur }

// CDBQuorate is what the config DB was last told: whether this node may
// take writes.
func (s *Stack) CDBQuorate() bool { return s.cdb.quorate }

// CDBRev is the config DB's applied revision.
func (s *Stack) CDBRev() uint64 { return s.cdb.db.Rev() }

// CDBHead is the config DB's log head.
func (s *Stack) CDBHead() cdb.Head { return s.cdb.db.Head() }

// CDBGet reads a key from the committed state; stale is true when this
// node is not quorate or is catching up.
func (s *Stack) CDBGet(key string) (kv cdb.KV, found, stale bool) { return s.cdb.db.Get(key) }

// CDBList lists the keys under prefix with the committed revision.
func (s *Stack) CDBList(prefix string) (kvs []cdb.KV, rev uint64, stale bool) {
	return s.cdb.db.List(prefix)
}

// CDBHistory returns the last count changes, oldest first.
func (s *Stack) CDBHistory(count int) []cdb.Change { return s.cdb.db.History(count) }

// CDBCatchingUp reports whether the config DB is catching up.
func (s *Stack) CDBCatchingUp() bool { return s.cdb.db.CatchingUp() }

// Groups is every group's runtime state.
func (s *Stack) Groups() []crm.GroupView { return s.crm.c.Groups() }

// Resources is every resource with where it runs.
func (s *Stack) Resources() []crm.ResourceView { return s.crm.c.Resources() }

// Running names the groups that run here.
func (s *Stack) Running() []string { return s.crm.c.Running() }

// HasGroup reports whether a group is configured.
func (s *Stack) HasGroup(group string) bool { return s.crm.c.HasGroup(group) }

// Explain says why a group runs where it runs, or why it does not.
func (s *Stack) Explain(group string) string { return s.crm.c.Explain(group) }

// FenceStatus is every node's fencing state.
func (s *Stack) FenceStatus() []fence.TargetStatus { return s.fence.f.Status() }

// FenceConfigured reports whether some node has fence levels or
// watchdog mode is on.
func (s *Stack) FenceConfigured() bool { return s.fence.configured }

// SelfFenced reports whether this node learned it was fenced.
func (s *Stack) SelfFenced() bool { return s.fence.selfFenced }

// WatchFrom and Unwatch manage the driver's config DB watches (their
// events come in Ready.Watch).

// WatchFrom subscribes to the changes under prefix, replaying the
// committed ones from start (core/cdb).
func (s *Stack) WatchFrom(prefix string, start uint64) (uint64, []cdb.WatchEvent, error) {
	return s.cdb.db.WatchFrom(prefix, start)
}

// Unwatch ends a watch.
func (s *Stack) Unwatch(id uint64) { s.cdb.db.Unwatch(id) }

// Confirmed reports whether node is confirmed fenced (at which boot id).
func (s *Stack) Confirmed(node string) (uint64, bool) { return s.fence.f.Confirmed(node) }

// LeftCleanly reports whether node left cleanly at the last boot id the
// fence core saw.
func (s *Stack) LeftCleanly(node string) bool { return s.fence.f.LeftCleanly(node) }

// FenceSettled reports whether the fence core has settled in its view.
func (s *Stack) FenceSettled() bool { return s.fence.f.Settled() }

// FenceView is the last view the fence core was given (false: none yet).
func (s *Stack) FenceView() (fence.View, bool) { return s.fence.view, s.fence.viewSet }

// Paired reports whether this incarnation finished adopting a history in
// a view of every configured node (two_node).
func (s *Stack) Paired() bool {
	s.cdbPaired()
	return s.cdb.paired
}

// CRMSnapshot is the resource manager's runtime state and owner table
// (crm.CRM.Snapshot), for a what-if simulation.
func (s *Stack) CRMSnapshot() (crm.State, crm.Known) { return s.crm.c.Snapshot() }

// FenceSnapshot is the fence core's replicated knowledge
// (fence.Fence.Snapshot), for a what-if simulation.
func (s *Stack) FenceSnapshot() []byte { return s.fence.f.Snapshot() }
