package apitest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/lua"
)

// Locks is a small in-memory lock manager for tests of the lock
// surfaces: one node (id Self), the mode matrix, a FIFO wait queue per
// resource, conversions, NOQUEUE, value blocks, cancel, blocking notices
// to the holders a waiter conflicts with, and a closed session's locks
// released. It is not core/dlm: no grant-order subtleties, no deadlock
// search, no recovery.
type Locks struct {
	Self wire.NodeID

	mu       sync.Mutex
	nextID   dlm.LockID
	nextOwn  uint64
	res      map[string]*fakeRes
	locks    map[dlm.LockID]*fakeLock
	sessions map[*FakeSession]struct{}
}

type fakeRes struct {
	ls, name string
	queue    []*fakeLock // granted first (mode set), then waiting, in order
	lvb      []byte
}

type fakeLock struct {
	id      dlm.LockID
	s       *FakeSession
	res     *fakeRes
	mode    dlm.Mode // granted mode (IV while new and waiting)
	want    dlm.Mode // waiting for (IV: not waiting)
	flags   dlm.Flags
	highBAS dlm.Mode
}

// NewLocks returns an empty lock manager on node self.
func NewLocks(self wire.NodeID) *Locks {
	return &Locks{Self: self, res: map[string]*fakeRes{}, locks: map[dlm.LockID]*fakeLock{}, sessions: map[*FakeSession]struct{}{}}
}

// FakeSession is a Locks session (lua.LockSession).
type FakeSession struct {
	l      *Locks
	owner  dlm.Owner
	ch     chan lua.LockNotice
	closed bool
}

var _ lua.LockSession = (*FakeSession)(nil)

// compatible is the mode matrix (`corral help dlm` section 1).
func compatible(a, b dlm.Mode) bool {
	if a == dlm.IV || b == dlm.IV {
		return true
	}
	m := [6][6]bool{
		{true, true, true, true, true, true},
		{true, true, true, true, true, false},
		{true, true, true, false, false, false},
		{true, true, false, true, false, false},
		{true, true, false, false, false, false},
		{true, false, false, false, false, false},
	}
	return m[a][b]
}

// OpenLockSession opens a session (owner 0: a fresh one).
func (l *Locks) OpenLockSession(owner uint64) (lua.LockSession, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if owner == 0 {
		l.nextOwn++
		owner = l.nextOwn + 1000
	}
	s := &FakeSession{l: l, owner: dlm.Owner{Node: l.Self, ID: owner}, ch: make(chan lua.LockNotice, 4096)}
	l.sessions[s] = struct{}{}
	return s, nil
}

// Owner implements lua.LockSession.
func (s *FakeSession) Owner() dlm.Owner { return s.owner }

// Notices implements lua.LockSession.
func (s *FakeSession) Notices() <-chan lua.LockNotice { return s.ch }

func (s *FakeSession) send(n lua.LockNotice) {
	if !s.closed {
		s.ch <- n
	}
}

