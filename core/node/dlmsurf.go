package node

import (
	"context"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/lua"
)

// This file gives the lock manager's Go API (dlm.go) the shape its
// surfaces use: the admin API's lock sessions and lock table
// (api.LockNode) and the Lua module lock (lua.Locker).

// OpenLockSession opens a lock session as a lua.LockSession (owner 0: a
// fresh owner; else that owner of this node is joined).
func (n *Node) OpenLockSession(owner uint64) (lua.LockSession, error) {
	s, err := n.NewSession(owner)
	if err != nil {
		return nil, err
	}
	ls := &lockSession{s: s, out: make(chan lua.LockNotice)}
	go ls.pump()
	return ls, nil
}

var _ lua.Locker = (*Node)(nil)

// LockTable gathers the cluster-wide lock table (Locks); members that did
// not answer in time are left out.
func (n *Node) LockTable(ctx context.Context, lockspace string) ([]dlm.ResourceInfo, []wire.NodeID, error) {
	rs, err := n.Locks(ctx, lockspace)
	return rs, nil, err
}

// lockSession is a Session as a lua.LockSession.
type lockSession struct {
	s   *Session
	out chan lua.LockNotice
}

func (l *lockSession) pump() {
	defer close(l.out)
	for nt := range l.s.Notices() {
		l.out <- lua.LockNotice{Completion: nt.Completion, Blocking: nt.Blocking}
	}
}

func (l *lockSession) Owner() dlm.Owner                            { return l.s.Owner() }
func (l *lockSession) Notices() <-chan lua.LockNotice              { return l.out }
func (l *lockSession) LockAsync(r dlm.Request) (dlm.LockID, error) { return l.s.LockAsync(r) }
func (l *lockSession) Unlock(id dlm.LockID, flags dlm.Flags, lvb []byte) (dlm.Completion, error) {
	return l.s.Unlock(id, flags, lvb)
}

// Close ends the session; the pump stops with it (Notices closes, and
// what the reader has not taken is dropped).
func (l *lockSession) Close() error {
	err := l.s.Close()
	go func() { // let the pump finish if nobody reads any more
		for range l.out {
		}
	}()
	return err
}

// dlmRecovered fills the fields of a dlm_recovered event beyond its
// members: the departed nodes whose locks were dropped, the resources
// rebuilt, and how long the recovery took.
func (n *Node) dlmRecovered(ev *Event, e dlm.Recovered) {
	if len(e.Purged) > 0 {
		ev.Purged = n.nameList(e.Purged)
	}
	r := e.Resources
	ev.Resources = &r
	ev.Took = e.Took.Round(time.Microsecond).String()
	if ev.Members == nil {
		ev.Members = n.nameList(e.Members)
	}
}
