package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/corral-ha/corral/core/crm"
	"github.com/corral-ha/corral/core/disk"
	"github.com/corral-ha/corral/core/nbd"
	"github.com/corral-ha/corral/core/stack"
)

// This file is the served disk's driver side (issue 19; core/disk is the
// protocol, core/stack wires it, core/nbd speaks NBD):
//
//   - the built-in agent disk.Agent (diskExecutor): start takes the
//     backing store (diskstore.go: OFD lock, header epoch+1, fdatasync),
//     steps stack.DiskServe and opens the fast path; stop steps
//     DiskUnserve, closes the fast path, waits for its I/O and the DiskIO
//     in flight, syncs, unlocks and closes; monitor checks the lock and
//     the header's epoch (a probe of a disk this process does not serve:
//     not running);
//   - the NBD export of every disk on [nbd] socket and listen: on the
//     serving node straight on the backing store (the fast path, gated on
//     serving and the lease), else through the loop (SubmitDisk ... Ready
//     .DiskDone); the flush rule (disk.Dirty) per disk shared by both;
//   - Ready.DiskIO run off the loop on a bounded pool, answered with
//     DiskIODone; Ready.DiskStale: the header is read again, and a newer
//     epoch stops serving (the resource fails);
//   - disk events into the event stream, counters for /metrics, and
//     DiskStatus for the API.

// diskIOPool bounds the DiskIO (remote clients' requests) running at once
// on this node's backing stores.
const diskIOPool = 32

// remoteSlots bounds this node's loop-path requests (its NBD clients'
// requests to a disk another node serves) queued or in flight at once.
// An NBD client may have many requests out (nbdcopy: 4 connections × 64
// × 256 KiB); unbounded, all of them sat in the loop's queue and the disk
// core, and the loop fell behind with heartbeats (the lease lapsed, the
// node was fenced). Past this, a request waits in its connection's
// goroutine, off the loop. 8 (nbdcopy: 8 × 256 KiB, disk.DefaultWindow's
// pieces) measured on the 3-node demo beside a CPU hog: no lease lapse
// in 4 copies of 256 MiB, 27-45 MiB/s (16: a client's lease lapsed in
// 2 of 7).
const remoteSlots = 8

// noLease is the lease expiry while this node holds none: the fast path
// is closed.
const noLease = math.MinInt64

// diskDriver is the node's side of the served disk. The maps are under
// mu (agent calls, the export's connections and the loop use them);
// lease and set are read lock-free by the export.
type diskDriver struct {
	mu      sync.Mutex
	served  map[string]*servedDisk    // the disks this process serves (agent start to stop)
	waiters map[uint64]chan disk.Done // loop-path requests waiting for their Done
	remote  chan struct{}             // remoteSlots: loop-path requests out
	rules   map[string]*flushRule     // the flush rule of each disk (design 6)
	counts  map[string]*diskCounters  // /metrics, by disk
	agents  map[string]*sync.Mutex    // one agent call per disk at a time
	nextID  atomic.Uint64

	lease atomic.Int64            // when this node's lease lapses (the loop's clock, ns); noLease: none held
	set   atomic.Pointer[diskSet] // the disks defined, as the loop last saw them

	setRev  uint64 // the config DB revision set was read at (loop)
	setRead bool

	pool chan struct{} // DiskIO slots

	srv      *nbd.Server
	nbdStats nbd.Stats
	ln       []net.Listener
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// diskSet is the disks the export offers, by name, with their sizes.
type diskSet struct {
	size  map[string]uint64
	names []string // sorted
}

// servedDisk is a disk this process serves: its store, the epoch it
// wrote, the fast path's gate and the DiskIO in flight on it.
type servedDisk struct {
	name  string
	st    *diskStore
	epoch uint64
	gate  diskGate
	io    sync.WaitGroup         // DiskIO in flight (Add on the loop)
	lost  atomic.Pointer[string] // why it stopped serving behind the resource manager's back
	// unserved: DiskUnserve was stepped (on the loop).
	unserved bool
	closed   sync.Once // the store's close (two stops may race: stopHere's and an agent call's)
}

// fastPath is what the export's fast path works on: the store and the
// epoch a write acknowledged there is recorded at (the flush rule).
type fastPath struct {
	st    *diskStore
	epoch uint64
}

// diskGate is the fast path's gate (design 3): open while the disk is
// served here (fp set) and the loop's clock is before the lease expiry.
// Each fast-path I/O holds the read lock from the check to its end, so
// closing it (fp cleared, then the write lock taken) waits for every
// fast-path I/O in flight.
type diskGate struct {
	mu sync.RWMutex
	fp atomic.Pointer[fastPath]
}

// enter opens the gate for one I/O at now (the loop's clock) with the
// lease lapsing at until: the fast path and true (call leave after the
// I/O), or false (go through the loop).
func (g *diskGate) enter(now time.Duration, until int64) (*fastPath, bool) {
	g.mu.RLock()
	fp := g.fp.Load()
	if fp == nil || int64(now) >= until {
		g.mu.RUnlock()
		return nil, false
	}
	return fp, true
}

func (g *diskGate) leave() { g.mu.RUnlock() }

// close shuts the gate and waits for the fast-path I/O in flight.
func (g *diskGate) close() {
	g.fp.Store(nil)
	g.mu.Lock()
	g.mu.Unlock() //nolint:staticcheck // an empty critical section: waiting for the readers is the point
}

// flushRule is one disk's disk.Dirty on this node, shared by every
// connection and both paths (NBD's multi-connection promise).
type flushRule struct {
	mu sync.Mutex
	d  disk.Dirty
}

func (r *flushRule) wrote(epoch uint64) {
	r.mu.Lock()
	r.d.Wrote(epoch)
	r.mu.Unlock()
}

func (r *flushRule) mark() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d.Mark()
}

