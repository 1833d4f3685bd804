package whatif

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/quorum"
	"github.com/corral-ha/corral/core/wire"
)

// cluster is a live n-node cluster, every node a member of view 5/1,
// with group web (resource whoami) online on owner and group db (pg) on
// dbOwner; fenced: every node has the device "pdu".
func cluster(n int, owner, dbOwner string, fenced bool) Input {
	in := Input{Quorum: quorum.Config{Votes: map[wire.NodeID]int{}, Policy: quorum.Majority}, View: wire.ViewID{Epoch: 5, Coord: 1}, Primary: true,
		Fence: fence.Config{Targets: map[string]fence.Target{}},
		Config: map[string][]byte{
			"/resources/whoami": []byte(`{"agent": "process", "group": "web"}`),
			"/groups/web":       []byte(`{"resources": ["whoami"]}`),
			"/resources/pg":     []byte(`{"agent": "process", "group": "db"}`),
			"/groups/db":        []byte(`{"resources": ["pg"]}`),
		}}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("n%d", i)
		in.Nodes = append(in.Nodes, Node{Name: name, ID: wire.NodeID(i)})
		in.Quorum.Votes[wire.NodeID(i)] = 1
		in.Members = append(in.Members, name)
		t := fence.Target{}
		if fenced {
			t.Levels = [][]fence.Device{{{Name: "pdu", Driver: "process"}}}
		}
		in.Fence.Targets[name] = t
	}
	online := func(g, r, node string) crm.GroupState {
		return crm.GroupState{Name: g, State: crm.GroupOnline, Owner: node, Active: []string{node},
			Res: []crm.ResStatus{{Resource: r, Node: node, State: crm.Started}}}
	}
	in.State = crm.State{View: in.View, Full: true, Groups: []crm.GroupState{online("db", "pg", dbOwner), online("web", "whoami", owner)}}
	in.Known = crm.Known{View: in.View, Owners: []crm.Owner{{Node: dbOwner, Group: "db"}, {Node: owner, Group: "web"}}}
	return in
}

func group(t *testing.T, out Output, name string) Group {
	t.Helper()
	for _, g := range out.Groups {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group %s in %+v", name, out.Groups)
	return Group{}
}

func dump(out Output) string {
	var b strings.Builder
	for _, s := range out.Underway {
		fmt.Fprintf(&b, "underway %s: %s\n", s.Kind, s.Text)
	}
	for _, s := range out.Steps {
		fmt.Fprintf(&b, "%s: %s %v\n", s.Kind, s.Text, s.Why)
	}
	fmt.Fprintf(&b, "sides %+v\nfenced %+v\ngroups %+v\nnotes %v\n", out.Sides, out.Fenced, out.Groups, out.Notes)
	return b.String()
}

// TestKillOwner: killing the owner fences it with its device, then its
// group starts on a survivor (the least loaded: n3, since n2 runs db).
func TestKillOwner(t *testing.T) {
	out, err := Run(cluster(3, "n1", "n2", true), Faults{Kill: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(dump(out))
	if len(out.Underway) != 0 {
		t.Errorf("the baseline is busy: %v", out.Underway)
	}
	web := group(t, out, "web")
	if web.State != "online" || web.Owner != "n3" || !web.Moved || web.BeforeOwner != "n1" {
		t.Errorf("web: %+v, want online on n3, moved from n1", web)
	}
	if db := group(t, out, "db"); db.Owner != "n2" || db.Moved {
		t.Errorf("db: %+v, want it to stay on n2", db)
	}
	if len(out.Fenced) != 1 || out.Fenced[0].Node != "n1" || !out.Fenced[0].Confirmed || out.Fenced[0].Device != "pdu" || out.Fenced[0].Level != 1 || out.Fenced[0].By != "n2" {
		t.Errorf("fenced %+v, want n1 by pdu level 1 run by n2", out.Fenced)
	}
	if !out.Quorate || out.Primary != "n2" || len(out.Sides) != 1 {
		t.Errorf("quorum: %+v primary %q", out.Sides, out.Primary)
	}
	// the fence comes before the start
	fencedAt, startAt := -1, -1
	for i, s := range out.Steps {
		if s.Kind == StepFenced && s.Node == "n1" && fencedAt < 0 {
			fencedAt = i
		}
		if s.Kind == StepStart && s.Resource == "whoami" && startAt < 0 {
			startAt = i
		}
	}
	if fencedAt < 0 || startAt < fencedAt {
		t.Errorf("fenced at step %d, start at %d: the start must come after the fence", fencedAt, startAt)
	}
}

func TestBadFaults(t *testing.T) {
	for _, f := range []Faults{{Kill: []string{"n9"}}, {Partition: [][]string{{"n1"}, {"n2"}}}, {Fail: []string{"nope"}}, {Fail: []string{"db/whoami"}}} {
		if _, err := Run(cluster(3, "n1", "n2", true), f); !errors.Is(err, ErrBadFault) {
			t.Errorf("%+v: %v, want ErrBadFault", f, err)
		}
	}
}
