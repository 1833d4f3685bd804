package stack

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/membership"
)

// crmTickEvery is how often the resource manager's timers run (moves
// expiring, policy deadlines, failback windows): a pass over every group.
const crmTickEvery = 200 * time.Millisecond

// crmState is the stack's side of the resource manager's contract
// (core/crm/doc.go).
type crmState struct {
	c        *crm.CRM
	watch    [2]uint64
	view     crm.View
	viewSet  bool
	lastTick time.Duration
	tickDue  bool // a Tick came: the next round judges the lease and runs the timers
}

// openCRM builds the resource manager, gives it the owner table it
// persisted and loads the desired state the config DB holds.
func (s *Stack) openCRM(saved []byte) error {
	r := &s.crm
	var known crm.Known
	if saved != nil {
		var err error
		if known, err = crm.DecodeKnown(saved); err != nil {
			return fmt.Errorf("resource manager: the persisted owner table: %w", err)
		}
	}
	c, err := crm.New(crm.Config{Self: s.self, AssumeFenced: !s.fence.configured, Known: known})
	if err != nil {
		return fmt.Errorf("resource manager: %w", err)
	}
	r.c = c
	r.watch[0] = s.cdb.db.Watch(crm.ResourcePrefix)
	r.watch[1] = s.cdb.db.Watch(crm.GroupPrefix)
	s.crmResync()
	return nil
}

// crmStep steps the resource manager with an input of the stack's own;
// an error is logged (it names a bug or a bad message, never the input's
// sender).
func (s *Stack) crmStep(now time.Duration, in crm.Input, what string) {
	if err := s.crm.c.Step(now, in); err != nil {
		s.logf(slog.LevelWarn, "resource manager: "+what, "err", err)
	}
}

// crmResync feeds every /resources/ and /groups/ key (after a restart or
// an adopted history, whose changes no watch reported), in one batch;
// unchanged keys cost nothing.
func (s *Stack) crmResync() {
	s.crmStep(s.now, s.resyncKeys(), "desired state")
}

// resyncKeys is every /resources/ and /groups/ key the DB holds, and a
// deletion of each the resource manager knows that the DB does not.
func (s *Stack) resyncKeys() crm.ConfigKeys {
	var batch crm.ConfigKeys
	for _, p := range []string{crm.ResourcePrefix, crm.GroupPrefix} {
		kvs, _, _ := s.cdb.db.List(p)
		seen := map[string]bool{}
		for _, kv := range kvs {
			seen[kv.Key] = true
			batch = append(batch, crm.ConfigKey{Key: kv.Key, Value: nonNil(kv.Value)})
		}
		var known []string
		if p == crm.ResourcePrefix {
			for _, r := range s.crm.c.Resources() {
				known = append(known, p+r.Name)
			}
		} else {
			for _, g := range s.crm.c.Groups() {
				known = append(known, p+g.Name)
			}
		}
		for _, k := range known {
			if !seen[k] {
				batch = append(batch, crm.ConfigKey{Key: k})
			}
		}
	}
	return batch
}

func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// crmWatch feeds the config DB's changes of desired state, one batch per
// round.
func (s *Stack) crmWatch(evs []cdb.WatchEvent) {
	var batch crm.ConfigKeys
	for _, ev := range evs {
		if ev.Watch != s.crm.watch[0] && ev.Watch != s.crm.watch[1] {
			continue
		}
		k := crm.ConfigKey{Key: ev.Key}
		if !ev.Deleted {
			k.Value = nonNil(ev.Value)
		}
		batch = append(batch, k)
	}
	if len(batch) > 0 {
		s.crmStep(s.now, batch, "desired state")
	}
}

// crmDeliver takes an ordered-broadcast delivery of a crm payload (the
// agreed one: every member sees them in one order).
func (s *Stack) crmDeliver(d bcast.Delivery) {
	if d.Level != bcast.Agreed {
		return
	}
	s.crmLease(s.now)
	if err := s.crm.c.Step(s.now, crm.Deliver{Payload: d.Payload[1:]}); err != nil {
		s.logf(slog.LevelWarn, "undecodable resource manager message", "view", s.ViewName(d.View), "err", err)
	}
}

// crmView tells the resource manager about the view and the lease when
// they changed: Lease is membership's Leased (a lease carried across a
// view change included: a continuing member keeps what it runs), Takeover
// its Quorate (the takeover wait since the view committed has passed).
func (s *Stack) crmView(now time.Duration) {
	ms := s.mem.Status()
	v := crm.View{ID: ms.View.ID, Coordinator: s.names[ms.View.ID.Coord], Primary: ms.Primary, Lease: s.mem.Leased(now),
		Takeover: s.mem.Quorate(now), StaleConfig: !s.cdb.db.SettledIn(ms.View.ID)}
	for _, id := range ms.View.Members {
		v.Members = append(v.Members, s.names[id])
		switch ms.States[id] {
		case membership.StatePaused:
			v.Paused = append(v.Paused, s.names[id])
		case membership.StateLeaving:
			v.Leaving = append(v.Leaving, s.names[id])
		}
	}
	r := &s.crm
	if r.viewSet && v.ID == r.view.ID && v.Primary == r.view.Primary && v.Lease == r.view.Lease && v.Takeover == r.view.Takeover &&
		strings.Join(v.Members, ",") == strings.Join(r.view.Members, ",") && strings.Join(v.Paused, ",") == strings.Join(r.view.Paused, ",") &&
		strings.Join(v.Leaving, ",") == strings.Join(r.view.Leaving, ",") && v.StaleConfig == r.view.StaleConfig {
		return
	}
	var in crm.Input = v
	if v.ID != r.view.ID && v.Primary || !v.StaleConfig && r.view.StaleConfig {
		// a new history, or the DB settled: feed the desired state it
		// holds now (the coordinator places nothing before that), with
		// the view in one batch: no scheduling pass sees the new desired
		// state under the old view
		in = crm.Batch{s.resyncKeys(), v}
	}
	r.view, r.viewSet = v, true
	s.crmStep(now, in, "view")
}

