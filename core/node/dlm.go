package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/stack"
)

// This file is the lock manager's Go API for in-process users (the admin
// API's lock sessions, `corral lock`, the Lua module build on it): a
// Session is one owner's client. Its requests run on the event loop (the
// stack's LockDLM, UnlockDLM, PurgeOwner, AskLocks); the loop routes each
// completion and blocking notice of Ready to the session that took the
// lock: to the call waiting for it (Lock, Unlock) or to Notices.

// ErrSessionClosed is returned by a closed session's requests (and by a
// request in flight when its session closes).
var ErrSessionClosed = errors.New("node: lock session closed")

// Notice is what a session's Notices carries: exactly one of Completion
// (of a LockAsync, of a conversion or unlock nobody waits for, a Lost
// lock, a cancelled request) and Blocking (a blocking notice: a request
// for Blocking.Mode waits behind this granted lock) is set.
type Notice struct {
	Completion *dlm.Completion
	Blocking   *dlm.Blocking
}

// cancelRetry is how often Lock asks again to cancel a request whose
// cancel was refused as busy (a reply from its master on the way).
const cancelRetry = 20 * time.Millisecond

// Session is one lock owner's client (an admin API session, a `corral
// lock`, a Lua script). It is safe for concurrent use. Close it: its
// locks are released then (persistent ones become orphans once the last
// session of its owner closed).
type Session struct {
	n     *Node
	owner dlm.Owner

	out  chan Notice
	mu   sync.Mutex
	q    []Notice      // notices not yet taken from out
	kick chan struct{} // q grew
	stop chan struct{} // closed by Close

	closeOnce sync.Once
	closed    bool // on the loop
}

// dlmOp is an operation waiting for its completion: an unlock (not a
// cancel) or a lock or conversion; ch nil sends it to Notices.
type dlmOp struct {
	unlock bool
	ch     chan dlm.Completion
}

// dlmLock is a lock a session took (on the loop).
type dlmLock struct {
	s     *Session
	flags dlm.Flags
	mode  dlm.Mode // granted mode (IV before the grant)
	ops   []dlmOp  // in order
}

// dlmDriver is the node's side of the lock manager (on the loop).
type dlmDriver struct {
	locks     map[dlm.LockID]*dlmLock
	owners    map[uint64]int // open sessions per owner id
	nextOwner uint64
	asks      map[uint64]chan dlm.Answer
	nextTag   uint64
	stats     dlmCounters
}

// dlmCounters are what /metrics shows of the lock manager (DLMStats).
type dlmCounters struct {
	held, sessions                         atomic.Int64
	requests, grants, recoveries, lost, bl atomic.Uint64
}

// DLMStats are the lock manager's counters on this node.
type DLMStats struct {
	LocksHeld  int64  // locks granted to this node's sessions now
	Sessions   int64  // open sessions
	Requests   uint64 // lock and conversion requests accepted
	Grants     uint64 // requests granted
	Recoveries uint64 // recoveries finished (dlm_recovered)
	Lost       uint64 // locks lost (this node lost its lease without a fence device)
	Blocking   uint64 // blocking notices
}

// DLMStats returns the lock manager's counters (any goroutine).
func (n *Node) DLMStats() DLMStats {
	c := &n.dlmd.stats
	return DLMStats{LocksHeld: c.held.Load(), Sessions: c.sessions.Load(), Requests: c.requests.Load(), Grants: c.grants.Load(),
		Recoveries: c.recoveries.Load(), Lost: c.lost.Load(), Blocking: c.bl.Load()}
}

func (d *dlmDriver) init() {
	if d.locks == nil {
		d.locks = map[dlm.LockID]*dlmLock{}
		d.owners = map[uint64]int{}
		d.asks = map[uint64]chan dlm.Answer{}
	}
}

