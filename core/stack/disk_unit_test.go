package stack

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/membership"
)

// diskRig drives a unitCluster as the driver drives the disk core: each
// node's Ready.DiskIO runs on an in-memory backing store (unless hold
// keeps it in flight) and is answered with DiskIODone after the step;
// DiskDone and disk events are collected.
type diskRig struct {
	*unitCluster
	store  map[int]map[string][]byte // node → disk → data
	held   map[int][]disk.IO         // in flight: not answered yet
	hold   func(id int, io disk.IO) bool
	done   map[int][]disk.Done
	events map[int][]disk.Event
	comps  map[int][]dlm.Completion
	seq    uint64 // config DB proposals of n1
}

func newDiskRig(t *testing.T, n int, fix func(*Config)) *diskRig {
	r := &diskRig{unitCluster: newUnitClusterWith(t, n, fix), store: map[int]map[string][]byte{},
		held: map[int][]disk.IO{}, done: map[int][]disk.Done{}, events: map[int][]disk.Event{}, comps: map[int][]dlm.Completion{}}
	r.check = func(id int, rd *Ready) {
		r.held[id] = append(r.held[id], rd.DiskIO...)
		r.done[id] = append(r.done[id], rd.DiskDone...)
		for _, e := range rd.Events {
			if e.Disk != nil {
				r.events[id] = append(r.events[id], *e.Disk)
			}
		}
		r.comps[id] = append(r.comps[id], rd.DLMCompletions...)
	}
	return r
}

// step runs 10 ms and then the IO that is not held back.
func (r *diskRig) step() {
	r.unitCluster.step()
	for id := 1; id <= len(r.nodes); id++ {
		var keep []disk.IO
		for _, io := range r.held[id] {
			if r.hold != nil && r.hold(id, io) {
				keep = append(keep, io)
				continue
			}
			r.answer(id, io)
		}
		r.held[id] = keep
	}
}

// answer runs one IO on node id's store and steps its DiskIODone.
func (r *diskRig) answer(id int, io disk.IO) {
	r.t.Helper()
	st := r.store[id]
	if st == nil {
		st = map[string][]byte{}
		r.store[id] = st
	}
	d := st[io.Disk]
	if end := int(io.Off) + int(io.Len); end > len(d) {
		d = append(d, make([]byte, end-len(d))...)
	}
	res := disk.IODone{ID: io.ID}
	switch io.Op {
	case disk.OpRead:
		res.Data = slices.Clone(d[io.Off : io.Off+uint64(io.Len)])
	case disk.OpWrite:
		copy(d[io.Off:], io.Data)
	case disk.OpTrim, disk.OpZero:
		clear(d[io.Off : io.Off+uint64(io.Len)])
	}
	st[io.Disk] = d
	if err := r.nodes[id-1].Step(r.now, DiskIODone{Done: res}); err != nil {
		r.t.Fatalf("n%d DiskIODone %d: %v", id, io.ID, err)
	}
}

func (r *diskRig) runUntil(what string, cond func() bool) {
	r.t.Helper()
	for end := r.now + 60*time.Second; r.now < end; {
		if cond() {
			return
		}
		r.step()
	}
	r.t.Fatalf("after %v: %s never happened", r.now, what)
}

// put writes a key through n1 and waits until every node applied it
// (or deleted it, value nil).
func (r *diskRig) put(key string, value []byte) {
	r.t.Helper()
	r.seq++
	req := cdb.Set("t", r.seq, key, value)
	if value == nil {
		req = cdb.Del("t", r.seq, key)
	}
	r.runUntil("the DB takes the write", func() bool { return r.nodes[0].Propose(r.now, req) == nil })
	r.runUntil("every node applied "+key, func() bool {
		for _, s := range r.nodes {
			kv, found, _ := s.CDBGet(key)
			if found != (value != nil) || found && !bytes.Equal(kv.Value, value) {
				return false
			}
		}
		return true
	})
}