// LockAsync implements lua.LockSession.
func (s *FakeSession) LockAsync(r dlm.Request) (dlm.LockID, error) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.closed {
		return 0, dlm.ErrStopped
	}
	if r.Mode < dlm.NL || r.Mode > dlm.EX || len(r.Name) > dlm.MaxName {
		return 0, fmt.Errorf("%w: mode or name", dlm.ErrInvalid)
	}
	if r.Flags&dlm.Convert != 0 {
		lk := l.locks[r.ID]
		if lk == nil || lk.s != s {
			return 0, dlm.ErrNotFound
		}
		if lk.want != dlm.IV {
			return 0, dlm.ErrBusy
		}
		if lk.mode >= dlm.PW && r.Flags&dlm.ValBlk != 0 && r.Mode < lk.mode {
			lk.res.lvb = append([]byte(nil), r.LVB...)
		}
		lk.want, lk.flags = r.Mode, r.Flags
		if !l.grantable(lk) {
			if r.Flags&dlm.NoQueue != 0 {
				lk.want = dlm.IV
				s.send(lua.LockNotice{Completion: &dlm.Completion{ID: lk.id, Owner: s.owner, Status: dlm.EAGAIN, Mode: lk.mode}})
				return lk.id, nil
			}
			l.bast(lk)
			return lk.id, nil
		}
		l.grant(lk)
		return lk.id, nil
	}
	key := r.Lockspace + "\x00" + r.Name
	rs := l.res[key]
	if rs == nil {
		rs = &fakeRes{ls: r.Lockspace, name: r.Name}
		l.res[key] = rs
	}
	l.nextID++
	lk := &fakeLock{id: l.nextID, s: s, res: rs, mode: dlm.IV, want: r.Mode, flags: r.Flags}
	waiting := slices.ContainsFunc(rs.queue, func(o *fakeLock) bool { return o.want != dlm.IV })
	if waiting || !l.grantable(lk) {
		if r.Flags&dlm.NoQueue != 0 {
			if r.Flags&dlm.NoQueueBast != 0 {
				l.bast(lk)
			}
			s.send(lua.LockNotice{Completion: &dlm.Completion{ID: lk.id, Owner: s.owner, Status: dlm.EAGAIN, Mode: dlm.IV}})
			l.gc(rs)
			return lk.id, nil
		}
		l.locks[lk.id] = lk
		rs.queue = append(rs.queue, lk)
		l.bast(lk)
		return lk.id, nil
	}
	l.locks[lk.id] = lk
	rs.queue = append(rs.queue, lk)
	l.grant(lk)
	return lk.id, nil
}

// grantable: lk's wanted mode is compatible with every other lock's
// granted mode.
func (l *Locks) grantable(lk *fakeLock) bool {
	for _, o := range lk.res.queue {
		if o != lk && !compatible(o.mode, lk.want) {
			return false
		}
	}
	return true
}

func (l *Locks) grant(lk *fakeLock) {
	lk.mode, lk.want, lk.highBAS = lk.want, dlm.IV, dlm.IV
	c := dlm.Completion{ID: lk.id, Owner: lk.s.owner, Status: dlm.OK, Mode: lk.mode}
	if lk.flags&dlm.ValBlk != 0 && lk.mode <= dlm.PW {
		c.LVB = append(make([]byte, 0, 32), lk.res.lvb...)
	}
	lk.s.send(lua.LockNotice{Completion: &c})
}

// bast tells the holders that lk's wanted mode conflicts with.
func (l *Locks) bast(lk *fakeLock) {
	for _, o := range lk.res.queue {
		if o != lk && o.mode != dlm.IV && o.want == dlm.IV && !compatible(o.mode, lk.want) && (o.highBAS == dlm.IV || lk.want > o.highBAS) {
			o.highBAS = lk.want
			o.s.send(lua.LockNotice{Blocking: &dlm.Blocking{ID: o.id, Owner: o.s.owner, Mode: lk.want}})
		}
	}
}

// pending grants what waits, in order, while it can.
func (l *Locks) pending(rs *fakeRes) {
	for _, lk := range rs.queue {
		if lk.want == dlm.IV {
			continue
		}
		if !l.grantable(lk) {
			break
		}
		l.grant(lk)
	}
	l.gc(rs)
}

func (l *Locks) gc(rs *fakeRes) {
	if len(rs.queue) == 0 {
		delete(l.res, rs.ls+"\x00"+rs.name)
	}
}

func (l *Locks) remove(lk *fakeLock) {
	delete(l.locks, lk.id)
	lk.res.queue = slices.DeleteFunc(lk.res.queue, func(o *fakeLock) bool { return o == lk })
}

