package conn_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/wire"
)

// restart replaces node id of the trio by a new incarnation (boot, start).
func (tr *trio) restart(id wire.NodeID, boot uint32, start uint64) {
	tr.t.Helper()
	var peers []conn.Peer
	for p := wire.NodeID(1); p <= 3; p++ {
		if p != id {
			peers = append(peers, conn.Peer{ID: p, Links: 1})
		}
	}
	c, err := conn.New(conn.Config{Cluster: "replay", Key: bytes.Repeat([]byte{7}, 32), Self: id,
		Boot: boot, Start: start, Links: 1, Peers: peers}, nil)
	if err != nil {
		tr.t.Fatal(err)
	}
	tr.c[id] = c
}

func (tr *trio) allReachable() bool {
	for _, c := range tr.c {
		for _, p := range c.Status() {
			if !p.Reachable {
				return false
			}
		}
	}
	return true
}

// TestReplayedUnboundPacketDoesNotIsolate (review of issue 22): an
// attacker records the first, unbound packets n3 sends to n1 (destination
// boot 0), waits until n3 has restarted since, and replays one to n1 right
// after n1 restarts. The fresh n1 has no incarnation of n3 yet, so the
// replay is authentic and new to it: n1 binds to n3's dead incarnation and
// seals everything for it, which the live n3 drops as misaddressed, while
// the live n3 still seals for n1's previous incarnation, which n1 drops as
// misaddressed. Before the fix neither side ever learned the other's
// incarnation: one replayed packet cut n1 from n3 for good (and n1 looks
// dead to n3: fenced). Now an authentic packet addressed to an older
// incarnation of the receiver still teaches it the sender's newer
// incarnation (never delivering anything), so n1 rebinds to the live n3 at
// n3's next heartbeat.
func TestReplayedUnboundPacketDoesNotIsolate(t *testing.T) {
	tr := newTrio(t)
	var unbound []conn.Packet
	tr.tap = func(from wire.NodeID, p conn.Packet) {
		if from == 3 && p.To == 1 && binary.BigEndian.Uint32(p.Data[28:32]) == 0 {
			unbound = append(unbound, conn.Packet{Link: p.Link, To: p.To, ToLink: p.ToLink, Data: bytes.Clone(p.Data)})
		}
	}
	tr.until("every node reaches every other", tr.allReachable)
	tr.tap = nil
	if len(unbound) == 0 {
		t.Fatal("recorded no unbound packet from n3 to n1")
	}

	tr.restart(3, 2, 22)
	tr.until("n3's restart is healed", tr.allReachable)
	tr.restart(1, 3, 33)
	tr.receive(1, unbound[0].ToLink, unbound[0].Data) // n3 boot 1's unbound packet
	if got := peerBoot(tr.c[1], 3); got != 1 {
		t.Fatalf("setup: the fresh n1 talks to n3 boot %d, want the replayed boot 1", got)
	}

	tr.until("n1 and n3 reach each other again after the replay", tr.allReachable)
	if got := peerBoot(tr.c[1], 3); got != 2 {
		t.Fatalf("n1 talks to n3 boot %d, want its live boot 2", got)
	}
}

func peerBoot(c *conn.Conn, id wire.NodeID) uint32 {
	for _, p := range c.Status() {
		if p.ID == id {
			return p.Boot
		}
	}
	return 0
}

// TestStashedUnboundHeartbeatsDoNotKeepDeadPeerUp (review of issue 22):
// while n1 is down, n3 (newly started) sends it unbound heartbeats, which
// an attacker records. n1 comes back and both talk, bound; then n3 dies.
// n1 never saw those heartbeats, their counters are still inside n3's
// replay window, and unbound packets are taken from any incarnation of
// the receiver: replayed one per heartbeat period, they kept n1's inbound
// path from n3 alive (its outbound one stays as n3's last real heartbeat
// left it), so n1 held the dead n3 reachable for as long as the stash
// lasted. Now a heartbeat sent more than the path's threshold before the
// newest one heard on that path is no sign of life. (Mutation: count such
// heartbeats -> this test and TestWithheldHeartbeatsDoNotKeepDeadPeerUp
// fail.)
func TestStashedUnboundHeartbeatsDoNotKeepDeadPeerUp(t *testing.T) {
	tr := newTrio(t)
	n1Down, n3Dead := true, false
	var stash []conn.Packet
	tr.cut = func(from wire.NodeID, p conn.Packet) bool {
		if from == 3 && p.To == 1 && binary.BigEndian.Uint32(p.Data[28:32]) == 0 {
			stash = append(stash, conn.Packet{Link: p.Link, To: p.To, ToLink: p.ToLink, Data: bytes.Clone(p.Data)})
		}
		return n1Down && (from == 1 || p.To == 1) || n3Dead && (from == 3 || p.To == 3)
	}
	for range 500 { // 5 s
		tr.step()
	}
	n1Down = false
	tr.until("every node reaches every other", tr.allReachable)
	if len(stash) < 40 {
		t.Fatalf("setup: stashed %d unbound packets from n3 to n1, want 40 or more", len(stash))
	}

	n3Dead = true
	reachable := func() bool {
		for _, p := range tr.c[1].Status() {
			if p.ID == 3 {
				return p.Reachable
			}
		}
		return false
	}
	for i, p := range stash {
		tr.receive(1, p.ToLink, p.Data) // one per heartbeat period (10 steps of 10 ms)
		for range 10 {
			tr.step()
		}
		if i >= 20 && reachable() { // 2 s after n3 died
			t.Fatalf("n1 still holds the dead n3 reachable %v after it died, kept up by %d replayed unbound heartbeats",
				time.Duration(i+1)*100*time.Millisecond, i+1)
		}
	}
}