func (r *flushRule) flush(mark, epoch uint64) disk.Errno {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.d.Flush(mark, epoch)
}

// Paths of a request in the counters: the fast path (local) or through
// the loop and the disk core (remote, even when this node's own core
// serves it).
const (
	pathLocal  = 0
	pathRemote = 1
)

// diskCounters are one disk's counters on this node (atomic).
type diskCounters struct {
	req   [disk.OpZero + 1][2]atomic.Uint64 // by op and path
	read  atomic.Uint64                     // bytes read
	write atomic.Uint64                     // bytes written
	errs  atomic.Uint64                     // requests answered with an error
}

var diskOpNames = [...]string{disk.OpRead: "read", disk.OpWrite: "write", disk.OpFlush: "flush", disk.OpTrim: "trim", disk.OpZero: "zero"}

func (c *diskCounters) count(op disk.Op, path int, n int, e disk.Errno) {
	c.req[op][path].Add(1)
	if e != disk.OK {
		c.errs.Add(1)
		return
	}
	switch op {
	case disk.OpRead:
		c.read.Add(uint64(n))
	case disk.OpWrite:
		c.write.Add(uint64(n))
	}
}

func (d *diskDriver) init() {
	if d.served != nil {
		return
	}
	d.served = map[string]*servedDisk{}
	d.waiters = map[uint64]chan disk.Done{}
	d.remote = make(chan struct{}, remoteSlots)
	d.rules = map[string]*flushRule{}
	d.counts = map[string]*diskCounters{}
	d.agents = map[string]*sync.Mutex{}
	d.pool = make(chan struct{}, diskIOPool)
	d.lease.Store(noLease)
	d.set.Store(&diskSet{size: map[string]uint64{}})
}

// servedDisk returns the disk this process serves under name, or nil.
func (d *diskDriver) servedDisk(name string) *servedDisk {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.served[name]
}

// perDisk returns a disk's flush rule and counters (made on first use:
// they outlive serving and the export's connections).
func (d *diskDriver) perDisk(name string) (*flushRule, *diskCounters) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, c := d.rules[name], d.counts[name]
	if r == nil {
		r, c = &flushRule{}, &diskCounters{}
		d.rules[name], d.counts[name] = r, c
	}
	return r, c
}

func (d *diskDriver) agentLock(name string) *sync.Mutex {
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.agents[name]
	if m == nil {
		m = &sync.Mutex{}
		d.agents[name] = m
	}
	return m
}

// ---- the loop's side ----

