package crm

import (
	"reflect"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// TestReadyAndHasReadyScheduleNothing (issue 17, "crm.HasReady() must
// not schedule"): Step and Tick run the scheduling pass; Ready and
// HasReady are reads. Before, HasReady and Ready ran the pass the inputs
// since the last one had left owed, so what Groups showed changed under a
// read.
func TestReadyAndHasReadyScheduleNothing(t *testing.T) {
	c := mustNew(Config{Self: "n1", AssumeFenced: true})
	v := View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []string{"n1"}, Coordinator: "n1", Primary: true, Lease: true, Takeover: true}
	for _, in := range []Input{
		ConfigKeys{{Key: ResourcePrefix + "r", Value: []byte(`{"agent":"dummy","group":"g"}`)},
			{Key: GroupPrefix + "g", Value: []byte(`{"resources":["r"]}`)}},
		v,
	} {
		if err := c.Step(time.Second, in); err != nil {
			t.Fatal(err)
		}
	}
	// probes answered (nothing runs), the node's own broadcasts delivered
	// as the ordered broadcast would, until the start is asked for
	var rd Ready
	for i := 0; ; i++ {
		before := c.Groups()
		has := c.HasReady()
		rd = c.Ready()
		if g := c.Groups(); !reflect.DeepEqual(g, before) || has != !rd.Empty() {
			t.Fatalf("Groups changed under HasReady and Ready:\n%+v\n%+v", before, g)
		}
		if i == 20 || len(rd.Exec) > 0 && rd.Exec[0].Action == ActStart {
			break
		}
		c.Advance()
		for _, p := range rd.Broadcast {
			if err := c.Step(time.Second, Deliver{Payload: p}); err != nil {
				t.Fatal(err)
			}
		}
		for _, a := range rd.Exec {
			if err := c.Step(time.Second, ActionDone{Op: a.Op, Resource: a.Resource, Action: a.Action, Status: StatusNotRunning}); err != nil {
				t.Fatal(err)
			}
		}
	}
	groups := c.Groups()
	has := c.HasReady()
	if has != !rd.Empty() {
		t.Fatalf("HasReady %v, Ready %+v", has, rd)
	}
	if again := c.Ready(); !reflect.DeepEqual(again, rd) {
		t.Fatalf("Ready changed under a read:\n%+v\n%+v", rd, again)
	}
	if g := c.Groups(); !reflect.DeepEqual(g, groups) {
		t.Fatalf("Groups changed under Ready and HasReady:\n%+v\n%+v", groups, g)
	}
	if len(rd.Exec) == 0 || rd.Exec[0].Action != ActStart || len(groups) != 1 || groups[0].State == "offline" {
		t.Fatalf("g was not scheduled by Step: %+v, %+v", groups, rd.Exec)
	}
	c.Advance()
	if left := c.Ready(); c.HasReady() || !left.Empty() {
		t.Fatalf("Advance left %+v", left)
	}
}
