package node

import (
	"sync"
	"time"

	"github.com/corral-ha/corral/core/watchdog"
)

// watchdogDriver feeds [fence] watchdog (core/watchdog) while this node
// holds its lease (G4, corral help design): the loop decides at each
// tick and hands the feed to a goroutine through a 1-slot channel, so a
// slow device or supervisor never blocks the loop (a feed it has not
// taken yet is enough; a second one is dropped).
//
// A clean leave disarms it (Feeder.Disarm: the magic 'V' to a device, 'V'
// to a supervisor, which then stops without a kill); any other stop
// (Close after a crash-like stop, a fatal error, a self-fence) closes it
// armed: the survivors count this node as fenced W after its last feed.
type watchdogDriver struct {
	f       watchdog.Feeder // nil: [fence] watchdog = "off"
	path    string
	kick    chan struct{}
	quit    chan struct{}
	wg      sync.WaitGroup
	started bool
	feeding bool   // the last tick fed it
	done    bool   // disarmed or closed: never fed again
	why     string // why it is not feeding (logged at each stop)
	feeds   uint64 // handed to the goroutine (tests)
}

// openWatchdog opens [fence] watchdog; a node configured for watchdog
// fencing that cannot reach its watchdog must not start (survivors would
// count it fenced while nothing can reset it).
func (n *Node) openWatchdog() error {
	path := n.cfg.Fence.Watchdog
	if path == "" || path == "off" {
		return nil
	}
	f, err := watchdog.Open(path)
	if err != nil {
		return err
	}
	n.wd = watchdogDriver{f: f, path: path, kick: make(chan struct{}, 1), quit: make(chan struct{})}
	return nil
}

// startWatchdog starts the feeding goroutine (Run).
func (n *Node) startWatchdog() {
	d := &n.wd
	if d.f == nil || d.started {
		return
	}
	d.started = true
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		failing := false
		for {
			select {
			case <-d.quit:
				return
			case <-d.kick:
				err := d.f.Feed()
				if err != nil && !failing {
					n.log.Warn("watchdog: feed failed", "watchdog", d.path, "err", err)
				}
				failing = err != nil
			}
		}
	}()
}

// watchdogTick feeds the watchdog if this node holds its lease now (on
// the loop, at each tick); it logs once each time feeding stops, and why.
func (n *Node) watchdogTick(now time.Duration) {
	d := &n.wd
	if d.f == nil || d.done {
		return
	}
	why := ""
	switch ms := n.st.Membership(); {
	case n.st.SelfFenced():
		why = "this node was fenced"
	case !ms.Primary:
		why = "this node is not in a primary view"
	case !n.st.Leased(now):
		why = "this node's lease lapsed (no quorum acknowledged a heartbeat in time)"
	}
	if why != "" {
		if d.feeding {
			n.log.Warn("watchdog: stopped feeding", "watchdog", d.path, "reason", why,
				"fires_in", n.cfg.Fence.WatchdogTimeout.D().String())
		}
		d.feeding, d.why = false, why
		return
	}
	if !d.feeding {
		n.log.Info("watchdog: feeding", "watchdog", d.path)
	}
	d.feeding, d.why = true, ""
	select {
	case d.kick <- struct{}{}:
		d.feeds++
	default:
	}
}

// closeWatchdog stops the feeding; disarm after a clean leave only.
func (n *Node) closeWatchdog(disarm bool, why string) {
	d := &n.wd
	if d.f == nil || d.done {
		return
	}
	d.done, d.feeding = true, false
	if d.started {
		close(d.quit)
		d.wg.Wait()
	}
	if disarm {
		if err := d.f.Disarm(); err != nil {
			n.log.Warn("watchdog: disarm failed: it may still fire", "watchdog", d.path, "err", err)
			return
		}
		n.log.Info("watchdog: disarmed", "watchdog", d.path, "reason", why)
		return
	}
	if err := d.f.Close(); err != nil {
		n.log.Warn("watchdog: close", "watchdog", d.path, "err", err)
	}
	n.log.Warn("watchdog: closed armed: it fires unless this node is restarted and fed in time", "watchdog", d.path,
		"reason", why, "timeout", n.cfg.Fence.WatchdogTimeout.D().String())
}