// diskRefresh runs after every round of the loop: the fast path's lease
// expiry, and the export's disk set when the config DB changed.
func (n *Node) diskRefresh(now time.Duration) {
	d := &n.disk
	d.mu.Lock()
	serving := len(d.served) > 0
	d.mu.Unlock()
	// Only a disk this process serves takes the fast path: without one,
	// the expiry is not computed (it costs quorum decisions, every round)
	// and the path stays closed (noLease) until the round after a serve
	// begins, which takes the slow path meanwhile.
	lease := int64(noLease)
	if serving {
		if until, ok := n.st.LeaseExpiry(now); ok {
			lease = int64(until)
		}
	}
	d.lease.Store(lease)
	if rev := n.st.CDBRev(); d.setRead && rev == d.setRev {
		return
	}
	d.setRev, d.setRead = n.st.CDBRev(), true
	set := &diskSet{size: map[string]uint64{}}
	for _, s := range n.st.Disks() {
		set.size[s.Name] = s.Size
		set.names = append(set.names, s.Name)
	}
	slices.Sort(set.names)
	d.set.Store(set)
}

// diskReady carries out a Ready's disk work (on the loop): the DiskIO off
// the loop, the DiskDone to the export's requests, the stale disks.
func (n *Node) diskReady(rd *stack.Ready) {
	d := &n.disk
	for _, io := range rd.DiskIO {
		n.diskIO(io)
	}
	for _, dn := range rd.DiskDone {
		d.answer(dn)
	}
	for _, name := range rd.DiskStale {
		n.diskStale(name)
	}
}

// diskIO runs one remote client's request on the backing store, off the
// loop (at most diskIOPool at once), and steps its DiskIODone.
func (n *Node) diskIO(io disk.IO) {
	d := &n.disk
	d.mu.Lock()
	s := d.served[io.Disk]
	if s != nil {
		s.io.Add(1) // before any stop's Unserve (on this loop) returns
	}
	d.mu.Unlock()
	if s == nil {
		n.diskIODone(disk.IODone{ID: io.ID, Err: disk.EIO})
		return
	}
	go func() {
		d.pool <- struct{}{}
		done := s.st.do(io)
		<-d.pool
		s.io.Done()
		n.post(func() { n.diskIODone(done) })
	}()
}

func (n *Node) diskIODone(done disk.IODone) {
	if err := n.st.Step(n.now(), stack.DiskIODone{Done: done}); err != nil {
		n.log.Warn("disk: I/O answer refused", "id", done.ID, "err", err)
	}
}

// diskStale reads the header of a disk this node serves again (a client
// showed a newer epoch): a newer epoch than this server's stops serving.
func (n *Node) diskStale(name string) {
	s := n.disk.servedDisk(name)
	if s == nil {
		return
	}
	go func() {
		h, err := s.st.readHeader()
		if err == nil && h.Epoch <= s.epoch {
			return
		}
		why := fmt.Sprintf("a client showed a newer epoch and the header says epoch %d of %s (this server wrote %d): a newer server took the disk; this node stopped serving it", h.Epoch, h.Server, s.epoch)
		if err != nil {
			why = err.Error()
		}
		n.diskLose(s, why, true)
	}()
}

// diskLose stops serving s behind the resource manager's back (a newer
// epoch in the header, or the lock or header gone): the fast path closes
// now, the core is told (DiskUnserve), and the resource fails (report:
// as a failed monitor; else the monitor reporting it says so). The store
// stays open until the agent's stop.
func (n *Node) diskLose(s *servedDisk, why string, report bool) {
	if !s.lost.CompareAndSwap(nil, &why) {
		return
	}
	s.gate.fp.Store(nil)
	n.log.Error("disk: stopped serving", "disk", s.name, "reason", why)
	_ = n.do(func() {
		n.diskUnserve(s)
		if report {
			delete(n.crm.monitors, s.name)
			n.crmStep(stack.MonitorFailed{Resource: s.name, Status: crm.StatusFailed, Error: why}, "disk monitor")
		}
	})
}

// diskUnserve steps DiskUnserve once (on the loop).
func (n *Node) diskUnserve(s *servedDisk) {
	if s.unserved {
		return
	}
	s.unserved = true
	if err := n.st.Step(n.now(), stack.DiskUnserve{Disk: s.name}); err != nil {
		n.log.Warn("disk: unserve", "disk", s.name, "err", err)
	}
}

