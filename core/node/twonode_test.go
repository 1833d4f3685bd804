package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/fence"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/wire"
)

// TestMembershipPersistFailureStops: the disk refuses n2's membership
// state (promise, epoch, lineage) at the view change after n1 stops: n2
// stops, its Run returning the write's error, instead of going on with
// a promise that is only in memory.
func TestMembershipPersistFailureStops(t *testing.T) {
	nodes := startNodes(t, writeCluster(t, t.TempDir(), 104, 2), nodeSetup{})
	errDisk := errors.New("injected disk failure")
	if err := nodes[1].n.do(func() {
		nodes[1].n.store.putFault = func(key []byte) error {
			if bytes.Equal(key, keyMembership) {
				return errDisk
			}
			return nil
		}
	}); err != nil {
		t.Fatal(err)
	}
	nodes[0].stop()
	select {
	case err := <-nodes[1].done:
		nodes[1].done <- err // for the cleanup
		if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "membership") {
			t.Fatalf("n2's Run ended with %v, want the membership write's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("n2 went on after its membership state could not be written")
	}
}

// twoNodePair is a two_node cluster of in-process nodes whose fence
// devices are the dummy driver, one per node (dirs[0] records n1's power,
// dirs[1] n2's); n1 is the preferred survivor: its fence_delay is far
// longer than the tests, so in a split n1 fences n2 at once while n2 waits.
type twoNodePair struct {
	nodes []*clusterNode
	paths []string
	dirs  [2]string
}

func startTwoNodePair(t *testing.T, netBlock int) *twoNodePair {
	t.Helper()
	p := &twoNodePair{paths: writeCluster(t, t.TempDir(), netBlock, 2), dirs: [2]string{t.TempDir(), t.TempDir()}}
	extra := "[quorum]\ntwo_node = true\n\n"
	for k, d := range p.dirs {
		extra += fmt.Sprintf("[[fence.devices]]\nname = \"dev%d\"\ndriver = \"dummy\"\ntargets = [\"n%d\"]\nparams = { dir = %q }\n\n", k+1, k+1, d)
	}
	p.nodes = startNodes(t, p.paths, nodeSetup{edit: func(_ int, src string) string {
		src = strings.Replace(src, "id = 1\n", "id = 1\nfence_delay = \"1h\"\n", 1)
		return strings.Replace(src, "[debug]", extra+"[debug]", 1)
	}})
	return p
}

// split cuts n1 and n2 apart, both ways; it returns n1's fault ids.
func (p *twoNodePair) split(t *testing.T) []uint64 {
	t.Helper()
	var n1Faults []uint64
	for k, r := range p.nodes {
		peer := wire.NodeID(2 - k)
		id, err := r.n.Faults().AddFault(transport.Fault{Peer: r.n.PeerAddrs(peer), Link: -1, Dir: transport.Both, Drop: 1})
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			n1Faults = append(n1Faults, id)
		}
	}
	return n1Faults
}

// fencedByDevice reports whether n1's device was run on n2 (the dummy
// records the power state); a real device would have killed n2 then.
func (p *twoNodePair) fencedByDevice() bool {
	_, err := os.Stat(filepath.Join(p.dirs[1], "n2"))
	return err == nil
}

// restart opens node k again from its config and data dir (a new boot id)
// and runs it; the old one must be stopped.
func (p *twoNodePair) restart(t *testing.T, k int) {
	t.Helper()
	cfg, err := config.Load(p.paths[k])
	if err != nil {
		t.Fatal(err)
	}
	r := &clusterNode{done: make(chan error, 1), ex: NewDummyExecutor()}
	if r.n, err = Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Executor: r.ex}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- r.n.Run(ctx) }()
	t.Cleanup(r.stop)
	p.nodes[k] = r
}

// stillUp fails the test if node k's Run has ended.
func (p *twoNodePair) stillUp(t *testing.T, k int) {
	t.Helper()
	select {
	case err := <-p.nodes[k].done:
		p.nodes[k].done <- err
		p.nodes[k].cancel = nil
		t.Fatalf("n%d stopped: %v", k+1, err)
	default:
	}
}

