package stack

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/dlm"
)

// TestDLMLeaseJudgedAtTickBeforeAnswers (review2, the sibling of aab13aa):
// aab13aa moved the resource manager's lease judgement from Tick to the
// round after it, because at Tick the answers conn holds (packets the
// driver stepped before the Tick: core/node's drain, the sim's packets
// stepped before Tick) have not reached membership yet, and a lease they
// renew looks lapsed. dlmTick still judges at Tick (dlmView, and the disk
// core's view with it). n1 (no fence device: not covered) holds a lock;
// its peers' answers reach its socket but are stepped only just before the
// Tick at which its lease would lapse without them. The Tick tells the
// lock manager Lost, which completes n1's lock Lost and forgets it,
// though the round right after finds n1 leased (continuity of locks);
// the lock manager's view stays Lost after that round too (dlmView is not
// judged again in a round without an install or a message), until the
// next Tick. Safe for G5 (Lost is conservative), wrong for continuity.
// The answers are read late here (held ~0.5 s; the driver was busy), the
// Tick at the first 50 ms boundary after the lapse without them.
func TestDLMLeaseJudgedAtTickBeforeAnswers(t *testing.T) {
	c := newUnitCluster(t, 3)
	c.primaryOf(3)
	var comps []dlm.Completion
	c.check = func(id int, rd *Ready) {
		if id == 1 {
			comps = append(comps, rd.DLMCompletions...)
		}
	}
	s1 := c.nodes[0]
	a := dlm.Owner{Node: 1, ID: 1}
	if _, err := s1.LockDLM(c.now, dlm.Request{Name: "r", Mode: dlm.EX, Owner: a}); err != nil {
		t.Fatal(err)
	}
	c.runUntil("A granted EX on n1", func() bool {
		for _, cp := range comps {
			if cp.Owner == a && cp.Status == dlm.OK {
				return true
			}
		}
		return false
	})
	lost := func() bool {
		for _, cp := range comps {
			if cp.Owner == a && cp.Status == dlm.Lost {
				return true
			}
		}
		return false
	}
	var held []conn.Packet
	ready := func(i int) {
		s := c.nodes[i]
		for range 100 {
			rd := s.Ready()
			if rd.Empty() {
				break
			}
			c.check(i+1, &rd)
			c.net = append(c.net, rd.Packets...)
			c.net = append(c.net, rd.After...)
			s.Advance(c.now)
		}
	}
	for end := c.now + 30*time.Second; c.now < end; {
		c.now += 10 * time.Millisecond
		net := c.net
		c.net = nil
		for _, p := range net {
			if p.To == 1 {
				held = append(held, p) // in n1's socket, not read yet
				continue
			}
			_ = c.nodes[p.To-1].Step(c.now, Packet{Link: p.ToLink, Data: p.Data})
		}
		tick := c.now%(50*time.Millisecond) == 0
		for i := range c.nodes {
			if i == 0 && tick {
				exp, ok := s1.LeaseExpiry(c.now)
				if !ok {
					t.Fatalf("n1 lost its lease before the Tick (setup) at %v", c.now)
				}
				if c.now+100*time.Millisecond > exp {
					// the last Tick before the lapse: the answers held are
					// read first (the driver's drain), then the Tick
					for _, p := range held {
						_ = s1.Step(c.now, Packet{Link: p.ToLink, Data: p.Data})
					}
					c.now = (exp/(50*time.Millisecond) + 1) * 50 * time.Millisecond // the Tick after the lapse without the answers (the driver read them late: a write, a busy loop)
					s1.Advance(c.now)
					atTick := s1.mem.Leased(c.now)
					t.Logf("at the Tick %v (answers in conn, not in membership): leased %v", c.now, atTick)
					s1.Tick(c.now)
					ready(0)
					leased := s1.mem.Leased(c.now)
					t.Logf("after the Tick and its rounds: n1 leased %v, dlm view %+v, lost %v", leased, s1.dlm.view, lost())
					if leased && lost() {
						t.Fatalf("n1's lock A was completed Lost at the Tick, though the answers in its socket renewed its lease (leased in the round after)")
					}
					return
				}
			}
			if tick {
				c.nodes[i].Tick(c.now)
			}
			ready(i)
		}
	}
	t.Fatal("never reached the lapse")
}

// TestCRMLeaseJudgedInTheRoundAfterATickOnly (review2, aab13aa; passes):
// a node cut off whose only inputs are Ticks has the resource manager's
// lease judged in the Ready after every Tick (crmRound runs in the first
// round, tickDue), so a lapse is seen within one Tick and its Ready, never
// later: after each Tick's Ready the resource manager's View.Lease is
// membership's Leased at that time.
func TestCRMLeaseJudgedInTheRoundAfterATickOnly(t *testing.T) {
	c := newUnitCluster(t, 3)
	c.primaryOf(3)
	s1 := c.nodes[0]
	if !s1.crm.view.Lease {
		t.Fatal("setup: n1's resource manager holds no lease")
	}
	c.cut = 1
	for end := c.now + 10*time.Second; c.now < end; {
		c.step() // n1 ticks every 50 ms, steps nothing, and asks Ready
		if got, want := s1.crm.view.Lease, s1.mem.Leased(s1.now); got != want {
			t.Fatalf("at %v after a step: the resource manager's View.Lease %v, membership's Leased %v", c.now, got, want)
		}
		if !s1.crm.view.Lease {
			t.Logf("lapse seen at %v", c.now)
			return
		}
	}
	t.Fatal("n1 never lost its lease")
}