// NewSession opens a lock session. owner 0 takes a fresh owner id (unique
// on this node across its restarts: the boot id is its high half); any
// other joins that owner (a `corral lock` nested in another's command
// passes the outer one's): the deadlock search sees both as one.
func (n *Node) NewSession(owner uint64) (*Session, error) {
	s := &Session{n: n, out: make(chan Notice), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	err := n.do(func() {
		d := &n.dlmd
		d.init()
		if owner == 0 {
			d.nextOwner++
			owner = uint64(n.boot)<<32 | d.nextOwner
		}
		d.owners[owner]++
		d.stats.sessions.Add(1)
		s.owner = dlm.Owner{Node: n.self, ID: owner}
	})
	if err != nil {
		return nil, err
	}
	go s.pump()
	return s, nil
}

// Owner is the session's owner (its ID is what a nested `corral lock`
// joins).
func (s *Session) Owner() dlm.Owner { return s.owner }

// Notices carries the session's blocking notices and the completions no
// call waits for (LockAsync's, Lost ones, a cancelled request's). It is
// closed when the session or the node closes. Read it: notices wait in
// memory until read.
func (s *Session) Notices() <-chan Notice { return s.out }

// pump hands the queued notices to out, in order.
func (s *Session) pump() {
	defer close(s.out)
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.mu.Unlock()
			select {
			case <-s.kick:
				continue
			case <-s.stop:
				return
			case <-s.n.loopDone:
				return
			}
		}
		nt := s.q[0]
		s.mu.Unlock()
		select {
		case s.out <- nt:
			s.mu.Lock()
			s.q = s.q[1:]
			s.mu.Unlock()
		case <-s.stop:
			return
		case <-s.n.loopDone:
			return
		}
	}
}