// bothIn waits until both nodes are in one view, n1 quorate and its fence
// core settled in that view (every member's report delivered: a self-fence
// would have been decided by then).
func (p *twoNodePair) bothIn(t *testing.T, within time.Duration) {
	t.Helper()
	eventually(t, within, "n1 and n2 in one view, n1's fence core settled in it", func() bool {
		p.stillUp(t, 0)
		settled := false
		var members int
		if err := p.nodes[0].n.do(func() {
			settled = p.nodes[0].n.st.FenceSettled() && fenceViewID(p.nodes[0].n) == p.nodes[0].n.st.Membership().View.ID
			members = len(p.nodes[0].n.st.Membership().View.Members)
		}); err != nil {
			return false
		}
		st, err := p.nodes[1].n.StatusDoc()
		return settled && members == 2 && err == nil && len(st.Members) == 2 && st.Quorate
	})
}

// TestTwoNodeSplitOnlyFencerWrites (issue 15, G3): a two_node pair splits
// and both halves keep trying config writes. Each half is a 1-of-2 view
// that may only fence its peer until the fence is confirmed: n2 (which
// has to wait n1's fence_delay) acknowledges nothing; n1 fences n2 at once
// and acknowledges writes only after that. n2 is killed (what a real
// device does), restarts after the heal and joins n1: every write n1
// acknowledged is on both nodes, and n1 stays up.
func TestTwoNodeSplitOnlyFencerWrites(t *testing.T) {
	p := startTwoNodePair(t, 105)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.nodes[0].n.CDBSet(ctx, "/app/before", []byte(`"split"`)); err != nil {
		t.Fatal(err)
	}
	p.split(t)

	type ack struct {
		key string
		rev uint64
	}
	var mu sync.Mutex
	acked := map[int][]ack{}
	var violations []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range p.nodes {
		r := p.nodes[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("/app/n%d/%d", k+1, i)
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				res, err := r.n.CDBSet(ctx, key, []byte(`"x"`))
				cancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond) // pace the retries
					continue
				}
				fenced := false
				_ = r.n.do(func() { _, fenced = r.n.st.Confirmed(fmt.Sprintf("n%d", 2-k)) })
				mu.Lock()
				acked[k] = append(acked[k], ack{key, res.Rev})
				if !fenced {
					violations = append(violations, fmt.Sprintf("n%d acknowledged %s at revision %d while its peer was not confirmed fenced", k+1, key, res.Rev))
				}
				mu.Unlock()
			}
		}()
	}
	eventually(t, 20*time.Second, "n1 fenced n2 and acknowledged writes alone", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(violations) > 0 || (p.fencedByDevice() && len(acked[0]) >= 3)
	})
	// n2, alone and not confirming its fence of n1, answers no DNS
	if z := p.nodes[1].n.dns.resp.Zone(); z != nil {
		if serving, why := z.Serving(); serving || !strings.Contains(why, "two_node") {
			t.Errorf("n2 alone before its peer is fenced: DNS serving %v (%q)", serving, why)
		}
	}
	// the device ran: n2 is dead now (a real device kills it)
	p.nodes[1].kill()
	close(stop)
	wg.Wait()
	if len(violations) > 0 {
		t.Fatalf("split brain: %s", strings.Join(violations, "; "))
	}
	if len(acked[1]) > 0 {
		t.Fatalf("n2 acknowledged %v without fencing n1", acked[1])
	}
	// heal (n2's faults died with it), restart n2: it joins n1
	for _, r := range p.nodes[:1] {
		r.n.Faults().ClearFaults()
	}
	p.restart(t, 1)
	p.bothIn(t, 20*time.Second)
	for k, r := range p.nodes {
		eventually(t, 10*time.Second, fmt.Sprintf("n%d holds every write n1 acknowledged", k+1), func() bool {
			for _, a := range append([]ack{{key: "/app/before"}}, acked[0]...) {
				kv, found, stale, err := r.n.CDBGet(a.key)
				if err != nil || !found || stale || (a.rev != 0 && kv.ModRev != a.rev) {
					return false
				}
			}
			return true
		})
	}
	p.stillUp(t, 0)
}

