package whatif

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

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

func steps(out Output, kind string) []Step {
	var o []Step
	for _, s := range out.Steps {
		if s.Kind == kind {
			o = append(o, s)
		}
	}
	return o
}

// TestPauseFencesBeforeMove: a paused owner is fenced before its group
// starts elsewhere, and the output says why.
func TestPauseFencesBeforeMove(t *testing.T) {
	out, err := Run(cluster(3, "n3", "n1", true), Faults{Pause: []string{"n3"}})
	if err != nil {
		t.Fatal(err)
	}
	if web := group(t, out, "web"); web.Owner != "n2" || web.State != "online" {
		t.Errorf("web: %+v, want online on n2\n%s", web, dump(out))
	}
	if len(out.Fenced) != 1 || out.Fenced[0].Node != "n3" || !out.Fenced[0].Confirmed || out.Fenced[0].By != "n1" {
		t.Errorf("fenced: %+v", out.Fenced)
	}
	if !strings.Contains(out.Text(), "may resume") || !strings.Contains(out.Text(), "n3 is paused, not dead") {
		t.Errorf("the text does not say why a paused node is fenced:\n%s", out.Text())
	}
	fence, start := -1, -1
	for i, s := range out.Steps {
		if s.Kind == StepFenced && fence < 0 {
			fence = i
		}
		if s.Kind == StepStart && start < 0 {
			start = i
		}
	}
	if fence < 0 || start < fence {
		t.Errorf("fence at %d, start at %d:\n%s", fence, start, dump(out))
	}
}