// notify queues a notice (on the loop; never blocks).
func (s *Session) notify(nt Notice) {
	s.mu.Lock()
	s.q = append(s.q, nt)
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// request runs a lock request on the loop and tracks it for op.
func (s *Session) request(r dlm.Request, op dlmOp) (dlm.LockID, error) {
	var id dlm.LockID
	var err error
	r.Owner = s.owner
	if e := s.n.do(func() {
		if s.closed {
			err = ErrSessionClosed
			return
		}
		if l := s.n.dlmd.locks[r.ID]; r.Flags&dlm.Convert != 0 && (l == nil || l.s != s) {
			err = fmt.Errorf("convert lock %d of this session: %w", r.ID, dlm.ErrNotFound)
			return
		}
		if id, err = s.n.st.LockDLM(s.n.now(), r); err != nil {
			return
		}
		s.n.dlmd.stats.requests.Add(1)
		d := &s.n.dlmd
		l := d.locks[id]
		if l == nil {
			l = &dlmLock{s: s, flags: r.Flags, mode: dlm.IV}
			d.locks[id] = l
		}
		l.ops = append(l.ops, op)
	}); e != nil {
		return 0, e
	}
	return id, err
}

// Lock asks for a lock (or, with dlm.Convert, a conversion of r.ID) and
// waits for its completion (its Status says whether it was granted: OK,
// or EAGAIN with NoQueue, EDEADLK as a deadlock victim, Lost). r.Owner
// is the session's. When ctx ends first, it cancels the request and waits
// for its completion: ECANCEL, or a grant that raced the cancel (a new
// lock granted so is unlocked again); it returns that completion with
// ctx.Err().
func (s *Session) Lock(ctx context.Context, r dlm.Request) (dlm.LockID, dlm.Completion, error) {
	ch := make(chan dlm.Completion, 1)
	id, err := s.request(r, dlmOp{ch: ch})
	if err != nil {
		return 0, dlm.Completion{}, err
	}
	select {
	case c := <-ch:
		return id, c, nil
	case <-ctx.Done():
	case <-s.stop:
		return id, dlm.Completion{}, ErrSessionClosed
	case <-s.n.loopDone:
		return id, dlm.Completion{}, ErrClosed
	}
	retry := time.NewTicker(cancelRetry)
	defer retry.Stop()
	for {
		if err := s.cancel(id, ch); err != nil {
			return id, dlm.Completion{}, err
		}
		select {
		case c := <-ch:
			if c.Status == dlm.OK && r.Flags&dlm.Convert == 0 {
				if _, err := s.Unlock(id, 0, nil); err != nil {
					s.n.log.Warn("lock: unlocking a grant that came after its request was given up", "lock", id, "err", err)
				}
			}
			return id, c, ctx.Err()
		case <-retry.C:
		case <-s.stop:
			return id, dlm.Completion{}, ErrSessionClosed
		case <-s.n.loopDone:
			return id, dlm.Completion{}, ErrClosed
		}
	}
}

// cancel asks, on the loop, to cancel the request waiting on ch (nothing
// when its completion came meanwhile; a busy refusal is retried by the
// caller).
func (s *Session) cancel(id dlm.LockID, ch chan dlm.Completion) error {
	var err error
	if e := s.n.do(func() {
		l := s.n.dlmd.locks[id]
		if l == nil || !slices.ContainsFunc(l.ops, func(o dlmOp) bool { return o.ch == ch }) {
			return
		}
		if err = s.n.st.UnlockDLM(s.n.now(), id, dlm.Cancel, nil); errors.Is(err, dlm.ErrBusy) {
			err = nil
		}
	}); e != nil {
		return e
	}
	return err
}

// LockAsync asks for a lock or a conversion; its completion comes on
// Notices.
func (s *Session) LockAsync(r dlm.Request) (dlm.LockID, error) {
	return s.request(r, dlmOp{})
}

// Unlock releases a lock the session took (flags: ValBlk writes lvb,
// IVValBlk invalidates the value block, ForceUnlock releases even a lock
// with a request in flight) and waits for its completion (EUNLOCK).
// With dlm.Cancel it cancels the lock's request in flight and returns at
// once: the request's own completion (ECANCEL, or its grant) goes where
// that request's goes (its Lock call, or Notices); nothing pending, no
// completion.
func (s *Session) Unlock(id dlm.LockID, flags dlm.Flags, lvb []byte) (dlm.Completion, error) {
	var ch chan dlm.Completion
	if flags&dlm.Cancel == 0 {
		ch = make(chan dlm.Completion, 1)
	}
	var err error
	if e := s.n.do(func() {
		if s.closed {
			err = ErrSessionClosed
			return
		}
		l := s.n.dlmd.locks[id]
		if l == nil || l.s != s {
			err = fmt.Errorf("lock %d of this session: %w", id, dlm.ErrNotFound)
			return
		}
		if err = s.n.st.UnlockDLM(s.n.now(), id, flags, lvb); err != nil || ch == nil {
			return
		}
		l.ops = append(l.ops, dlmOp{unlock: true, ch: ch})
	}); e != nil {
		return dlm.Completion{}, e
	}
	if err != nil || ch == nil {
		return dlm.Completion{}, err
	}
	select {
	case c := <-ch:
		return c, nil
	case <-s.stop:
		return dlm.Completion{}, ErrSessionClosed
	case <-s.n.loopDone:
		return dlm.Completion{}, ErrClosed
	}
}

// Close ends the session: its locks are released (design 9). When it is
// the last open session of its owner, the owner is purged (PurgeOwner:
// its persistent locks become orphans); else the session's locks that
// are not persistent are force-unlocked, and its persistent ones stay
// with the owner. Calls waiting return ErrSessionClosed; Notices closes.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		err = s.n.do(func() {
			n := s.n
			d := &n.dlmd
			s.closed = true
			d.stats.sessions.Add(-1)
			d.owners[s.owner.ID]--
			last := d.owners[s.owner.ID] <= 0
			if last {
				delete(d.owners, s.owner.ID)
			}
			for _, id := range sortedLockIDs(d.locks) {
				l := d.locks[id]
				switch {
				case l.s != s && (!last || l.s.owner != s.owner):
				case last:
					// the purge releases them without completions
					if l.mode != dlm.IV {
						d.stats.held.Add(-1)
					}
					delete(d.locks, id)
				case l.flags&dlm.Persistent == 0:
					if e := n.st.UnlockDLM(n.now(), id, dlm.ForceUnlock, nil); e != nil {
						n.log.Warn("lock session closed: force unlock", "lock", id, "err", e)
						continue
					}
					l.ops = append(l.ops, dlmOp{unlock: true})
				}
			}
			if last {
				if e := n.st.PurgeOwner(n.now(), s.owner); e != nil {
					err = fmt.Errorf("lock session closed: purge owner %d: %w", s.owner.ID, e)
				}
			}
		})
		close(s.stop)
	})
	return err
}

