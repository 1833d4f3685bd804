package crm

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// TestRefusedStartRetryLoop (review2, liveness/load of 147a336): a member
// without a lease refuses a start and reports the resource stopped; the
// coordinator, which holds its lease, re-plans at that report and issues
// the start again at once. Nothing waits for time to pass, so while the
// member's lease has not come, the two exchange Actions and Reports as
// fast as the ordered broadcast carries them (each with an event, a
// State, maybe an owner-table Persist on every node). The test checks the
// order is asked again (liveness: it is) and counts the re-issues made at
// one instant of the clock.
func TestRefusedStartRetryLoop(t *testing.T) {
	now := time.Second
	mk := func(self string) *CRM { return mustNew(Config{Self: self, AssumeFenced: true}) }
	n1, n2 := mk("n1"), mk("n2")
	nodes := []*CRM{n1, n2}
	keys := ConfigKeys{
		{Key: ResourcePrefix + "vip", Value: []byte(`{"agent":"ipaddr","group":"g","params":{"ip":"10.0.0.5","nic":"eth0"}}`)},
		{Key: GroupPrefix + "g", Value: []byte(`{"resources":["vip"],"possible":["n2"]}`)},
	}
	v := View{ID: wire.ViewID{Epoch: 5, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Takeover: true}
	var bus [][]byte
	starts, reports, events, persists := 0, 0, 0, 0
	kinds := map[string]int{}
	var execs []struct {
		c *CRM
		a Action
	}
	take := func(c *CRM) {
		for c.HasReady() {
			rd := c.Ready()
			c.Advance()
			bus = append(bus, rd.Broadcast...)
			events += len(rd.Events)
			for _, e := range rd.Events {
				kinds[e.Kind]++
			}
			if rd.Persist != nil {
				persists++
			}
			for _, a := range rd.Exec {
				execs = append(execs, struct {
					c *CRM
					a Action
				}{c, a})
			}
		}
	}
	step := func(c *CRM, in Input) {
		if err := c.Step(now, in); err != nil {
			t.Fatal(err)
		}
		take(c)
	}
	for i, c := range nodes {
		step(c, keys)
		vv := v
		vv.Lease = i == 0 // n2 restarted: no lease yet
		step(c, vv)
	}
	pump := func(limit int) {
		for k := 0; k < limit && (len(bus) > 0 || len(execs) > 0); k++ {
			for len(execs) > 0 {
				e := execs[0]
				execs = execs[1:]
				st := StatusOK
				if e.a.Action == ActMonitor {
					st = StatusNotRunning
				}
				if e.a.Action == ActStart && e.c == n2 && !n2.view.Lease {
					t.Fatalf("n2 starts %s without a lease", e.a.Resource)
				}
				step(e.c, ActionDone{Op: e.a.Op, Resource: e.a.Resource, Action: e.a.Action, Status: st})
			}
			if len(bus) == 0 {
				continue
			}
			p := bus[0]
			bus = bus[1:]
			if m, _ := Decode(p); m != nil {
				switch m := m.(type) {
				case *Actions:
					for _, a := range m.List {
						if a.Action == ActStart && a.Node == "n2" {
							starts++
						}
					}
				case *Report:
					if m.Node == "n2" && !m.Full {
						reports++
					}
				}
			}
			for _, c := range nodes {
				step(c, Deliver{Payload: p})
			}
		}
	}
	pump(2000)
	t.Logf("at one instant, with n2's lease not come: %d starts of vip on n2 issued, %d refusals reported, %d events, %d persists; bus left %d",
		starts, reports, events, persists, len(bus))
	t.Logf("event kinds: %v", kinds)
	if starts == 0 {
		t.Fatalf("the coordinator never placed vip on n2")
	}
	// liveness: once the lease comes the next order is taken
	vv := v
	vv.Lease = true
	step(n2, vv)
	before := n2.local["vip"]
	pump(2000)
	if l := n2.local["vip"]; l == nil || l.state != Started {
		t.Fatalf("vip on n2 after its lease came: %+v (before %+v), want started", l, before)
	}
	if starts > 10 {
		t.Fatalf("the coordinator asked n2 to start vip %d times at one instant (no backoff: a broadcast storm until the member's lease comes)", starts)
	}
}