// TestWithheldHeartbeatsDoNotKeepDeadPeerUp (review of issue 22): an
// attacker on the path withholds one heartbeat in three from n3 to n1
// (a loss the detector rides out) and stores them; when n3 dies it
// replays them, one per heartbeat period. They are authentic, addressed
// to n1 and never seen by it, so the replay window takes them, and each
// counted as a sign of life on its path: n1 held the dead n3 reachable
// for as long as the stash lasted. Now a heartbeat sent more than the
// path's threshold before the newest one heard on its path is no sign of
// life.
func TestWithheldHeartbeatsDoNotKeepDeadPeerUp(t *testing.T) {
	tr := newTrio(t)
	tr.until("every node reaches every other", tr.allReachable)
	withhold, n3Dead := true, false
	var stash []conn.Packet
	var seen int
	tr.cut = func(from wire.NodeID, p conn.Packet) bool {
		if withhold && from == 3 && p.To == 1 {
			if seen++; seen%3 == 0 {
				stash = append(stash, conn.Packet{Link: p.Link, To: p.To, ToLink: p.ToLink, Data: bytes.Clone(p.Data)})
				return true
			}
		}
		return n3Dead && (from == 3 || p.To == 3)
	}
	for range 1000 { // 10 s
		tr.step()
		if !tr.allReachable() {
			t.Fatal("setup: withholding one heartbeat in three cut a path")
		}
	}
	withhold, n3Dead = false, true
	if len(stash) < 25 {
		t.Fatalf("setup: withheld %d packets from n3 to n1, want 25 or more", len(stash))
	}
	for i, p := range stash {
		tr.receive(1, p.ToLink, p.Data) // one per heartbeat period (10 steps of 10 ms)
		for range 10 {
			tr.step()
		}
		if i >= 20 && peerReachable(tr.c[1], 3) { // 2 s after n3 died
			t.Fatalf("n1 still holds the dead n3 reachable %v after it died, kept up by %d withheld heartbeats",
				time.Duration(i+1)*100*time.Millisecond, i+1)
		}
	}
}

func peerReachable(c *conn.Conn, id wire.NodeID) bool {
	for _, p := range c.Status() {
		if p.ID == id {
			return p.Reachable
		}
	}
	return false
}

// TestForgedNewerIncarnationsChangeNothing (review of issue 22): a
// stranger without the key copies each of n3's packets to n1 and sends
// it first with a higher boot id and a new start id (and, half the time,
// addressed to an earlier incarnation of n1, the kind that may teach a
// newer incarnation). Nothing is learnt from them: n1 keeps n3's
// incarnation, reports no restart, stays reachable and gets n3's messages.
// (Mutation: conn rebinds on a dropped packet's claimed higher boot, not
// on an authentic NewBoot -> n1 gets 1 of the 20 messages.)
func TestForgedNewerIncarnationsChangeNothing(t *testing.T) {
	tr := newTrio(t)
	tr.until("every node reaches every other", tr.allReachable)
	var n int
	tr.tap = func(from wire.NodeID, p conn.Packet) {
		if from != 3 || p.To != 1 {
			return
		}
		n++
		f := bytes.Clone(p.Data)
		binary.BigEndian.PutUint32(f[14:18], binary.BigEndian.Uint32(f[14:18])+uint32(n)) // sender boot
		binary.BigEndian.PutUint64(f[18:26], uint64(n))                                   // sender start
		if n%2 == 0 {
			binary.BigEndian.PutUint32(f[28:32], 0xFFFF) // destination boot: not n1's
		}
		if err := tr.c[1].Step(tr.now, conn.Received{Link: p.ToLink, Data: f}); !errors.Is(err, wire.ErrAuth) {
			t.Fatalf("forgery %d: %v, want %v", n, err, wire.ErrAuth)
		}
	}
	for i := range 20 {
		if _, err := tr.c[3].Send(tr.now, 1, []byte(fmt.Sprintf("m%d", i))); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			tr.step()
			if !tr.allReachable() {
				t.Fatal("a path went down under forgeries")
			}
		}
	}
	if n < 40 {
		t.Fatalf("setup: only %d forgeries", n)
	}
	if got := len(tr.got[1]); got != 20 {
		t.Fatalf("n1 got %d of n3's 20 messages", got)
	}
	if got := peerBoot(tr.c[1], 3); got != 1 {
		t.Fatalf("n1 talks to n3 boot %d, want 1", got)
	}
	for _, e := range tr.events[1] {
		if e.Kind == conn.EventPeerRestarted {
			t.Fatalf("forgeries made n1 report a restart: %+v", e)
		}
	}
}