func sortedLockIDs(m map[dlm.LockID]*dlmLock) []dlm.LockID {
	ids := make([]dlm.LockID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Locks asks every member for its part of the lock table of a lockspace
// ("" for all) and returns the resources (Ask/Answer); members that did
// not answer in time are left out.
func (n *Node) Locks(ctx context.Context, lockspace string) ([]dlm.ResourceInfo, error) {
	ch := make(chan dlm.Answer, 1)
	var tag uint64
	var err error
	if e := n.do(func() {
		d := &n.dlmd
		d.init()
		d.nextTag++
		tag = d.nextTag
		if err = n.st.AskLocks(n.now(), tag, lockspace); err == nil {
			d.asks[tag] = ch
		}
	}); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a.Resources, nil
	case <-ctx.Done():
		_ = n.do(func() { delete(n.dlmd.asks, tag) })
		return nil, ctx.Err()
	case <-n.loopDone:
		return nil, ErrClosed
	}
}

// dlmReady routes a Ready's completions, blocking notices and answers (on
// the loop).
func (n *Node) dlmReady(rd *stack.Ready) {
	d := &n.dlmd
	d.init()
	for _, c := range rd.DLMCompletions {
		n.dlmComplete(c)
	}
	for _, b := range rd.DLMBlocking {
		d.stats.bl.Add(1)
		if l := d.locks[b.ID]; l != nil && !l.s.closed {
			b := b
			l.s.notify(Notice{Blocking: &b})
		}
	}
	for _, a := range rd.DLMAnswers {
		if ch, ok := d.asks[a.Tag]; ok {
			delete(d.asks, a.Tag)
			ch <- a
		}
	}
}

// dlmComplete hands one completion to its operation: an EUNLOCK to the
// unlock waiting, any other to the lock or conversion waiting (else the
// first in flight); one nobody waits for goes to Notices. A completion
// that leaves no lock (Mode IV) ends the lock: what else waited on it
// gets the same completion.
func (n *Node) dlmComplete(c dlm.Completion) {
	d := &n.dlmd
	l := d.locks[c.ID]
	if l == nil {
		return // a purged owner's, or a lock of no session
	}
	switch {
	case c.Status == dlm.Lost:
		d.stats.lost.Add(1)
	case c.Status == dlm.OK && c.Mode != dlm.IV:
		d.stats.grants.Add(1)
	}
	if (l.mode == dlm.IV) != (c.Mode == dlm.IV) {
		if c.Mode == dlm.IV {
			d.stats.held.Add(-1)
		} else {
			d.stats.held.Add(1)
		}
	}
	l.mode = c.Mode
	i := slices.IndexFunc(l.ops, func(o dlmOp) bool { return o.unlock == (c.Status == dlm.EUNLOCK) })
	if i < 0 && len(l.ops) > 0 {
		i = 0
	}
	var ops []dlmOp
	if i >= 0 {
		ops = append(ops, l.ops[i])
		l.ops = slices.Delete(l.ops, i, i+1)
	}
	if c.Mode == dlm.IV {
		ops = append(ops, l.ops...)
		delete(d.locks, c.ID)
	}
	notice := len(ops) == 0 // nobody waits: to Notices
	for _, op := range ops {
		if op.ch != nil {
			op.ch <- c
		} else {
			notice = true
		}
	}
	if notice && !l.s.closed {
		l.s.notify(Notice{Completion: &c})
	}
}

// dlmEvent is the event stream's record of a finished recovery.
func (n *Node) dlmEvent(e dlm.Recovered) Event {
	n.dlmd.stats.recoveries.Add(1)
	return Event{Kind: "dlm_recovered", View: n.viewName(e.View), Members: n.nameList(e.Members)}
}