// TestTwoNodeWinnerStaysWhenLoserReturns (issue 15): in a split n1 fences
// n2 at once while n2's coordinator has begun a fence of n1 and waits its
// fence_delay. n2 is killed before its first call, restarts after the heal
// and joins n1 with that begun op in its fence state: the op's only worker
// (n2 at its old boot id) is fenced and restarted, so it condemns nobody.
// n1, the winner, stays up, and n2 does not fence it.
func TestTwoNodeWinnerStaysWhenLoserReturns(t *testing.T) {
	p := startTwoNodePair(t, 106)
	p.split(t)
	eventually(t, 20*time.Second, "n1 confirmed n2 fenced and n2 began a fence of n1", func() bool {
		fenced := false
		_ = p.nodes[0].n.do(func() { _, fenced = p.nodes[0].n.st.Confirmed("n2") })
		st, err := p.nodes[1].n.FenceStatus()
		if err != nil || !fenced {
			return false
		}
		for _, ts := range st.Targets {
			if ts.Target == "n1" && ts.State == "pending" {
				return true
			}
		}
		return false
	})
	p.nodes[1].kill()
	p.nodes[0].n.Faults().ClearFaults()
	p.restart(t, 1)
	p.bothIn(t, 20*time.Second)
	p.stillUp(t, 0)
	for k, r := range p.nodes {
		st, err := r.n.FenceStatus()
		if err != nil {
			t.Fatal(err)
		}
		for _, ts := range st.Targets {
			if ts.Target == "n1" && (ts.State == "pending" || ts.State == "in progress" || ts.Confirmed) {
				t.Fatalf("n%d: the fence of n1 goes on after the loser came back: %+v", k+1, ts)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(p.dirs[0], "n1")); err == nil {
		t.Fatal("n1's device was called")
	}
}

// TestTwoNodeRestartedAloneWaits: after n1 fenced n2 and took writes
// alone, n2 restarts while the split lasts. Its incarnation has not
// adopted a history with n1, so it cannot know what n1 acknowledged: its
// lone view neither fences n1 nor takes writes (as under wait_for_all),
// and says why.
func TestTwoNodeRestartedAloneWaits(t *testing.T) {
	p := startTwoNodePair(t, 107)
	p.split(t)
	eventually(t, 20*time.Second, "n1 fenced n2 and took a write alone", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := p.nodes[0].n.CDBSet(ctx, "/app/alone", []byte(`"n1"`))
		return err == nil && p.fencedByDevice()
	})
	p.nodes[1].kill()
	p.restart(t, 1) // n1's faults still cut it off
	n2 := p.nodes[1].n
	eventually(t, 20*time.Second, "n2 alone in a view that holds its lease", func() bool {
		st, err := n2.StatusDoc()
		return err == nil && st.Quorate && len(st.Members) == 1
	})
	st, err := n2.StatusDoc()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Quorum, "alone since it started") {
		t.Errorf("n2's quorum status %q does not say why it does not act", st.Quorum)
	}
	var fv fence.View
	if err := n2.do(func() { fv, _ = n2.st.FenceView() }); err != nil {
		t.Fatal(err)
	}
	if fv.Primary || len(fv.Members) != 1 {
		t.Errorf("n2's fence core sees view %+v: a node restarted alone must not fence its peer", fv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := n2.CDBSet(ctx, "/app/restarted", []byte(`"n2"`)); err == nil || !strings.Contains(err.Error(), "alone since it started") {
		t.Fatalf("n2 restarted alone: write answered %v, want a refusal that says why", err)
	}
	p.stillUp(t, 0)
}

// TestTwoNodePeerLeftCleanly: n2 leaves cleanly, so it runs and
// acknowledges nothing more: n1, alone, acts at once without fencing it.
func TestTwoNodePeerLeftCleanly(t *testing.T) {
	p := startTwoNodePair(t, 108)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.nodes[1].n.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	p.nodes[1].stop()
	eventually(t, 20*time.Second, "n1 alone takes a write", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := p.nodes[0].n.CDBSet(ctx, "/app/after-leave", []byte(`"n1"`))
		return err == nil
	})
	if p.fencedByDevice() {
		t.Fatal("n1 fenced n2, which had left cleanly")
	}
}

// TestTwoNodeResumedPeerIsFencedAgain (issue 15, G3): n1 leaves cleanly
// and is resumed (`resume n1`: same boot id), so it is a member again and
// its clean leave no longer counts. In a later split n2 must not act
// before it fences n1 (it waits n1's fence_delay, 1h): it acknowledges
// nothing, while n1 fences n2 (after n2's fence_delay, 3 s: n2 is
// certainly alive meanwhile) and then acknowledges writes alone. With
// the stale "n1 left cleanly" record n2 counted n1 as down and both
// halves acknowledged writes.
func TestTwoNodeResumedPeerIsFencedAgain(t *testing.T) {
	p := &twoNodePair{paths: writeCluster(t, t.TempDir(), 143, 2), dirs: [2]string{t.TempDir(), t.TempDir()}}
	extra := "[quorum]\ntwo_node = true\n\n"
	for k, d := range p.dirs {
		extra += fmt.Sprintf("[[fence.devices]]\nname = \"dev%d\"\ndriver = \"dummy\"\ntargets = [\"n%d\"]\nparams = { dir = %q }\n\n", k+1, k+1, d)
	}
	p.nodes = startNodes(t, p.paths, nodeSetup{edit: func(_ int, src string) string {
		src = strings.Replace(src, "id = 1\n", "id = 1\nfence_delay = \"1h\"\n", 1)
		src = strings.Replace(src, "id = 2\n", "id = 2\nfence_delay = \"3s\"\n", 1)
		return strings.Replace(src, "[debug]", extra+"[debug]", 1)
	}})
	p.bothIn(t, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.nodes[0].n.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "n2 knows n1 left cleanly", func() bool {
		var clean bool
		_ = p.nodes[1].n.do(func() { clean = p.nodes[1].n.st.LeftCleanly("n1") })
		return clean
	})
	if err := p.nodes[0].n.SetState(membership.StateOnline); err != nil { // resume n1
		t.Fatal(err)
	}
	p.bothIn(t, 20*time.Second)
	eventually(t, 20*time.Second, "both paired, n1's clean leave forgotten on both", func() bool {
		ok := true
		for _, r := range p.nodes {
			_ = r.n.do(func() {
				ok = ok && r.n.st.Paired() && !r.n.st.LeftCleanly("n1") && r.n.st.FenceSettled()
			})
		}
		return ok
	})
	if _, err := p.nodes[0].n.CDBSet(ctx, "/app/before", []byte(`"x"`)); err != nil {
		t.Fatal(err)
	}
	p.split(t)
	try := func(k int, key string) bool {
		c, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := p.nodes[k].n.CDBSet(c, key, []byte(`"acked"`))
		return err == nil
	}
	i := 0
	eventually(t, 30*time.Second, "n1 fenced n2 and acknowledged a write", func() bool {
		i++
		if try(1, fmt.Sprintf("/app/split-n2/%d", i)) {
			t.Fatalf("n2 acknowledged a write after the split without fencing n1 (n1 fenced n2 by device: %v)", p.fencedByDevice())
		}
		return p.fencedByDevice() && try(0, fmt.Sprintf("/app/split-n1/%d", i))
	})
	for j := range 3 { // n2 still waits for its fence of n1
		if try(1, fmt.Sprintf("/app/split-n2/late-%d", j)) {
			t.Fatal("n2 acknowledged a write after the split without fencing n1")
		}
	}
	p.stillUp(t, 0)
}

// fenceViewID is the view n's fence core was last given.
func fenceViewID(n *Node) wire.ViewID {
	v, _ := n.st.FenceView()
	return v.ID
}