// answer hands a Done to the request waiting for it (dropped when it
// gave up).
func (d *diskDriver) answer(dn disk.Done) {
	d.mu.Lock()
	ch := d.waiters[dn.ID]
	delete(d.waiters, dn.ID)
	d.mu.Unlock()
	if ch != nil {
		ch <- dn // (buffered: one answer per request)
	}
}

// diskEvent is a disk event's record in the event stream.
func (n *Node) diskEvent(ev stack.Event) Event {
	e := ev.Disk
	ep := e.Epoch
	out := Event{Kind: string(e.Kind), View: n.viewName(ev.View), Disk: e.Disk, Reason: e.Reason}
	if e.Server.Node != 0 {
		out.Server = n.names[e.Server.Node]
	}
	if ep != 0 {
		out.Epoch = &ep
	}
	return out
}

// ---- the built-in agent ----

// diskExecutor runs the built-in agent disk.Agent in the node and every
// other agent on the executor it wraps (Lua never sees the disk agent).
type diskExecutor struct {
	n     *Node
	inner Executor
}

func (e diskExecutor) RunAgent(ctx context.Context, agent, action string, params map[string]string) (Outcome, error) {
	if agent != disk.Agent {
		return e.inner.RunAgent(ctx, agent, action, params)
	}
	mode := viaLoop
	if ctx.Value(onLoopKey{}) != nil {
		mode = onLoop
	}
	return e.n.diskAgent(action, params, mode)
}

// diskParams reads the disk agent's parameters.
func diskParams(params map[string]string) (size uint64, backing string, err error) {
	size, err = strconv.ParseUint(strings.TrimSpace(params[disk.ParamSize]), 10, 64)
	if err != nil || size == 0 {
		return 0, "", fmt.Errorf("disk %s: size %q: give the data size in bytes, decimal (e.g. 268435456 for 256 MiB)", params[InstanceParam], params[disk.ParamSize])
	}
	backing = params[disk.ParamBacking]
	if backing == "" || !filepath.IsAbs(backing) {
		return 0, "", fmt.Errorf("disk %s: backing %q: give the backing store's absolute path, the same on every possible server", params[InstanceParam], backing)
	}
	return size, filepath.Clean(backing), nil
}

// diskAgent carries out one action of the disk agent (off the loop).
func (n *Node) diskAgent(action string, params map[string]string, mode loopMode) (Outcome, error) {
	name := params[InstanceParam]
	d := &n.disk
	if mode != onLoop {
		// one call per disk at a time; not on the loop (stopHere): a
		// call holding the lock may be waiting for the loop
		m := d.agentLock(name)
		m.Lock()
		defer m.Unlock()
	}
	switch action {
	case crm.ActStart:
		return n.diskStart(name, params), nil
	case crm.ActStop:
		if s := d.servedDisk(name); s != nil {
			n.diskStop(s, mode)
		}
		return Outcome{Status: StatusOK}, nil
	case crm.ActMonitor:
		s := d.servedDisk(name)
		if s == nil {
			return Outcome{Status: StatusNotRunning, Message: "disk " + name + " is not served by this process"}, nil
		}
		if why := s.lost.Load(); why != nil {
			return Outcome{Status: StatusFailed, Message: *why}, nil
		}
		if err := s.st.check(); err != nil {
			n.diskLose(s, err.Error(), false)
			return Outcome{Status: StatusFailed, Message: err.Error()}, nil
		}
		return Outcome{Status: StatusOK}, nil
	}
	return Outcome{Status: StatusConfig, Message: "the disk agent has no action " + action + " (start, stop, monitor)"}, nil
}