// crmLease tells the resource manager, before a delivery, whether this
// node holds a lease by the clock now (membership's Leased), in the view
// it holds: the view a delivery belongs to comes first (the old view's
// flush deliveries precede the install), but an Actions delivery must not
// start anything once the lease lapsed (G2): between Ticks, or when the
// delivery comes with the install of a view that is not primary.
func (s *Stack) crmLease(now time.Duration) {
	r := &s.crm
	if !r.viewSet {
		return
	}
	if l := s.mem.Leased(now); l != r.view.Lease {
		r.view.Lease = l
		s.crmStep(now, r.view, "lease")
	}
}

// crmTick notes that the resource manager's timers are due, and that the
// lease must be judged again: both are done by the next round (crmRound),
// after it gave membership the messages conn holds. Tick comes before
// that round, and judged here the lease would miss the answers that
// arrived before it (the packets the driver stepped while a write ran):
// a lapse it saw would stop what this node runs, though the answers that
// renewed its lease were here (continuity).
func (s *Stack) crmTick(time.Duration) { s.crm.tickDue = true }

// crmRound takes the resource manager's Ready (after telling it about a
// membership change, or the lease after a Tick, and running its timers
// when a Tick asked): its Persist first (Ready.Persist.CRM), then its
// broadcasts, escalations, agent calls and policy requests, events; it
// reports whether there was anything.
func (s *Stack) crmRound(now time.Duration, memberChanged bool) bool {
	r := &s.crm
	if memberChanged || r.tickDue || !r.viewSet || s.cdb.db.SettledIn(r.view.ID) == r.view.StaleConfig {
		s.crmView(now)
	}
	if r.tickDue {
		r.tickDue = false
		if now-r.lastTick >= crmTickEvery {
			r.lastTick = now
			r.c.Tick(now)
		}
	}
	if !r.c.HasReady() {
		return false
	}
	rd := r.c.Ready()
	r.c.Advance()
	if rd.Persist != nil {
		// the owner table a new coordinator relies on (G4): durable
		// before the rest of this Ready is carried out
		k := *rd.Persist
		s.rd.Persist.CRM = &k
	}
	for _, p := range rd.Broadcast {
		if _, err := s.bc.Broadcast(append([]byte{tagCRM}, p...)); err != nil {
			s.logf(slog.LevelWarn, "resource manager broadcast", "err", err)
		}
	}
	for _, f := range rd.StopFailed {
		s.stopFailed(now, f.Resource, f.Error)
	}
	s.rd.Agent = append(s.rd.Agent, rd.Exec...)
	s.rd.Policy = append(s.rd.Policy, rd.Policy...)
	view := s.mem.Status().View.ID
	for _, e := range rd.Events {
		s.rd.Events = append(s.rd.Events, Event{View: view, CRM: &e})
		switch e.Kind {
		case crm.EvResourceFailed:
			s.logf(slog.LevelWarn, e.Kind, "resource", e.Resource, "group", e.Group, "on", e.On, "error", e.Error)
		case crm.EvGroupOnline, crm.EvGroupOffline, crm.EvGroupMoved:
			s.logf(slog.LevelInfo, e.Kind, "group", e.Group, "owner", e.Owner, "reason", e.Reason, "from", e.From, "to", e.To)
		}
	}
	if rd.Changed {
		s.rd.GroupsChanged = true
	}
	return true
}

// Move asks for `move GROUP [NODE] [--for D]` (crm.ErrNotFound style
// errors come from the resource manager; a group that is not configured
// is refused first).
func (s *Stack) Move(now time.Duration, m crm.Move) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	if !s.crm.c.HasGroup(m.Group) {
		return fmt.Errorf("no group %q: %w", m.Group, ErrNotFound)
	}
	return s.crm.c.Step(now, m)
}

// Cleanup asks for `cleanup RESOURCE` (or a group: all its resources).
func (s *Stack) Cleanup(now time.Duration, resource string) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	if !s.crm.c.CanCleanup(resource) {
		return fmt.Errorf("no resource or group %q: %w", resource, ErrNotFound)
	}
	return s.crm.c.Step(now, crm.Cleanup{Resource: resource})
}

// Drain asks the coordinator to move this node's groups away (a clean
// stop; again at each view change).
func (s *Stack) Drain(now time.Duration) error {
	if s.stop != nil {
		return ErrStopped
	}
	s.advanceClock(now)
	return s.crm.c.Step(now, crm.Drain{})
}