func diskResource(size string) []byte {
	return fmt.Appendf(nil, `{"agent": %q, "group": "g", "params": {%q: %q, %q: "/srv/d"}}`, disk.Agent, disk.ParamSize, size, disk.ParamBacking)
}

// doneOf is node id's answer to request rid.
func (r *diskRig) doneOf(id int, rid uint64) (disk.Done, bool) {
	for _, d := range r.done[id] {
		if d.ID == rid {
			return d, true
		}
	}
	return disk.Done{}, false
}

// TestDiskDefineFromConfig: every node gives its disk core the disks the
// config DB defines, resources with agent disk sized by their size
// parameter, at every change; a bad size is logged and left out; other
// agents are not disks.
func TestDiskDefineFromConfig(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	r.primaryOf(3)
	want := func(ds ...disk.Disk) {
		t.Helper()
		r.runUntil(fmt.Sprintf("every node defines %v", ds), func() bool {
			for _, s := range r.nodes {
				if !slices.Equal(s.disk.disks, nonNilDisks(ds)) {
					return false
				}
			}
			return true
		})
	}
	r.put("/resources/d1", diskResource("1048576"))
	want(disk.Disk{Name: "d1", Size: 1 << 20})
	r.put("/resources/web", []byte(`{"agent": "dummy", "group": "g"}`))
	r.put("/resources/bad", diskResource("1MiB"))
	r.put("/resources/d0", []byte(fmt.Sprintf(`{"agent": %q, "group": "g", "params": {%q: 4096}}`, disk.Agent, disk.ParamSize)))
	want(disk.Disk{Name: "d0", Size: 4096}, disk.Disk{Name: "d1", Size: 1 << 20})
	r.put("/resources/d1", diskResource("2097152"))
	want(disk.Disk{Name: "d0", Size: 4096}, disk.Disk{Name: "d1", Size: 2 << 20})
	r.put("/resources/d0", nil)
	want(disk.Disk{Name: "d1", Size: 2 << 20})
	// a node built from the DB as it is now starts with the same set
	s := r.nodes[1]
	if got := s.diskDefined(); !slices.Equal(got, []disk.Disk{{Name: "d1", Size: 2 << 20}}) {
		t.Fatalf("diskDefined = %v", got)
	}
}

// TestDiskViewMembers: the disk core's view is the installed view with
// each member's incarnation (conn's boot id for a peer, its own for this
// node), primary with the lease, like the lock manager's; a node cut off
// past its lease without a fence device is told Lost.
func TestDiskViewMembers(t *testing.T) {
	r := newDiskRig(t, 3, func(cfg *Config) {
		cfg.Boot = 10 + uint32(cfg.Self)
		cfg.Conn.Boot = cfg.Boot
		cfg.Fence.Boot = uint64(cfg.Boot)
	})
	r.primaryOf(3)
	for i, s := range r.nodes {
		v := s.disk.view
		want := []disk.Inc{{Node: 1, Boot: 11}, {Node: 2, Boot: 12}, {Node: 3, Boot: 13}}
		if v.ID != s.Membership().View.ID || !v.Primary || v.Lost || !slices.Equal(v.Members, want) {
			t.Fatalf("n%d: disk view %+v, want %v primary with %v", i+1, v, s.Membership().View.ID, want)
		}
	}
	r.cut = 3
	s1, s3 := r.nodes[0], r.nodes[2]
	r.runUntil("n1 in a view of two, n3 lost", func() bool {
		v := s1.disk.view
		return len(v.Members) == 2 && v.Primary && s3.disk.view.Lost && !s3.disk.view.Primary
	})
	if v := s1.disk.view; !slices.Equal(v.Members, []disk.Inc{{Node: 1, Boot: 11}, {Node: 2, Boot: 12}}) || v.ID != s1.dlm.view.ID {
		t.Fatalf("n1's disk view %+v; the lock manager's %v", v, s1.dlm.view.ID)
	}
}

