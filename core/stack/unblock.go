package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// Errors of QuorumUnblock and ConfirmFence, wrapped with the details.
var (
	// ErrNotKnownDown: a node the unblock would write off is neither
	// confirmed fenced nor declared down by an operator (or it is
	// reachable): two sides that both unblock are a split brain.
	ErrNotKnownDown = errors.New("a node it would write off is not known to be down")
	// ErrLiveMember: `fence confirm` of a node this node's view holds or
	// that this node reaches: it is demonstrably up.
	ErrLiveMember = errors.New("the node is up")
)

// UnblockPlan is what a quorum unblock on this node does, or would do:
// the arithmetic before (Decision), the nodes it writes off and how each
// is known to be down, the expected votes after.
type UnblockPlan struct {
	View       wire.ViewID
	Members    []string
	Decision   quorum.Decision
	WrittenOff []WrittenOff
	Expected   int // votes of the view: what the reference holds from now on
	Was        int // votes the view was judged against
	// Chain: under majority, the reference follows the primary views from
	// here until one holds the plain majority of the configured votes.
	Chain bool
	// Blocked says why the unblock is refused now (empty: it may be given).
	Blocked string
	err     error
}

// WrittenOff is one node an unblock writes off.
type WrittenOff struct {
	Node string
	Down bool   // confirmed fenced, or declared down, at its last incarnation, and unreachable
	How  string // "fenced by DEVICE at boot N", "declared down by an operator", or why it is not known down
}

// unblockState is the stack's side of quorum unblock and of `fence
// confirm` in a view that is not primary.
type unblockState struct {
	// declared: nodes an operator declared down (`fence confirm`) while
	// this node's view was not primary, at the boot id conn last saw of
	// them (0: never seen). Kept in memory only: the next primary view
	// confirms them through the fence core (fenceDeclared), so every member
	// records node_fenced; a restart before that forgets them (declare
	// them again).
	declared map[string]uint32
}

// UnblockPlan says what QuorumUnblock would do now (the shell shows it
// before it asks for confirmation), with Blocked set when it would refuse.
func (s *Stack) UnblockPlan(now time.Duration) UnblockPlan {
	s.advanceClock(now)
	ms := s.mem.Status()
	var p UnblockPlan
	p.View = ms.View.ID
	for _, id := range ms.View.Members {
		p.Members = append(p.Members, s.names[id])
	}
	lin := quorum.Lineage{AllSeen: ms.Lineage.AllSeen, Unblocked: ms.Lineage.Unblocked}
	if ms.Lineage.LP.ID.Epoch != 0 {
		lin.LP = &quorum.ViewRef{ID: quorum.ViewID{Epoch: ms.Lineage.LP.ID.Epoch, Coord: ms.Lineage.LP.ID.Coord}, Members: ms.Lineage.LP.Members}
	}
	if ms.View.ID == (wire.ViewID{}) {
		p.Blocked, p.err = "this node is in no view yet: wait until `status` shows a view", membership.ErrCannotUnblock
		return p
	}
	u, err := quorum.PlanUnblock(s.qc, quorum.ViewRef{ID: quorum.ViewID{Epoch: ms.View.ID.Epoch, Coord: ms.View.ID.Coord}, Members: ms.View.Members}, ms.Primary, lin)
	if err != nil {
		p.Blocked, p.err = err.Error(), err
		return p
	}
	p.Decision, p.Expected, p.Was, p.Chain = u.Decision, u.Expected, u.Was, u.Chain
	var notDown []string
	for _, id := range u.WrittenOff {
		w := s.knownDown(id)
		p.WrittenOff = append(p.WrittenOff, w)
		if !w.Down {
			notDown = append(notDown, w.Node)
		}
	}
	if len(notDown) > 0 {
		p.Blocked = fmt.Sprintf("%v not known to be down: confirm each is powered off, then `fence confirm NODE --yes`; "+
			"if those nodes are running, they may unblock their side too, and two primaries (split brain) corrupt data", notDown)
		p.err = ErrNotKnownDown
	}
	return p
}

