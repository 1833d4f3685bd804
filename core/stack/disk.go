package stack

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/wire"
)

// DiskServe says this node now serves Disk at Epoch (the disk agent's
// start: the driver holds the backing store's lock and wrote and synced
// the header with Epoch).
type DiskServe struct {
	Disk  string
	Epoch uint64
}

// DiskUnserve says this node stops serving Disk (the agent's stop, a
// failed monitor, or a newer epoch in the header). The DiskIO in flight
// still come back as DiskIODone.
type DiskUnserve struct{ Disk string }

// DiskIODone answers one Ready.DiskIO (by its ID).
type DiskIODone struct{ Done disk.IODone }

func (DiskServe) input()   {}
func (DiskUnserve) input() {}
func (DiskIODone) input()  {}

// diskState is the stack's side of the disk core (core/disk): the disk
// set the config DB defines and the view it was given last.
type diskState struct {
	d     *disk.Core
	watch uint64
	disks []disk.Disk // the last Define given
	view  disk.View   // the last View given
	set   bool        // view was given
}

// openDisk builds the disk core, gives it the disks the config DB holds
// and watches them. Self is this incarnation (its boot id: conn's).
func (s *Stack) openDisk() error {
	d, err := disk.New(disk.Config{Self: disk.Inc{Node: s.cfg.Self, Boot: s.cfg.Boot}})
	if err != nil {
		return fmt.Errorf("disk core: %w", err)
	}
	s.disk.d = d
	s.disk.watch = s.cdb.db.Watch(crm.ResourcePrefix)
	s.diskResync()
	return nil
}