// diskStart takes the backing store, tells the core, opens the fast path.
func (n *Node) diskStart(name string, params map[string]string) Outcome {
	d := &n.disk
	size, backing, err := diskParams(params)
	if err != nil {
		return Outcome{Status: StatusConfig, Message: err.Error()}
	}
	if s := d.servedDisk(name); s != nil {
		if s.lost.Load() == nil {
			return Outcome{Status: StatusOK, Message: fmt.Sprintf("disk %s: served here at epoch %d already", name, s.epoch)}
		}
		n.diskStop(s, viaLoop) // a lost one is closed first
	}
	st, err := openDiskStore(backing, n.cfg.Cluster, name, size, n.cfg.Node, n.boot)
	if err != nil {
		if errors.Is(err, errDiskConfig) {
			return Outcome{Status: StatusConfig, Message: err.Error()}
		}
		return Outcome{Status: StatusFailed, Message: err.Error()}
	}
	s := &servedDisk{name: name, st: st, epoch: st.hdr.Epoch}
	var stepErr error
	err = n.do(func() {
		if stepErr = n.st.Step(n.now(), stack.DiskServe{Disk: name, Epoch: s.epoch}); stepErr != nil {
			return
		}
		d.mu.Lock()
		d.served[name] = s
		d.mu.Unlock()
		s.gate.fp.Store(&fastPath{st: st, epoch: s.epoch})
	})
	if err == nil {
		err = stepErr
	}
	if err != nil {
		_ = st.close()
		return Outcome{Status: StatusFailed, Message: fmt.Sprintf("disk %s: the node cannot serve it (%v): see the node's log", name, err)}
	}
	n.log.Info("disk: serving", "disk", name, "epoch", s.epoch, "backing", backing)
	return Outcome{Status: StatusOK, Message: fmt.Sprintf("disk %s: serving at epoch %d", name, s.epoch)}
}

// How diskStop reaches the loop: through it (an agent call off the
// loop), on it (the caller runs on the loop: stopHere), or not at all
// (the node stopped).
type loopMode int

const (
	viaLoop loopMode = iota
	onLoop
	noLoop
)

// onLoopKey marks the context of an agent call made on the loop
// (stopHere): the disk agent must not wait for the loop then.
type onLoopKey struct{}

// diskStop stops serving s: DiskUnserve, the fast path closed, its I/O
// and the DiskIO in flight waited for (they need not the loop), then
// sync, unlock, close.
func (n *Node) diskStop(s *servedDisk, mode loopMode) {
	d := &n.disk
	s.gate.fp.Store(nil)
	forget := func() {
		d.mu.Lock()
		if d.served[s.name] == s {
			delete(d.served, s.name) // no DiskIO starts on it any more
		}
		d.mu.Unlock()
	}
	switch mode {
	case viaLoop:
		if err := n.do(func() { forget(); n.diskUnserve(s) }); err != nil {
			forget()
		}
	case onLoop:
		forget()
		n.diskUnserve(s)
	default:
		forget()
	}
	s.gate.close()
	s.io.Wait()
	s.closed.Do(func() {
		if err := s.st.close(); err != nil {
			// acknowledged writes were synced (FUA, flush); the unflushed
			// ones fail their next flush (the epoch changes)
			n.log.Warn("disk: stop", "disk", s.name, "err", err)
		}
		n.log.Info("disk: stopped serving", "disk", s.name, "epoch", s.epoch)
	})
}

// ---- the NBD export ----

// openNBD listens on [nbd] socket and listen and serves the export. The
// default socket (next to the admin socket) may not be there to bind (a
// node run without the agent): the node then runs without it, saying so.
func (n *Node) openNBD() error {
	d := &n.disk
	d.init()
	d.srv = &nbd.Server{Exports: diskExports{n}, Log: n.log.With("part", "nbd"), Stats: &d.nbdStats}
	if p := n.cfg.NBD.Socket; p != "" {
		l, err := listenNBDSocket(p, n.cfg.InFile("nbd.socket"))
		switch {
		case err != nil && !n.cfg.InFile("nbd.socket") && !n.cfg.InFile("admin_socket"):
			n.log.Warn("nbd: no export on the default socket: set [nbd] socket", "err", err)
		case err != nil:
			return err
		default:
			d.ln = append(d.ln, l)
		}
	}
	if a := n.cfg.NBD.Listen; a != "" {
		l, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range d.ln {
				_ = l.Close()
			}
			d.ln = nil
			return fmt.Errorf("nbd.listen %s: %w: free the port or change [nbd] listen", a, err)
		}
		d.ln = append(d.ln, l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	for _, l := range d.ln {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			if err := d.srv.Serve(ctx, l); err != nil {
				n.log.Warn("nbd: listener failed", "addr", l.Addr().String(), "err", err)
			}
		}()
		n.log.Info("nbd listening", "addr", l.Addr().String())
	}
	return nil
}