// TestDiskLeaseExpiry: the stack's LeaseExpiry is later than now exactly
// when Leased, at random times, while the lease holds and after it
// lapsed.
func TestDiskLeaseExpiry(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	rng := rand.New(rand.NewPCG(19, 5))
	held, lapsed := 0, 0
	check := func() {
		for i, s := range r.nodes {
			at := r.now + time.Duration(rng.Int64N(int64(2*time.Second)))
			e, ok := s.LeaseExpiry(at)
			if ok != s.Leased(at) || ok != (e > at) {
				t.Fatalf("n%d at %v: LeaseExpiry %v %v, Leased %v", i+1, at, e, ok, s.Leased(at))
			}
			if ok && (!s.Leased(e-1) || s.Leased(e)) {
				t.Fatalf("n%d: the lease ends at %v but Leased just before %v, at it %v", i+1, e, s.Leased(e-1), s.Leased(e))
			}
			if ok {
				held++
			} else {
				lapsed++
			}
		}
	}
	for range 200 {
		r.step()
		check()
	}
	r.cut = 3
	for range 300 {
		r.step()
		check()
	}
	if held == 0 || lapsed == 0 {
		t.Fatalf("test setup: %d samples leased, %d not", held, lapsed)
	}
}

// TestSubmitDiskRefused: a disk request on a node that is leaving is
// refused with ErrLeaving, on a stopped stack with ErrStopped (and
// disk.ErrStopped).
func TestSubmitDiskRefused(t *testing.T) {
	r := newDiskRig(t, 2, nil)
	s := r.nodes[0]
	req := disk.Request{ID: 1, Disk: "d1", Op: disk.OpRead, Len: 512}
	if err := s.SetState(r.now, membership.StateLeaving); err != nil {
		t.Fatal(err)
	}
	if err := s.SubmitDisk(r.now, req); !errors.Is(err, ErrLeaving) {
		t.Fatalf("leaving: %v, want ErrLeaving", err)
	}
	if !s.disk.view.Lost {
		t.Fatalf("a leaving node's disk view is not Lost: %+v", s.disk.view)
	}
	s.fatal(errors.New("test stop"))
	if err := s.SubmitDisk(r.now, req); !errors.Is(err, ErrStopped) || !errors.Is(err, disk.ErrStopped) {
		t.Fatalf("stopped: %v, want ErrStopped and disk.ErrStopped", err)
	}
	if err := s.Step(r.now, DiskIODone{}); !errors.Is(err, ErrStopped) {
		t.Fatalf("stopped: Step %v", err)
	}
}

// serveD1 defines d1 (1 MiB) and makes n1 its server at epoch 1; it
// waits until every other node knows it.
func (r *diskRig) serveD1() {
	r.t.Helper()
	r.put("/resources/d1", diskResource("1048576"))
	if err := r.nodes[0].Step(r.now, DiskServe{Disk: "d1", Epoch: 1}); err != nil {
		r.t.Fatal(err)
	}
	r.runUntil("every node knows n1 serves d1", func() bool {
		for _, s := range r.nodes {
			st := s.Disks()
			if len(st) != 1 || st[0].Server == nil || st[0].Server.Node != 1 || st[0].Epoch != 1 {
				return false
			}
		}
		return true
	})
}

