package crm

import (
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// TestStartWaitsForLease (G2): a member starts nothing before it holds a
// lease, not only after it lost one. A node that restarted (it runs
// nothing, so it carries no lease into its first primary view) installs
// the view before a quorum answered it; the coordinator, which holds its
// own lease, may place a group there at once. The member refuses the
// start, keeps the order unanswered, and takes it once its lease arrived
// in the same view (review2: reporting it stopped made the coordinator
// ask again at once, a storm). Seen failing with the old guard
// `(!c.view.Primary || c.leaseGone)`: "exec [start vip], want none
// before the lease" (the stack simulation's TestSimulationDisk seed 141
// -diskstream 62).
func TestStartWaitsForLease(t *testing.T) {
	v := View{ID: wire.ViewID{Epoch: 5, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true}
	c := mustNew(Config{Self: "n2"})
	step := stepper(t, c)
	step(ConfigKeys{{Key: ResourcePrefix + "vip", Value: []byte(`{"agent":"ipaddr","group":"g","params":{"ip":"10.0.0.5","nic":"eth0"}}`)}})
	rd := step(v) // no lease yet: its heartbeats are unanswered
	if len(rd.Exec) != 1 || rd.Exec[0].Action != ActMonitor {
		t.Fatalf("exec %+v, want the probe", rd.Exec)
	}
	step(ActionDone{Op: rd.Exec[0].Op, Resource: "vip", Action: ActMonitor, Status: StatusNotRunning})
	start := func(n uint64) Ready {
		return step(Deliver{Payload: Encode(&Actions{View: v.ID, List: []Action{{Op: OpID{Epoch: 5, N: n}, Node: "n2", Resource: "vip",
			Group: "g", Agent: "ipaddr", Action: ActStart, Timeout: time.Second}}})})
	}
	rd = start(1)
	if len(rd.Exec) != 0 {
		t.Fatalf("exec %+v, want none before the lease", rd.Exec)
	}
	for _, p := range rd.Broadcast {
		if m, _ := Decode(p); m != nil {
			if rp, ok := m.(*Report); ok && len(rp.Res) == 1 && rp.Res[0].Done == (OpID{Epoch: 5, N: 1}) {
				t.Fatalf("report %+v: the refused start is kept, not answered (the coordinator would ask again at once)", rp.Res[0])
			}
		}
	}
	v.Lease = true // a quorum answered
	rd = step(v)
	if len(rd.Exec) != 1 || rd.Exec[0].Action != ActStart || rd.Exec[0].Resource != "vip" || rd.Exec[0].Op != (OpID{Epoch: 5, N: 1}) {
		t.Fatalf("exec %+v, want the kept start (op 5.1) once the lease holds", rd.Exec)
	}
}

// TestHeldStartDroppedAtViewChange: a start refused for want of a lease is
// kept only in the view it was ordered in; a lease that comes in a later
// view does not take it (that view's coordinator plans anew).
func TestHeldStartDroppedAtViewChange(t *testing.T) {
	v := View{ID: wire.ViewID{Epoch: 5, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true}
	c := mustNew(Config{Self: "n2"})
	step := stepper(t, c)
	step(ConfigKeys{{Key: ResourcePrefix + "vip", Value: []byte(`{"agent":"ipaddr","group":"g","params":{"ip":"10.0.0.5","nic":"eth0"}}`)}})
	rd := step(v)
	step(ActionDone{Op: rd.Exec[0].Op, Resource: "vip", Action: ActMonitor, Status: StatusNotRunning})
	rd = step(Deliver{Payload: Encode(&Actions{View: v.ID, List: []Action{{Op: OpID{Epoch: 5, N: 1}, Node: "n2", Resource: "vip",
		Group: "g", Agent: "ipaddr", Action: ActStart, Timeout: time.Second}}})})
	if len(rd.Exec) != 0 {
		t.Fatalf("exec %+v, want none before the lease", rd.Exec)
	}
	v.ID = wire.ViewID{Epoch: 6, Coord: 1}
	step(v)
	v.Lease = true
	if rd = step(v); len(rd.Exec) != 0 {
		t.Fatalf("exec %+v, want none: the start was ordered in the previous view", rd.Exec)
	}
}