// listenNBDSocket listens on a Unix socket (mode 0660), removing a stale
// socket file; mkdir: make its folder first.
func listenNBDSocket(path string, mkdir bool) (net.Listener, error) {
	if len(path) > 104 {
		return nil, fmt.Errorf("nbd.socket %s is %d bytes long; Unix sockets allow about 104: choose a shorter path", path, len(path))
	}
	if mkdir {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("nbd.socket folder: %w", err)
		}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("nbd.socket %s exists and is not a socket: move it away or change [nbd] socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("nbd.socket %s is served by another process: stop it first (or change [nbd] socket)", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("nbd.socket %s exists and cannot be checked (%v): remove it if nothing uses it", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale nbd.socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("nbd.socket: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		_ = l.Close()
		return nil, fmt.Errorf("nbd.socket: %w", err)
	}
	return l, nil
}

// closeDisks stops the export and closes the stores this process serves
// (the node stopped: as the end of the process would, the locks go).
func (n *Node) closeDisks() {
	d := &n.disk
	if d.cancel != nil {
		d.cancel()
		d.wg.Wait()
	}
	d.mu.Lock()
	var ss []*servedDisk
	for _, s := range d.served {
		ss = append(ss, s)
	}
	d.mu.Unlock()
	for _, s := range ss {
		n.diskStop(s, noLoop)
	}
}

// NBDAddrs are the addresses the NBD export listens on.
func (n *Node) NBDAddrs() []string {
	var out []string
	for _, l := range n.disk.ln {
		out = append(out, l.Addr().String())
	}
	return out
}

// diskExports is the export's view of the disks (nbd.Exports).
type diskExports struct{ n *Node }

func (e diskExports) Lookup(name string) (nbd.Export, bool) {
	set := e.n.disk.set.Load()
	if name == "" && len(set.names) == 1 {
		name = set.names[0] // the default export: the only disk
	}
	size, ok := set.size[name]
	if !ok {
		return nbd.Export{}, false
	}
	return e.export(name, size), true
}

func (e diskExports) List() []nbd.Export {
	set := e.n.disk.set.Load()
	out := make([]nbd.Export, 0, len(set.names))
	for _, name := range set.names {
		out = append(out, e.export(name, set.size[name]))
	}
	return out
}

func (e diskExports) export(name string, size uint64) nbd.Export {
	r, c := e.n.disk.perDisk(name)
	return nbd.Export{Name: name, Description: "corral served disk " + name, Size: size,
		Backend: &diskBackend{n: e.n, name: name, rule: r, c: c}, MultiConn: true,
		MinBlock: 1, PreferredBlock: 4096, MaxBlock: nbd.DefaultMaxBlock}
}

// diskBackend is one disk's export on this node (nbd.Backend).
type diskBackend struct {
	n    *Node
	name string
	rule *flushRule
	c    *diskCounters
}

// fast enters the fast path when this process serves the disk and holds
// its lease (leave when done), else nil.
func (b *diskBackend) fast() (*servedDisk, *fastPath) {
	s := b.n.disk.servedDisk(b.name)
	if s == nil {
		return nil, nil
	}
	fp, ok := s.gate.enter(b.n.now(), b.n.disk.lease.Load())
	if !ok {
		return nil, nil
	}
	return s, fp
}

// nbdErr is a disk result as NBD's.
func nbdErr(e disk.Errno) error {
	switch e {
	case disk.OK:
		return nil
	case disk.EINVAL:
		return nbd.EINVAL
	case disk.ENOSPC:
		return nbd.ENOSPC
	case disk.ESHUTDOWN:
		return nbd.ESHUTDOWN
	}
	return nbd.EIO
}

// submitErrno is a refused SubmitDisk's result.
func submitErrno(err error) disk.Errno {
	switch {
	case errors.Is(err, disk.ErrRange):
		return disk.EINVAL
	case errors.Is(err, disk.ErrNoDisk), errors.Is(err, disk.ErrStopped), errors.Is(err, stack.ErrLeaving), errors.Is(err, stack.ErrStopped):
		return disk.ESHUTDOWN
	}
	return disk.EIO
}