// knownDown says whether a node is known to be down: not reachable, and
// confirmed fenced (a device, the watchdog wait, or a person, recorded by
// the fence core) or declared down here at the incarnation conn last saw.
func (s *Stack) knownDown(id wire.NodeID) WrittenOff {
	name := s.names[id]
	w := WrittenOff{Node: name}
	seen := s.seenBoot(id)
	switch {
	case s.mem.Reaches(id):
		w.How = "reachable: it is up"
	case s.fenceConfirmed(name, seen):
		w.Down, w.How = true, "confirmed fenced"
	case s.declaredAt(name, seen):
		w.Down, w.How = true, "declared down by an operator (fence confirm)"
	default:
		w.How = "not confirmed fenced and not declared down"
	}
	return w
}

// fenceConfirmed: the fence core holds name fenced at an incarnation no
// older than the one conn last talked to.
func (s *Stack) fenceConfirmed(name string, seen uint32) bool {
	b, ok := s.fence.f.Confirmed(name)
	return ok && fenceDownAt(b, true, false, 0, seen, false)
}

func (s *Stack) declaredAt(name string, seen uint32) bool {
	b, ok := s.unblock.declared[name]
	return ok && b == seen
}

// QuorumUnblock is an operator's quorum unblock (corral help operations):
// refused unless every configured node outside this node's view is known
// to be down (UnblockPlan.Blocked). It goes through the ordered
// broadcast of this view: each member carries it out at its Safe
// delivery in this same view (quorumDeliver, membership.Unblock). A
// member that gets it only at the flush of a view change, or while one is
// under way, does not; so until a primary view follows, only a view of
// every member of this one can be primary (core/quorum "Unblock"), and
// UnblockProgressOf says who holds it.
func (s *Stack) QuorumUnblock(now time.Duration) (UnblockPlan, error) {
	if s.stop != nil {
		return UnblockPlan{}, ErrStopped
	}
	p := s.UnblockPlan(now)
	if p.Blocked != "" {
		return p, fmt.Errorf("quorum unblock refused: %s: %w", p.Blocked, p.err)
	}
	var w wire.Writer
	w.ViewID(p.View)
	w.Uvarint(uint64(s.cfg.Self))
	if _, err := s.bc.Broadcast(append([]byte{tagQuorum}, w...)); err != nil {
		return p, fmt.Errorf("quorum unblock: broadcast: %w", err)
	}
	s.logf(slog.LevelWarn, "quorum unblock asked by an operator", "view", s.ViewName(p.View), "written_off", writtenOffNames(p.WrittenOff), "expected_votes", p.Expected)
	return p, nil
}

// UnblockProgress is how far an unblock given in View got, as this node
// knows it (UnblockProgressOf).
type UnblockProgress struct {
	// Done: this node is in a primary view installed after View that
	// holds every member of View: every member carried the unblock out or
	// no longer needs it (a view after an unblocked one is primary only
	// with all of its members, core/quorum "Unblock").
	Done bool
	// Holders are the members of View known to hold the unblocked lineage
	// (this node, and the peers by their last report); Missing the others.
	Holders, Missing []string
	// Moved: this node's view is no longer View.
	Moved bool
}

// UnblockProgressOf says how far the unblock given in v (members: the
// view's members) got.
func (s *Stack) UnblockProgressOf(v wire.ViewID, members []string) UnblockProgress {
	ms := s.mem.Status()
	var p UnblockProgress
	p.Moved = ms.View.ID != v
	all := true
	for _, name := range members {
		if !slices.Contains(ms.View.Members, s.idOf(name)) {
			all = false
		}
	}
	p.Done = p.Moved && ms.Primary && all && (v.Epoch < ms.View.ID.Epoch || (v.Epoch == ms.View.ID.Epoch && v.Coord < ms.View.ID.Coord))
	holders := s.mem.UnblockHolders(v)
	for _, name := range members {
		if slices.Contains(holders, s.idOf(name)) {
			p.Holders = append(p.Holders, name)
		} else {
			p.Missing = append(p.Missing, name)
		}
	}
	return p
}