// TestPartition: the majority side fences the minority, which stops what
// it runs (it is in no primary view), and takes its group over.
func TestPartition(t *testing.T) {
	out, err := Run(cluster(3, "n1", "n2", true), Faults{Partition: [][]string{{"n1"}, {"n2", "n3"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Sides) != 2 || out.Sides[0].Primary || !out.Sides[1].Primary || !out.Quorate || out.Primary != "n2" ||
		!strings.Contains(out.Sides[0].Quorum, "not primary: 1 of 3 votes") {
		t.Errorf("sides %+v primary %q", out.Sides, out.Primary)
	}
	if len(steps(out, StepSelfStop)) != 1 || steps(out, StepSelfStop)[0].Node != "n1" {
		t.Errorf("n1 must stop what it runs, being in no primary view:\n%s", dump(out))
	}
	if web := group(t, out, "web"); web.Owner != "n3" || !web.Moved {
		t.Errorf("web: %+v, want online on n3 (n2 runs db)", web)
	}
	if len(out.Fenced) != 1 || out.Fenced[0].Node != "n1" || !out.Fenced[0].Confirmed {
		t.Errorf("fenced: %+v", out.Fenced)
	}
}

// TestQuorumLost: two of three killed: no side is primary and the last
// node stops what it runs; nothing is fenced.
func TestQuorumLost(t *testing.T) {
	out, err := Run(cluster(3, "n1", "n3", true), Faults{Kill: []string{"n1", "n2"}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Quorate || out.Primary != "" || len(out.Sides) != 1 || out.Sides[0].Primary {
		t.Errorf("quorum: %+v", out.Sides)
	}
	if db := group(t, out, "db"); db.State != "offline" || db.Owner != "" {
		t.Errorf("db: %+v, want offline", db)
	}
	if len(steps(out, StepSelfStop)) != 1 || len(steps(out, StepFence)) != 0 || !strings.Contains(out.Text(), "loses quorum") {
		t.Errorf("want n3 to stop pg and nothing fenced:\n%s", dump(out))
	}
}

// TestNoFencing: without fence devices a departed node counts as fenced
// after the takeover wait (crm AssumeFenced), and no device is called.
func TestNoFencing(t *testing.T) {
	out, err := Run(cluster(3, "n1", "n2", false), Faults{Kill: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if web := group(t, out, "web"); web.Owner != "n3" || web.State != "online" {
		t.Errorf("web: %+v\n%s", web, dump(out))
	}
	if len(steps(out, StepFence)) != 0 || len(out.Fenced) != 1 || out.Fenced[0].Confirmed || !strings.Contains(out.Fenced[0].Why, "no fencing") {
		t.Errorf("fenced %+v", out.Fenced)
	}
}

// TestNoDevice: fencing is configured, but the killed owner has no
// device: its group stays blocked waiting for its fence.
func TestNoDevice(t *testing.T) {
	in := cluster(3, "n1", "n2", true)
	in.Fence.Targets["n1"] = fence.Target{}
	out, err := Run(in, Faults{Kill: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if web := group(t, out, "web"); web.State != "blocked" || web.Reason != "waiting for fence of n1" {
		t.Errorf("web: %+v\n%s", web, dump(out))
	}
	if len(out.Fenced) != 1 || out.Fenced[0].Confirmed || !strings.Contains(out.Fenced[0].Why, "fence confirm n1") || len(steps(out, StepNoFence)) != 1 {
		t.Errorf("fenced %+v", out.Fenced)
	}
}

// TestFailRestartsThenFailsOver: a resource that fails on its node is
// restarted in place restart.max times, then fails over.
func TestFailRestartsThenFailsOver(t *testing.T) {
	out, err := Run(cluster(3, "n1", "n2", true), Faults{Fail: []string{"web/whoami"}})
	if err != nil {
		t.Fatal(err)
	}
	if web := group(t, out, "web"); web.Owner != "n3" || web.State != "online" {
		t.Errorf("web: %+v\n%s", web, dump(out))
	}
	failed := 0
	for _, s := range steps(out, StepFailed) {
		if s.Node == "n1" && s.Resource == "whoami" {
			failed++
		}
	}
	if failed != crm.DefaultRestartMax || len(out.Fenced) != 0 || len(out.Sides) != 1 || !out.Sides[0].Primary {
		t.Errorf("%d failed starts on n1, want %d; fenced %+v\n%s", failed, crm.DefaultRestartMax, out.Fenced, dump(out))
	}
	// @NODE names where; a resource on no node fails wherever it starts
	if _, err := Run(cluster(3, "n1", "n2", true), Faults{Fail: []string{"pg@n2"}}); err != nil {
		t.Fatal(err)
	}
}

// TestStage: a staged change of possible owners moves the group, stopping
// it first; a staged deletion stops a group.
func TestStage(t *testing.T) {
	in := cluster(3, "n1", "n2", true)
	stage := map[string][]byte{}
	for k, v := range in.Config {
		stage[k] = v
	}
	stage["/groups/web"] = []byte(`{"resources": ["whoami"], "possible": ["n2"]}`)
	delete(stage, "/groups/db")
	delete(stage, "/resources/pg")
	out, err := Run(in, Faults{Stage: stage})
	if err != nil {
		t.Fatal(err)
	}
	if web := group(t, out, "web"); web.Owner != "n2" || !web.Moved {
		t.Errorf("web: %+v\n%s", web, dump(out))
	}
	if db := group(t, out, "db"); db.State != "" || db.Reason != "no longer configured" {
		t.Errorf("db: %+v", db)
	}
	stop, start := -1, -1
	for i, s := range out.Steps {
		if s.Kind == StepStop && s.Resource == "whoami" {
			stop = i
		}
		if s.Kind == StepStart && s.Resource == "whoami" {
			start = i
		}
	}
	if stop < 0 || start < stop || len(steps(out, StepStop)) != 2 {
		t.Errorf("want whoami stopped on n1 then started on n2, and pg stopped:\n%s", dump(out))
	}
	var why []string
	for _, s := range steps(out, StepGroup) {
		why = append(why, s.Why...)
	}
	if !slices.Contains(why, "not on: n1 is not a possible owner; n3 is not a possible owner") {
		t.Errorf("the reasons do not say why: %q", why)
	}
}

// TestDeterministic: the same input gives the same answer.
func TestDeterministic(t *testing.T) {
	a, err := Run(cluster(5, "n4", "n2", true), Faults{Kill: []string{"n4"}, Partition: [][]string{{"n1", "n2", "n3"}, {"n4", "n5"}}, Fail: []string{"pg"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1; i++ {
		b, _ := Run(cluster(5, "n4", "n2", true), Faults{Kill: []string{"n4"}, Partition: [][]string{{"n1", "n2", "n3"}, {"n4", "n5"}}, Fail: []string{"pg"}})
		if a.Text() != b.Text() {
			t.Fatalf("two runs differ:\n%s\n---\n%s", a.Text(), b.Text())
		}
	}
}

// TestRestartedMemberNotSelfFenced: the live fence knowledge may still
// say a member is fenced at the last boot id it knows (the member
// restarted, its new boot id not merged yet): the simulation must not
// fence it again (it would stop itself at once).
func TestRestartedMemberNotSelfFenced(t *testing.T) {
	in := cluster(3, "n1", "n2", true)
	// the live knowledge: n3 fenced at boot 1 (a real fence core's)
	cfg := in.Fence
	cfg.Self, cfg.Boot = "n1", 1
	f, err := fence.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := fence.View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []string{"n1", "n2", "n3"}, Coordinator: "n1", Primary: true, Lease: true, Takeover: true}
	var queue [][]byte
	step := func(in fence.Input) {
		if err := f.Step(0, in); err != nil {
			t.Fatal(err)
		}
		rd := f.Ready()
		f.Advance()
		queue = append(queue, rd.Broadcast...)
	}
	step(v)
	for _, n := range []string{"n2", "n3"} {
		o, _ := fence.New(fence.Config{Self: n, Boot: 1, Targets: cfg.Targets})
		_ = o.Step(0, v)
		queue = append(queue, o.Ready().Broadcast...)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		step(fence.Deliver{View: v.ID, Primary: true, Payload: p})
	}
	step(fence.View{ID: wire.ViewID{Epoch: 2, Coord: 1}, Members: []string{"n1", "n2"}, Coordinator: "n1", Primary: true, Lease: true, Takeover: true})
	step(fence.Confirm{Target: "n3"})
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		step(fence.Deliver{View: wire.ViewID{Epoch: 2, Coord: 1}, Primary: true, Payload: p})
	}
	if _, ok := f.Confirmed("n3"); !ok {
		t.Fatal("setup: n3 is not confirmed fenced")
	}
	in.FenceState = f.Snapshot()
	out, err := Run(in, Faults{Kill: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if web := group(t, out, "web"); web.Owner != "n3" {
		t.Errorf("web: %+v, want n3 (it runs nothing, n2 runs db)\n%s", web, dump(out))
	}
	for _, s := range append(out.Underway, out.Steps...) {
		if strings.Contains(s.Text, "n3 learns it was fenced") {
			t.Errorf("n3 stopped itself: %s", s.Text)
		}
	}
}

// TestTwoNodeSplit: under two_node both halves are quorate and fence each
// other; the node with a fence_delay waits, so its peer wins.
func TestTwoNodeSplit(t *testing.T) {
	in := cluster(2, "n2", "n1", true)
	in.Quorum.TwoNode = true
	tg := in.Fence.Targets["n1"]
	tg.Delay = 5 * time.Second // n1 is the preferred survivor: n2 waits before fencing it
	in.Fence.Targets["n1"] = tg
	out, err := Run(in, Faults{Partition: [][]string{{"n1"}, {"n2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Sides) != 2 || !out.Sides[0].Primary || !out.Sides[1].Primary {
		t.Errorf("sides %+v", out.Sides)
	}
	if len(out.Fenced) != 1 || out.Fenced[0].Node != "n2" || !out.Fenced[0].Confirmed || out.Fenced[0].By != "n1" {
		t.Errorf("fenced %+v\n%s", out.Fenced, dump(out))
	}
	if web := group(t, out, "web"); web.Owner != "n1" || web.State != "online" {
		t.Errorf("web %+v\n%s", web, dump(out))
	}
	if out.Primary != "n1" || !strings.Contains(out.Text(), "fence_delay decides") {
		t.Errorf("primary %q\n%s", out.Primary, out.Text())
	}
}