// submit sends a request through the loop and the disk core and waits
// for its Done (ctx ends first: the answer is dropped when it comes).
func (b *diskBackend) submit(ctx context.Context, r disk.Request) disk.Done {
	n, d := b.n, &b.n.disk
	select {
	case d.remote <- struct{}{}:
		defer func() { <-d.remote }()
	case <-ctx.Done():
		return disk.Done{Err: disk.EIO}
	case <-n.loopDone:
		return disk.Done{Err: disk.ESHUTDOWN}
	}
	r.ID = d.nextID.Add(1)
	r.Disk = b.name
	ch := make(chan disk.Done, 1)
	d.mu.Lock()
	d.waiters[r.ID] = ch
	d.mu.Unlock()
	drop := func() {
		d.mu.Lock()
		delete(d.waiters, r.ID)
		d.mu.Unlock()
	}
	if !n.post(func() {
		if err := n.st.SubmitDisk(n.now(), r); err != nil {
			d.answer(disk.Done{ID: r.ID, Err: submitErrno(err)})
		}
	}) {
		drop()
		return disk.Done{ID: r.ID, Err: disk.ESHUTDOWN}
	}
	select {
	case dn := <-ch:
		return dn
	case <-ctx.Done():
	case <-n.loopDone:
	}
	drop()
	return disk.Done{ID: r.ID, Err: disk.EIO}
}

func (b *diskBackend) ReadAt(ctx context.Context, p []byte, off uint64) error {
	if s, fp := b.fast(); fp != nil {
		err := fp.st.readAt(p, off)
		s.gate.leave()
		e := errnoOf(err)
		b.c.count(disk.OpRead, pathLocal, len(p), e)
		return nbdErr(e)
	}
	dn := b.submit(ctx, disk.Request{Op: disk.OpRead, Off: off, Len: uint32(len(p))})
	if dn.Err == disk.OK {
		if len(dn.Data) != len(p) {
			dn.Err = disk.EIO
		} else {
			copy(p, dn.Data)
		}
	}
	b.c.count(disk.OpRead, pathRemote, len(p), dn.Err)
	return nbdErr(dn.Err)
}

// wrote applies the flush rule to a write-like request (write, trim,
// zero) acknowledged at epoch: one without FUA waits for a flush.
func (b *diskBackend) wrote(op disk.Op, path, n int, e disk.Errno, fua bool, epoch uint64) error {
	if e == disk.OK && !fua {
		b.rule.wrote(epoch)
	}
	b.c.count(op, path, n, e)
	return nbdErr(e)
}

func (b *diskBackend) WriteAt(ctx context.Context, p []byte, off uint64, fua bool) error {
	if s, fp := b.fast(); fp != nil {
		err := fp.st.writeAt(p, off, fua)
		s.gate.leave()
		return b.wrote(disk.OpWrite, pathLocal, len(p), errnoOf(err), fua, fp.epoch)
	}
	// (the core keeps the data until the request is done: a copy)
	dn := b.submit(ctx, disk.Request{Op: disk.OpWrite, Off: off, Len: uint32(len(p)), Data: slices.Clone(p), FUA: fua})
	return b.wrote(disk.OpWrite, pathRemote, len(p), dn.Err, fua, dn.Epoch)
}

func (b *diskBackend) Flush(ctx context.Context) error {
	mark := b.rule.mark()
	var e disk.Errno
	var epoch uint64
	path := pathRemote
	if s, fp := b.fast(); fp != nil {
		err := fp.st.sync()
		s.gate.leave()
		e, epoch, path = errnoOf(err), fp.epoch, pathLocal
	} else {
		dn := b.submit(ctx, disk.Request{Op: disk.OpFlush})
		e, epoch = dn.Err, dn.Epoch
	}
	if e == disk.OK {
		e = b.rule.flush(mark, epoch)
	}
	b.c.count(disk.OpFlush, path, 0, e)
	return nbdErr(e)
}

func (b *diskBackend) Trim(ctx context.Context, off uint64, length uint32, fua bool) error {
	if s, fp := b.fast(); fp != nil {
		err := fp.st.trim(off, length, fua)
		s.gate.leave()
		return b.wrote(disk.OpTrim, pathLocal, 0, errnoOf(err), fua, fp.epoch)
	}
	dn := b.submit(ctx, disk.Request{Op: disk.OpTrim, Off: off, Len: length, FUA: fua})
	return b.wrote(disk.OpTrim, pathRemote, 0, dn.Err, fua, dn.Epoch)
}