// TestDiskRemoteRoundTrip: a write, a read and a flush of a client that
// does not serve the disk go through the stacks: the client's requests on
// its circuit to the server, the server's Ready.DiskIO run by its driver
// and answered with DiskIODone, the client's Ready.DiskDone, with the
// server's epoch; a write larger than a piece comes back whole.
func TestDiskRemoteRoundTrip(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	r.primaryOf(3)
	r.serveD1()
	s2 := r.nodes[1]
	data := make([]byte, disk.MaxPiece+4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	do := func(req disk.Request) disk.Done {
		t.Helper()
		if err := s2.SubmitDisk(r.now, req); err != nil {
			t.Fatalf("request %d: %v", req.ID, err)
		}
		var d disk.Done
		r.runUntil(fmt.Sprintf("request %d answered", req.ID), func() bool {
			var ok bool
			d, ok = r.doneOf(2, req.ID)
			return ok
		})
		if d.Err != disk.OK || d.Epoch != 1 {
			t.Fatalf("request %d: %+v, want OK at epoch 1", req.ID, d)
		}
		return d
	}
	do(disk.Request{ID: 1, Disk: "d1", Op: disk.OpWrite, Off: 8192, Len: uint32(len(data)), Data: data})
	if got := r.store[1]["d1"][8192:]; !bytes.Equal(got, data) {
		t.Fatal("the server's store does not hold the write")
	}
	if len(r.store[2]) != 0 || len(r.store[3]) != 0 {
		t.Fatal("a node that does not serve d1 was given IO")
	}
	d := do(disk.Request{ID: 2, Disk: "d1", Op: disk.OpRead, Off: 8192 + 100, Len: 5000})
	if !bytes.Equal(d.Data, data[100:5100]) {
		t.Fatal("the read does not return what was written")
	}
	do(disk.Request{ID: 3, Disk: "d1", Op: disk.OpFlush})
	if err := s2.SubmitDisk(r.now, disk.Request{ID: 4, Disk: "nope", Op: disk.OpRead, Len: 1}); !errors.Is(err, disk.ErrNoDisk) {
		t.Fatalf("a request on an unknown disk: %v, want disk.ErrNoDisk", err)
	}
}

// TestDiskBarrierGatesRelease (design 5): a client holds a lock and has a
// write in flight on the server (its DiskIO not answered yet) when it is
// cut off. The server's lock manager must not be told to release the
// client's locks (Release) while that write can still land, however
// long the takeover wait has passed, so the lock is not re-granted to
// another client; once the DiskIODone comes, the very next Ready gives
// the release (no Tick needed), and the lock goes to the waiter.
func TestDiskBarrierGatesRelease(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	r.primaryOf(3)
	r.serveD1()
	s1, s2, s3 := r.nodes[0], r.nodes[1], r.nodes[2]
	granted := func(id int, o dlm.Owner) bool {
		for _, cp := range r.comps[id] {
			if cp.Owner == o && cp.Status == dlm.OK && cp.Mode == dlm.EX {
				return true
			}
		}
		return false
	}
	a, b := dlm.Owner{Node: 3, ID: 1}, dlm.Owner{Node: 2, ID: 1}
	if _, err := s3.LockDLM(r.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: a}); err != nil {
		t.Fatal(err)
	}
	r.runUntil("n3's A granted EX", func() bool { return granted(3, a) })
	holding := true
	r.hold = func(id int, io disk.IO) bool { return holding && id == 1 }
	if err := s3.SubmitDisk(r.now, disk.Request{ID: 7, Disk: "d1", Op: disk.OpWrite, Off: 0, Len: 4, Data: []byte("late")}); err != nil {
		t.Fatal(err)
	}
	r.runUntil("n3's write in flight on n1", func() bool { return len(r.held[1]) == 1 })
	if _, err := s2.LockDLM(r.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: b}); err != nil {
		t.Fatal(err)
	}
	r.cut = 3
	r.runUntil("n1 past the takeover wait in a view without n3", func() bool {
		return len(s1.Membership().View.Members) == 2 && s1.Quorate(r.now) && s2.Quorate(r.now)
	})
	for range 300 { // 3 s more
		r.step()
		if slices.Contains(s1.dlm.view.Release, 3) {
			t.Fatalf("n1 releases n3's locks while n3's write is in flight on n1: %+v", s1.dlm.view)
		}
		if granted(2, b) {
			t.Fatal("n2's B granted EX while n3's write, under its EX, can still land")
		}
	}
	if !s1.dlm.gated || !slices.Contains(s2.dlm.view.Release, 3) {
		t.Fatalf("test setup: n1 not gated (%v), or n2 (serving nothing) does not release n3 (%+v)", s1.dlm.gated, s2.dlm.view)
	}
	holding = false
	for _, io := range r.held[1] {
		r.answer(1, io)
	}
	r.held[1] = nil
	rd := s1.Ready() // no Tick: the round after the DiskIODone judges again
	if !slices.Contains(s1.dlm.view.Release, 3) {
		t.Fatalf("the Ready after the write came back does not release n3: %+v", s1.dlm.view)
	}
	r.check(1, &rd)
	r.net = append(r.net, rd.Packets...)
	r.net = append(r.net, rd.After...)
	s1.Advance(r.now)
	r.runUntil("n2's B granted EX", func() bool { return granted(2, b) })
}