// Unlock implements lua.LockSession.
func (s *FakeSession) Unlock(id dlm.LockID, flags dlm.Flags, lvb []byte) (dlm.Completion, error) {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	lk := l.locks[id]
	if lk == nil || lk.s != s {
		return dlm.Completion{}, dlm.ErrNotFound
	}
	if flags&dlm.Cancel != 0 {
		if lk.want == dlm.IV {
			return dlm.Completion{}, nil
		}
		lk.want = dlm.IV
		c := dlm.Completion{ID: id, Owner: s.owner, Status: dlm.ECANCEL, Mode: lk.mode}
		if lk.mode == dlm.IV {
			l.remove(lk)
		}
		l.pending(lk.res)
		return c, nil
	}
	if lk.want != dlm.IV && flags&dlm.ForceUnlock == 0 {
		return dlm.Completion{}, dlm.ErrBusy
	}
	if lk.mode >= dlm.PW && flags&dlm.ValBlk != 0 {
		lk.res.lvb = append([]byte(nil), lvb...)
	}
	l.remove(lk)
	l.pending(lk.res)
	return dlm.Completion{ID: id, Owner: s.owner, Status: dlm.EUNLOCK, Mode: dlm.IV}, nil
}

// Close implements lua.LockSession: the session's locks go.
func (s *FakeSession) Close() error {
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.closed {
		return nil
	}
	l.closeLocked(s)
	return nil
}

func (l *Locks) closeLocked(s *FakeSession) {
	s.closed = true
	close(s.ch)
	delete(l.sessions, s)
	var touched []*fakeRes
	for _, id := range slices.Sorted(maps.Keys(l.locks)) {
		if lk := l.locks[id]; lk.s == s {
			l.remove(lk)
			touched = append(touched, lk.res)
		}
	}
	for _, rs := range touched {
		l.pending(rs)
	}
}

// EndSessions ends every session as a stopping node does (their notice
// channels close; their locks go).
func (l *Locks) EndSessions() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := range l.sessions {
		l.closeLocked(s)
	}
}

// LoseAll completes every granted lock of every session with status Lost
// and drops it, as a node whose lease lapsed without a fence device does.
func (l *Locks) LoseAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(l.locks)) {
		lk := l.locks[id]
		l.remove(lk)
		lk.s.send(lua.LockNotice{Completion: &dlm.Completion{ID: id, Owner: lk.s.owner, Status: dlm.Lost, Mode: dlm.IV}})
	}
	for _, rs := range l.res {
		l.gc(rs)
	}
}

// Sessions counts the open sessions.
func (l *Locks) Sessions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sessions)
}

// Table returns the lock table.
func (l *Locks) Table(lockspace string) []dlm.ResourceInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []dlm.ResourceInfo
	for _, rs := range l.res {
		if lockspace != "" && rs.ls != lockspace {
			continue
		}
		ri := dlm.ResourceInfo{Lockspace: rs.ls, Name: rs.name, Master: l.Self, Directory: l.Self, LVBValid: true, LVB: rs.lvb}
		for _, lk := range rs.queue {
			li := dlm.LockInfo{Node: l.Self, ID: lk.id, Owner: lk.s.owner, Granted: lk.mode, Wanted: lk.want, Flags: lk.flags}
			switch {
			case lk.want == dlm.IV:
				li.Wanted = lk.mode
				ri.Granted = append(ri.Granted, li)
			case lk.mode != dlm.IV:
				ri.Converting = append(ri.Converting, li)
			default:
				ri.Waiting = append(ri.Waiting, li)
			}
		}
		out = append(out, ri)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Lockspace != out[j].Lockspace {
			return out[i].Lockspace < out[j].Lockspace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// OpenLockSession implements api.LockNode with n.DLM (nil: stopped).
func (n *Node) OpenLockSession(owner uint64) (lua.LockSession, error) {
	n.mu.Lock()
	l := n.DLM
	n.mu.Unlock()
	if l == nil {
		return nil, fmt.Errorf("fake node: no lock manager: %w", dlm.ErrStopped)
	}
	return l.OpenLockSession(owner)
}

// LockTable implements api.LockNode.
func (n *Node) LockTable(_ context.Context, lockspace string) ([]dlm.ResourceInfo, []wire.NodeID, error) {
	n.mu.Lock()
	l := n.DLM
	n.mu.Unlock()
	if l == nil {
		return nil, nil, fmt.Errorf("fake node: no lock manager: %w", dlm.ErrStopped)
	}
	return l.Table(lockspace), nil, nil
}