func (b *diskBackend) Zero(ctx context.Context, off uint64, length uint32, fua, noHole bool) error {
	if s, fp := b.fast(); fp != nil {
		err := fp.st.zero(off, length, fua, noHole)
		s.gate.leave()
		return b.wrote(disk.OpZero, pathLocal, 0, errnoOf(err), fua, fp.epoch)
	}
	dn := b.submit(ctx, disk.Request{Op: disk.OpZero, Off: off, Len: length, FUA: fua, NoHole: noHole})
	return b.wrote(disk.OpZero, pathRemote, 0, dn.Err, fua, dn.Epoch)
}

// ---- status and metrics ----

// DiskInfo is one disk as this node sees it (DiskStatus; the API's disks
// document is built from it).
type DiskInfo struct {
	Name    string
	Size    uint64 // data bytes
	Backing string // the backing store's path (the resource's parameter)
	// Server is the serving node's name ("" while none serves, as far as
	// this node knows), Epoch its epoch, State "serving", "recovering" or
	// "stopped" (disk.Status).
	Server  string
	Epoch   uint64
	State   string
	Serving bool     // this node serves it
	Clients []string // the server's clients in this epoch
	Pending int      // this node's requests not yet answered
	// This node's export: requests answered OK as a client of the core
	// (Reads, Writes, Flushes), requests served for remote clients
	// (ServedReads, ServedWrites), and every request by path: Local (the
	// fast path) and Remote (through the core), bytes and errors.
	Reads, Writes, Flushes    uint64
	ServedReads, ServedWrites uint64
	Local, Remote             uint64
	BytesRead, BytesWritten   uint64
	Errors                    uint64
}

// DiskStatus returns every disk, sorted by name.
func (n *Node) DiskStatus() ([]DiskInfo, error) {
	var out []DiskInfo
	err := n.do(func() {
		for _, s := range n.st.Disks() {
			di := DiskInfo{Name: s.Name, Size: s.Size, Epoch: s.Epoch, State: s.State, Serving: s.Serving, Pending: s.Pending,
				Reads: s.Reads, Writes: s.Writes, Flushes: s.Flushes, ServedReads: s.ServedReads, ServedWrites: s.ServedWrites,
				Clients: []string{}}
			if s.Server != nil {
				di.Server = n.names[s.Server.Node]
			}
			for _, c := range s.Clients {
				di.Clients = append(di.Clients, n.names[c])
			}
			if kv, ok, _ := n.st.CDBGet(crm.ResourcePrefix + s.Name); ok {
				if r, err := crm.ParseResource(s.Name, kv.Value); err == nil {
					di.Backing = r.Params[disk.ParamBacking]
				}
			}
			out = append(out, di)
		}
	})
	for i := range out {
		_, c := n.disk.perDisk(out[i].Name)
		for op := range c.req {
			out[i].Local += c.req[op][pathLocal].Load()
			out[i].Remote += c.req[op][pathRemote].Load()
		}
		out[i].BytesRead, out[i].BytesWritten, out[i].Errors = c.read.Load(), c.write.Load(), c.errs.Load()
	}
	return out, err
}

// diskMetrics fills m's disk counters and gauges (Metrics; st from the
// loop).
func (n *Node) diskMetrics(m *Metrics, st []disk.Status) {
	for _, s := range st {
		m.DiskEpoch = append(m.DiskEpoch, Count{Labels: []string{s.Name}, Value: s.Epoch})
		var v uint64
		if s.Serving {
			v = 1
		}
		m.DiskServing = append(m.DiskServing, Count{Labels: []string{s.Name}, Value: v})
		_, c := n.disk.perDisk(s.Name)
		for op := disk.OpRead; op <= disk.OpZero; op++ {
			for path, pn := range []string{"local", "remote"} {
				m.DiskRequests = append(m.DiskRequests, Count{Labels: []string{s.Name, diskOpNames[op], pn}, Value: c.req[op][path].Load()})
			}
		}
		m.DiskBytes = append(m.DiskBytes, Count{Labels: []string{s.Name, "read"}, Value: c.read.Load()},
			Count{Labels: []string{s.Name, "write"}, Value: c.write.Load()})
		m.DiskErrors = append(m.DiskErrors, Count{Labels: []string{s.Name}, Value: c.errs.Load()})
	}
}
