package quorum

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Policy chooses the reference set a view is judged against.
type Policy string

// Quorum policies (the strings are the config file's values).
const (
	// Majority judges every view against all configured nodes.
	Majority Policy = "majority"
	// LastManStanding (dynamic linear voting) judges a view against the
	// newest last-primary view any of its members holds.
	LastManStanding Policy = "last_man_standing"
)

// Config is the quorum-relevant part of the cluster configuration.
type Config struct {
	Votes          map[wire.NodeID]int // every configured node and its votes (0 allowed)
	Policy         Policy
	TwoNode        bool // two nodes: 1 of 2 is quorate; implies WaitForAll
	WaitForAll     bool
	AutoTieBreaker bool
	// Window (last_man_standing): how long a new LP must age before the
	// next view may shrink from it.
	Window time.Duration
}

// Validate reports every problem of the configuration, joined, or nil.
func (c Config) Validate() error {
	var errs []error
	switch c.Policy {
	case Majority, LastManStanding:
	default:
		errs = append(errs, fmt.Errorf("quorum: %q is not a policy: use %q or %q", string(c.Policy), Majority, LastManStanding))
	}
	if len(c.Votes) == 0 {
		errs = append(errs, errors.New("quorum: no configured nodes"))
	}
	voters := 0
	for _, id := range c.Nodes() {
		switch v := c.Votes[id]; {
		case v < 0:
			errs = append(errs, fmt.Errorf("quorum: node %d has %d votes: votes must not be negative", id, v))
		case v > 0:
			voters++
		}
	}
	if len(c.Votes) > 0 && voters == 0 {
		errs = append(errs, errors.New("quorum: no node has votes: give at least one node votes > 0"))
	}
	if c.Window < 0 {
		errs = append(errs, fmt.Errorf("quorum: window %s must not be negative", c.Window))
	} else if c.Policy == LastManStanding && c.Window == 0 {
		errs = append(errs, errors.New("quorum: last_man_standing needs a positive window"))
	}
	if c.TwoNode && (len(c.Votes) != 2 || voters != 2) {
		errs = append(errs, fmt.Errorf("quorum: two_node needs exactly 2 configured nodes with votes > 0, the config has %d nodes, %d with votes", len(c.Votes), voters))
	}
	return errors.Join(errs...)
}

// valid reports whether Validate returns nil, without its cost (no
// sorting, no messages): Lease asks it at every call, several times per
// round of a node's loop.
func (c Config) valid() bool {
	if c.Policy != Majority && c.Policy != LastManStanding || len(c.Votes) == 0 {
		return false
	}
	voters := 0
	for _, v := range c.Votes {
		if v < 0 {
			return false
		}
		if v > 0 {
			voters++
		}
	}
	if voters == 0 || c.Window < 0 || c.Policy == LastManStanding && c.Window == 0 {
		return false
	}
	return !c.TwoNode || len(c.Votes) == 2 && voters == 2
}

// Nodes returns the configured node ids in ascending order.
func (c Config) Nodes() []wire.NodeID {
	return slices.Sorted(maps.Keys(c.Votes))
}

// VotesOf returns the votes of a set of nodes: each distinct id counts once,
// ids that are not configured count 0, negative votes count 0.
func (c Config) VotesOf(ids []wire.NodeID) int {
	n := 0
	for _, id := range dedup(ids) {
		n += c.votes(id)
	}
	return n
}

func (c Config) votes(id wire.NodeID) int {
	return max(c.Votes[id], 0)
}

// ViewID identifies a view: ordered by Epoch, then by Coord.
type ViewID struct {
	Epoch uint64
	Coord wire.NodeID
}

// Less reports whether a is older than b.
func (a ViewID) Less(b ViewID) bool {
	if a.Epoch != b.Epoch {
		return a.Epoch < b.Epoch
	}
	return a.Coord < b.Coord
}

// String renders the id as "epoch/coordinator", e.g. "17/1".
func (a ViewID) String() string {
	return strconv.FormatUint(a.Epoch, 10) + "/" + strconv.FormatUint(uint64(a.Coord), 10)
}

// ViewRef is a view as recorded in a lineage: its id and its members.
type ViewRef struct {
	ID      ViewID
	Members []wire.NodeID
	// Whole (in Lineage.Also): a view an operator unblocked that no
	// primary view followed yet: V must hold every member of it
	// (Lineage.UnblockedView says the same of LP).
	Whole bool
}

// Lineage is what the members of a candidate view know, gathered by its
// coordinator.
type Lineage struct {
	// LP is the newest last-primary view (or acknowledged primary proposal)
	// held by any member; nil: none (cold start).
	LP *ViewRef
	// Prev is the last primary view before LP (for the window rule), nil if
	// unknown.
	Prev *ViewRef
	// LPAge is how long LP has been installed: the smallest age any member
	// holding it reports. A proposal acknowledged but not installed has age 0.
	LPAge time.Duration
	// Also are views V must win against too, whatever the window: when LP
	// is a primary proposal no member has seen installed, each view that may
	// have been the last installed primary instead (the newest one known
	// installed, and every proposal acknowledged after it). A ViewRef with
	// a zero ID and no members stands for the configured nodes (nothing is
	// known installed).
	Also []ViewRef
	// AllSeen: some member has been in a view with every configured node
	// (wait_for_all).
	AllSeen bool
	// Witness: a witness (disk or arbiter) granted its vote to this view.
	Witness bool
	// Unblocked: a holder of LP holds it as a view that descends from an
	// operator's quorum unblock (see Unblock): under Majority, V is then
	// judged as under LastManStanding, against LP.
	Unblocked bool
	// UnblockedView: LP is the view an operator unblocked itself, and no
	// primary view followed it yet (a holder took it on at the unblock).
	// Any policy: V must then hold every member of LP. The members of LP
	// carry the unblock out one by one (at the broadcast's delivery), so
	// some may not have when the view changes; only a view of all of them
	// is sure to hold every member that did not, and it hands the flag on
	// to all of them at the promise (see Unblock).
	UnblockedView bool
}

// dedup returns the distinct ids in ascending order (a new slice).
func dedup(ids []wire.NodeID) []wire.NodeID {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// intersect returns the ids of sorted, distinct a that are also in sorted,
// distinct b.
func intersect(a, b []wire.NodeID) []wire.NodeID {
	var out []wire.NodeID
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