// TestDiskJudgedAgainWhenTheClockMoved: the view is judged once a
// round, but a judgement made at an earlier time does not stand for an
// input that comes later. The server judges the view at t0 (its own
// SubmitDisk, its lease held; the request waits behind a write in
// flight), then, with no round nor Tick between, the write in flight
// comes back after its lease lapsed: the queued writes must not start.
func TestDiskJudgedAgainWhenTheClockMoved(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	r.primaryOf(3)
	r.serveD1()
	s1, s2 := r.nodes[0], r.nodes[1]
	r.hold = func(id int, io disk.IO) bool { return id == 1 }
	for i, fill := range []string{"aaaa", "bbbb"} {
		if err := s2.SubmitDisk(r.now, disk.Request{ID: uint64(10 + i), Disk: "d1", Op: disk.OpWrite, Off: 0, Len: 4, Data: []byte(fill)}); err != nil {
			t.Fatal(err)
		}
	}
	rounds := 0
	r.runUntil("n2's two writes on n1 (the first in flight, the second queued behind it)", func() bool {
		if len(r.held[1]) == 1 {
			rounds++
		}
		return rounds > 20
	})
	e, ok := s1.LeaseExpiry(r.now)
	if !ok || r.now >= e {
		t.Fatalf("test setup: n1's lease expiry %v %v at %v", e, ok, r.now)
	}
	// judged at t0 = r.now, with the lease
	if err := s1.SubmitDisk(r.now, disk.Request{ID: 20, Disk: "d1", Op: disk.OpWrite, Off: 0, Len: 4, Data: []byte("cccc")}); err != nil {
		t.Fatal(err)
	}
	if !s1.dlm.judged {
		t.Fatal("test setup: SubmitDisk did not judge the view")
	}
	at := e + time.Millisecond
	io := r.held[1][0]
	r.held[1] = nil
	r.hold = nil
	r.now = at
	r.answer(1, io)
	rd := s1.Ready()
	for _, x := range rd.DiskIO {
		t.Fatalf("n1 starts IO %d (%v %d+%d) at %v, its lease lapsed at %v: a judgement of an earlier time stood for the DiskIODone", x.ID, x.Op, x.Off, x.Len, at, e)
	}
}

// TestDiskServeAfterLeaseLapse: a DiskServe starts the replayed
// requests of this node's own client at once (the announce to itself);
// when this node's lease lapsed since the last Tick, the view must be
// judged first, so none starts.
func TestDiskServeAfterLeaseLapse(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	r.primaryOf(3)
	r.put("/resources/d1", diskResource("1048576"))
	s1 := r.nodes[0]
	if err := s1.SubmitDisk(r.now, disk.Request{ID: 1, Disk: "d1", Op: disk.OpWrite, Off: 0, Len: 4, Data: []byte("aaaa")}); err != nil {
		t.Fatal(err)
	}
	rd := s1.Ready() // no server yet: the request waits
	if len(rd.DiskIO) != 0 {
		t.Fatalf("test setup: IO %+v with no server", rd.DiskIO)
	}
	s1.Advance(r.now)
	e, ok := s1.LeaseExpiry(r.now)
	if !ok || r.now >= e {
		t.Fatalf("test setup: n1's lease expiry %v %v at %v", e, ok, r.now)
	}
	at := e + time.Millisecond
	r.now = at
	if err := s1.Step(at, DiskServe{Disk: "d1", Epoch: 1}); err != nil {
		t.Fatal(err)
	}
	rd = s1.Ready()
	for _, x := range rd.DiskIO {
		t.Fatalf("n1 starts IO %d (%v %d+%d) at %v, its lease lapsed at %v: the view was not judged before the DiskServe", x.ID, x.Op, x.Off, x.Len, at, e)
	}
}
