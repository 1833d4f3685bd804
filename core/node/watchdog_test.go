package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/transport"
	"github.com/corral-ha/corral/core/watchdog"
	"github.com/corral-ha/corral/core/wire"
)

// watchdogWatch is one node's test supervisor: it records the feeds and
// the firing instead of killing a process.
type watchdogWatch struct {
	mu    sync.Mutex
	feeds []time.Time
	fired time.Time
	res   chan error
}

func (w *watchdogWatch) last() (time.Time, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.feeds) == 0 {
		return time.Time{}, 0
	}
	return w.feeds[len(w.feeds)-1], len(w.feeds)
}

func (w *watchdogWatch) firedAt() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// TestWatchdogFedWhileLeaseHolds: three nodes in watchdog-only mode, each
// with a Supervisor (core/watchdog) playing its watchdog on a temp socket.
// While quorate every node feeds its own and none fires; n2 cut off from
// both peers stops feeding within the lease and a tick, and its supervisor
// fires W after the last feed; the others go on being fed; a clean leave
// of n3 disarms its supervisor (Run returns nil, no kill).
func TestWatchdogFedWhileLeaseHolds(t *testing.T) {
	const w = 2 * time.Second
	dir := t.TempDir()
	paths := writeCluster(t, dir, 101, 3)
	var watches []*watchdogWatch
	var sups []*watchdog.Supervisor
	var socks []*net.UnixConn
	for k := range paths {
		sock := filepath.Join(dir, fmt.Sprintf("wd%d.sock", k+1))
		wt := &watchdogWatch{res: make(chan error, 1)}
		s := &watchdog.Supervisor{Socket: sock, Timeout: w,
			Kill: func() { wt.mu.Lock(); wt.fired = time.Now(); wt.mu.Unlock() },
			Fed:  func() { wt.mu.Lock(); wt.feeds = append(wt.feeds, time.Now()); wt.mu.Unlock() }}
		c, err := s.Listen()
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, c)
		sups = append(sups, s)
		watches = append(watches, wt)
	}
	nodes := startNodes(t, paths, nodeSetup{edit: func(k int, src string) string {
		return strings.Replace(src, "[debug]", fmt.Sprintf("[fence]\nwatchdog = %q\nwatchdog_timeout = %q\n\n[debug]", sups[k].Socket, w.String()), 1)
	}})
	for _, r := range nodes {
		if !r.n.st.FenceConfigured() {
			t.Fatal("watchdog mode is on but the node does not count it as fencing")
		}
	}
	// Arm the supervisors only now (the feeds sent before wait in their
	// sockets), so a slow formation on a loaded machine is no failure.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for k, s := range sups {
		go func() { watches[k].res <- s.Run(ctx, socks[k]) }()
	}
	armed := time.Now()
	for k, wt := range watches {
		eventually(t, 5*time.Second, fmt.Sprintf("n%d feeds its watchdog", k+1), func() bool {
			last, _ := wt.last()
			return last.After(armed)
		})
	}
	// Fed while quorate: nobody fires for longer than W.
	time.Sleep(w + w/2) // a stretch that must pass without a firing, not a wait for a condition
	for k, wt := range watches {
		if !wt.firedAt().IsZero() {
			t.Fatalf("n%d's watchdog fired while the node held its lease", k+1)
		}
		if last, _ := wt.last(); time.Since(last) > w/2 {
			t.Fatalf("n%d last fed its watchdog %v ago while quorate", k+1, time.Since(last))
		}
	}

	cut := time.Now()
	for _, peer := range []wire.NodeID{1, 3} {
		if _, err := nodes[1].n.Faults().AddFault(transport.Fault{Peer: nodes[1].n.PeerAddrs(peer), Link: -1, Dir: transport.Both, Drop: 1}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-watches[1].res:
		if !errors.Is(err, watchdog.ErrFired) {
			t.Fatalf("n2's supervisor ended with %v, want it fired", err)
		}
	case <-time.After(4 * w):
		t.Fatal("n2's watchdog did not fire after it was cut off")
	}
	last, _ := watches[1].last()
	lease := nodes[1].n.cfg.Timers.Lease.D()
	tick := nodes[1].n.opt.TickEvery
	// lease + a tick, plus scheduling slack on a shared machine
	if stop := last.Sub(cut); stop > lease+tick+time.Second {
		t.Errorf("n2 fed its watchdog %v after the cut, want within the lease %v and a tick %v", stop, lease, tick)
	}
	if fired := watches[1].firedAt().Sub(last); fired < w || fired > w+time.Second {
		t.Errorf("n2's watchdog fired %v after its last feed, want W = %v", fired, w)
	}
	for _, k := range []int{0, 2} {
		if !watches[k].firedAt().IsZero() {
			t.Fatalf("n%d's watchdog fired though it kept its lease", k+1)
		}
		if last, _ := watches[k].last(); time.Since(last) > w/2 {
			t.Fatalf("n%d stopped feeding though it kept its lease (last feed %v ago)", k+1, time.Since(last))
		}
	}

	// A clean leave disarms: n3's supervisor stops without a kill.
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	if err := nodes[2].n.Leave(lctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-watches[2].res:
		if err != nil {
			t.Fatalf("n3's supervisor after a clean leave: %v, want disarmed", err)
		}
	case <-time.After(2 * w):
		t.Fatal("a clean leave did not disarm n3's supervisor")
	}
	if !watches[2].firedAt().IsZero() {
		t.Fatal("n3's watchdog fired after a clean leave")
	}
}