// diskDefined is the disk set the config DB defines: every resource whose
// agent is disk.Agent, sized by its size parameter (decimal bytes); a bad
// one is logged and left out. Sorted by name.
func (s *Stack) diskDefined() []disk.Disk {
	kvs, _, _ := s.cdb.db.List(crm.ResourcePrefix)
	var out []disk.Disk
	for _, kv := range kvs {
		name := strings.TrimPrefix(kv.Key, crm.ResourcePrefix)
		r, err := crm.ParseResource(name, kv.Value)
		if err != nil || r.Agent != disk.Agent {
			continue // the resource manager reports a bad resource
		}
		size, err := strconv.ParseUint(strings.TrimSpace(r.Params[disk.ParamSize]), 10, 64)
		if err != nil || size == 0 {
			s.logf(slog.LevelWarn, "disk: ignoring a disk without a good size (decimal bytes)", "disk", name, disk.ParamSize, r.Params[disk.ParamSize])
			continue
		}
		out = append(out, disk.Disk{Name: name, Size: size})
	}
	slices.SortFunc(out, func(a, b disk.Disk) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// diskResync gives the disk core the disk set when it changed (at New, on
// a change under /resources/, and after an adopted history).
func (s *Stack) diskResync() {
	ds := s.diskDefined()
	if s.disk.disks != nil && slices.Equal(ds, s.disk.disks) {
		return
	}
	s.disk.disks = nonNilDisks(ds)
	if err := s.disk.d.Step(s.now, disk.Define{Disks: slices.Clone(ds)}); err != nil {
		s.logf(slog.LevelWarn, "disk: define", "err", err)
	}
}

func nonNilDisks(ds []disk.Disk) []disk.Disk {
	if ds == nil {
		return []disk.Disk{}
	}
	return ds
}

// diskWatch resyncs the disk set when a resource changed.
func (s *Stack) diskWatch(evs []cdb.WatchEvent) {
	for _, ev := range evs {
		if ev.Watch == s.disk.watch {
			s.diskResync()
			return
		}
	}
}

// diskView gives the disk core the View of now when it changed: the
// installed view with each member's incarnation (this node's own boot
// id, conn's for the peers), and Primary and Lost as the lock manager's
// (j).
func (s *Stack) diskView(now time.Duration, j viewJudgement) {
	x := &s.disk
	v := disk.View{ID: s.dlm.installed.ID, Primary: j.primary, Lost: j.lost,
		Members: make([]disk.Inc, 0, len(s.dlm.installed.Members))}
	for _, id := range s.dlm.installed.Members {
		inc := disk.Inc{Node: id, Boot: s.cfg.Boot}
		if id != s.cfg.Self {
			inc.Boot = s.conn.PeerBoot(id)
		}
		v.Members = append(v.Members, inc)
	}
	if x.set && v.ID == x.view.ID && v.Primary == x.view.Primary && v.Lost == x.view.Lost && slices.Equal(v.Members, x.view.Members) {
		return
	}
	if v.ID != x.view.ID {
		s.diskResync() // an adopted history: its changes came in no watch
	}
	x.view, x.set = v, true
	v.Members = slices.Clone(v.Members)
	if err := x.d.Step(now, v); err != nil {
		s.logf(slog.LevelWarn, "disk: view", "view", s.ViewName(v.ID), "err", err)
	}
}

// diskReceive gives the disk core a message from a peer's (the
// incarnation conn received it from). The view is judged first, once a
// round, as for the lock manager: a server paused past its lease must
// learn it is no longer primary before a message lets it apply a write.
func (s *Stack) diskReceive(now time.Duration, from wire.NodeID, boot uint32, payload []byte) {
	s.judgeOnce(now)
	in := disk.Receive{From: disk.Inc{Node: from, Boot: boot}, Payload: slices.Clone(payload)}
	if err := s.disk.d.Step(now, in); err != nil {
		s.logf(slog.LevelWarn, "disk message refused", "from", s.names[from], "err", err)
	}
}

// diskStep steps one of the stack's disk inputs. The view is judged
// first, once a round, as for a received message: a DiskIODone starts
// the writes that waited behind it, and a DiskServe the replayed ones
// of this node's own client, so a server whose lease lapsed since the
// last Tick must learn it is no longer primary before either.
func (s *Stack) diskStep(now time.Duration, in Input) error {
	s.judgeOnce(now)
	var err error
	switch in := in.(type) {
	case DiskServe:
		err = s.disk.d.Step(now, disk.Serve{Disk: in.Disk, Epoch: in.Epoch})
	case DiskUnserve:
		err = s.disk.d.Step(now, disk.Unserve{Disk: in.Disk})
	case DiskIODone:
		err = s.disk.d.Step(now, in.Done)
	}
	if err != nil {
		return fmt.Errorf("disk: %w", err)
	}
	return nil
}

// diskRound takes the disk core's Ready: its messages go on the peers'
// circuits as wire.Disk, its IO, answers, stale disks and events to the
// driver. It reports whether there was anything.
func (s *Stack) diskRound(now time.Duration) bool {
	x := &s.disk
	if !x.d.HasReady() {
		return false
	}
	rd := x.d.Ready()
	x.d.Advance()
	for _, o := range rd.Messages {
		if _, err := s.conn.Send(now, o.To, wire.Encode(&wire.Disk{Payload: o.Payload})); err != nil {
			s.logf(slog.LevelWarn, "disk send", "to", s.names[o.To], "err", err)
		}
	}
	s.rd.DiskIO = append(s.rd.DiskIO, rd.IO...)
	s.rd.DiskDone = append(s.rd.DiskDone, rd.Done...)
	s.rd.DiskStale = append(s.rd.DiskStale, rd.Stale...)
	for _, e := range rd.Events {
		s.rd.Events = append(s.rd.Events, Event{View: s.dlm.installed.ID, Disk: &e})
		s.logf(slog.LevelInfo, string(e.Kind), "disk", e.Disk, "server", s.names[e.Server.Node], "epoch", e.Epoch, "reason", e.Reason)
	}
	return true
}

// diskFenced reports whether the disk core's barrier of the installed
// view is complete (design 5): the lock manager may release the departed
// nodes' locks only then.
func (s *Stack) diskFenced() bool { return s.disk.d.Fenced(s.dlm.installed.ID) }

// SubmitDisk takes a block request of this node's export on a disk; its
// DiskDone comes in a later Ready. Refused when the stack stopped
// (disk.ErrStopped) or the node is leaving (ErrLeaving); an unknown disk
// or a range outside it is the disk core's error (disk.ErrNoDisk,
// disk.ErrRange).
func (s *Stack) SubmitDisk(now time.Duration, r disk.Request) error {
	if s.stop != nil {
		return fmt.Errorf("%w: %w", ErrStopped, disk.ErrStopped)
	}
	s.advanceClock(now)
	if s.dlm.leaving {
		return fmt.Errorf("disk request on %s: %w", r.Disk, ErrLeaving)
	}
	s.judgeOnce(now) // the view of now (a lease that lapsed since)
	return s.disk.d.Submit(now, r)
}

// Disks reports every disk as this node sees it, sorted by name.
func (s *Stack) Disks() []disk.Status { return s.disk.d.Status() }

// LeaseExpiry is when this node's lease lapses by its own clock if no
// answer comes meanwhile (false: it holds none at now): membership's
// LeaseExpiry. The served disk's fast path serves only before it.
func (s *Stack) LeaseExpiry(now time.Duration) (time.Duration, bool) {
	return s.mem.LeaseExpiry(now)
}