func writtenOffNames(ws []WrittenOff) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Node)
	}
	return out
}

// quorumDeliver carries out an unblock at its Safe delivery in the view
// it was given in (never at a flush: the view is over; the members that
// did carry it out then make only a view of all the members primary).
func (s *Stack) quorumDeliver(d bcast.Delivery) {
	if d.Level != bcast.Safe || d.Flush {
		return
	}
	r := wire.NewReader(d.Payload[1:])
	v := r.ViewID()
	by := wire.NodeID(r.Uvarint())
	if r.Err() != nil || r.Len() != 0 {
		s.logf(slog.LevelWarn, "undecodable quorum unblock", "view", s.ViewName(d.View))
		return
	}
	if v != d.View {
		return // resent in a later view: given for another one
	}
	if err := s.mem.Step(s.now, membership.Unblock{View: v, By: by}); err != nil {
		s.logf(slog.LevelWarn, "quorum unblock not carried out", "view", s.ViewName(v), "by", s.names[by], "err", err)
		return
	}
	s.logf(slog.LevelWarn, "quorum unblocked by an operator: the nodes outside this view are written off", "view", s.ViewName(v), "by", s.names[by])
}

// confirmable refuses `fence confirm` of a node that is demonstrably up:
// this node, a member of its view, a node it reaches. (A node that is
// not configured is the fence core's to refuse: it may know it by its
// boot id.)
func (s *Stack) confirmable(target string) error {
	id := s.idOf(target)
	switch {
	case id == 0:
		return nil
	case slices.Contains(s.mem.Status().View.Members, id):
		return fmt.Errorf("fence: %s is a member of this node's view %s: %w; if it hangs, fence it with 'fence %s'", target, s.ViewName(s.mem.Status().View.ID), ErrLiveMember, target)
	case s.mem.Reaches(id):
		return fmt.Errorf("fence: this node reaches %s (it answers heartbeats): %w", target, ErrLiveMember)
	}
	return nil
}

func (s *Stack) idOf(name string) wire.NodeID {
	for _, nd := range s.cfg.Nodes {
		if nd.Name == name {
			return nd.ID
		}
	}
	return 0
}

// confirmDeclared: an operator's word that node is down, given while this
// node's view is not primary (the fence core takes confirmations only in
// a primary view); confirmable checked it.
func (s *Stack) confirmDeclared(c fence.Confirm) error {
	id := s.idOf(c.Target)
	if id == 0 {
		return fmt.Errorf("fence: %q is not a configured node", c.Target)
	}
	if s.unblock.declared == nil {
		s.unblock.declared = map[string]uint32{}
	}
	s.unblock.declared[c.Target] = s.seenBoot(id)
	s.logf(slog.LevelWarn, "an operator declared a node down (not in a primary view: recorded here, confirmed through the fence core once this node is in a primary view)",
		"target", c.Target, "boot", s.seenBoot(id))
	return nil
}

// fenceDeclared hands the fence core, once this node is in a primary view
// whose fence state settled, the confirmations declared while it was not
// (confirmDeclared), for nodes still out of the view at the same
// incarnation: every member then records node_fenced (device manual).
func (s *Stack) fenceDeclared(now time.Duration) {
	d := &s.fence
	if len(s.unblock.declared) == 0 || !d.viewSet || !d.view.Primary || !d.f.Settled() {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(s.unblock.declared)) {
		id := s.idOf(name)
		boot := s.unblock.declared[name]
		delete(s.unblock.declared, name)
		if slices.Contains(d.view.Members, name) || s.seenBoot(id) != boot || s.fenceConfirmed(name, boot) {
			continue
		}
		if err := d.f.Step(now, fence.Confirm{Target: name}); err != nil {
			s.logf(slog.LevelWarn, "fencing: the declared confirmation was refused", "target", name, "err", err)
		}
	}
}
