package stack

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/dlm"
)

// TestR1DiskIODoneAfterLeaseLapse (review R1): the server's lease lapses
// by its own clock between two Ticks; the DiskIODone of a write that
// came back then lets the disk core start the next queued write (it
// waited behind the first: they overlap) without the view being judged
// again: the disk core still believes its view Primary. diskReceive
// and SubmitDisk judge the view first ("a server paused past its lease
// must learn it is no longer primary before a message lets it apply a
// write"); a DiskIODone (and a DiskServe) must too, or a server whose
// lease lapsed (survivors may already have taken over on a raw shared
// device, or released the client's locks) starts a write.
func TestR1DiskIODoneAfterLeaseLapse(t *testing.T) {
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
			rounds++ // a few rounds more: the second reaches n1 and waits there
		}
		return rounds > 20
	})
	e, ok := s1.LeaseExpiry(r.now)
	if !ok || e == time.Duration(1<<63-1) {
		t.Fatalf("test setup: n1's lease expiry %v %v", e, ok)
	}
	at := e + time.Millisecond
	if s1.Leased(at) {
		t.Fatalf("test setup: n1 leased at %v", at)
	}
	// no Tick: the first write comes back after the lease lapsed
	io := r.held[1][0]
	r.held[1] = nil
	r.hold = nil
	r.now = at
	r.answer(1, io)
	rd := s1.Ready()
	for _, x := range rd.DiskIO {
		t.Fatalf("n1 starts IO %d (%v %d+%d) at %v, its lease lapsed at %v: the view was not judged before the DiskIODone let it start", x.ID, x.Op, x.Off, x.Len, at, e)
	}
}

// TestR1RestartedClientWriteInFlight (review R1): a client node holds a
// lock and has a write in flight on the server when it restarts (a new
// boot id; the same node id, back in the view at once). Its old
// incarnation's locks go with the next recovery (the stack names a
// restarted member in Release; the lock manager rebuilds its masters
// from the members' copies, and the new incarnation holds none). The
// server's Release is gated on disk.Fenced, but a restarted MEMBER is
// not needed in Release for the lock manager's recovery to start
// (dlm.covered counts only absent nodes), so the gate holds nothing
// back: the lock must not move while the old incarnation's write can
// still land.
func TestR1RestartedClientWriteInFlight(t *testing.T) {
	r := newDiskRig(t, 3, nil)
	r.primaryOf(3)
	r.serveD1()
	s2, s3 := r.nodes[1], r.nodes[2]
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
	// n3 restarts: a new process, boot id 2
	cfg := s3.cfg
	cfg.Boot = 2
	cfg.Conn.Boot = 2
	cfg.Conn.Start = 100
	cfg.Fence.Boot = 2
	n3, err := New(cfg, Saved{}, rand.New(rand.NewPCG(3, 2)))
	if err != nil {
		t.Fatal(err)
	}
	r.nodes[2] = n3
	var keep []conn.Packet
	for _, p := range r.net {
		if p.To != 3 {
			keep = append(keep, p)
		}
	}
	r.net = keep
	r.runUntil("n1 sees n3's new incarnation", func() bool { return r.nodes[0].conn.PeerBoot(3) == 2 })
	for range 500 { // 5 s
		r.step()
		if granted(2, b) {
			t.Fatalf("n2's B granted EX while the write of n3's old incarnation (under its EX) is in flight on n1 (n1's lock manager view %+v, gated %v)", r.nodes[0].dlm.view, r.nodes[0].dlm.gated)
		}
	}
	holding = false
	r.runUntil("n2's B granted EX once the write came back", func() bool { return granted(2, b) })
}
