package shell

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/apitypes/locknames"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/lua"
)

// apiLocker gives `lua run`'s lock module lock sessions over the admin
// socket (the session protocol), as the node gives its own scripts
// sessions of its Go API.
type apiLocker struct{ s *Shell }

var _ lua.Locker = apiLocker{}

// OpenLockSession opens a lock session on the shell's node (owner: a
// fresh one; scripts do not join owners).
func (a apiLocker) OpenLockSession(uint64) (lua.LockSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialLock(ctx, a.s.Client.Socket, "")
	if err != nil {
		return nil, err
	}
	ls := &apiLockSession{c: c, out: make(chan lua.LockNotice)}
	if i := strings.LastIndexByte(c.Owner(), ':'); i >= 0 {
		ls.owner.ID, _ = strconv.ParseUint(c.Owner()[i+1:], 10, 64)
	}
	go ls.pump()
	return ls, nil
}

// apiLockSession is a LockConn as a lua.LockSession.
type apiLockSession struct {
	c     *LockConn
	owner dlm.Owner // the node's id is not known here (the node fills it in)
	out   chan lua.LockNotice
}

func (l *apiLockSession) Owner() dlm.Owner               { return l.owner }
func (l *apiLockSession) Notices() <-chan lua.LockNotice { return l.out }
func (l *apiLockSession) Close() error                   { return l.c.Close() }

// pump turns the session's lines into notices until it ends.
func (l *apiLockSession) pump() {
	defer close(l.out)
	for {
		m, err := l.c.Next(context.Background())
		if err != nil {
			return
		}
		var n lua.LockNotice
		switch m.Type {
		case apitypes.LockMsgCompletion:
			c := msgCompletion(m)
			n.Completion = &c
		case apitypes.LockMsgBlocking:
			mode, _ := locknames.ParseMode(m.Mode)
			n.Blocking = &dlm.Blocking{ID: dlm.LockID(m.Lock), Mode: mode}
		case apitypes.LockMsgLost:
			if m.Lock == 0 {
				return // the node ended the session: every lock is lost
			}
			n.Completion = &dlm.Completion{ID: dlm.LockID(m.Lock), Status: dlm.Lost, Mode: dlm.IV}
		default:
			continue
		}
		select {
		case l.out <- n:
		case <-l.c.Done():
			return
		}
	}
}

func msgCompletion(m apitypes.LockMsg) dlm.Completion {
	st, _ := locknames.ParseStatus(m.Status)
	mode := dlm.IV
	if m.Mode != "IV" {
		mode, _ = locknames.ParseMode(m.Mode)
	}
	return dlm.Completion{ID: dlm.LockID(m.Lock), Status: st, Mode: mode, SB: locknames.ParseSB(m.SB), LVB: m.LVB}
}

func (l *apiLockSession) LockAsync(r dlm.Request) (dlm.LockID, error) {
	op := apitypes.LockOp{Op: apitypes.LockOpLock, Lockspace: r.Lockspace, Name: r.Name, Mode: locknames.Mode(r.Mode),
		Flags: locknames.Flags(r.Flags &^ dlm.Convert), LVB: r.LVB}
	if r.Flags&dlm.Convert != 0 {
		op = apitypes.LockOp{Op: apitypes.LockOpConvert, Lock: uint64(r.ID), Mode: op.Mode, Flags: op.Flags, LVB: r.LVB}
	}
	m, err := l.c.Request(context.Background(), op)
	if err != nil {
		return 0, errors.Join(dlm.ErrStopped, err)
	}
	if m.Type == apitypes.LockMsgError {
		return 0, locknames.Err(m.Status, m.Error)
	}
	return dlm.LockID(m.Lock), nil
}

func (l *apiLockSession) Unlock(id dlm.LockID, flags dlm.Flags, lvb []byte) (dlm.Completion, error) {
	op := apitypes.LockOp{Op: apitypes.LockOpUnlock, Lock: uint64(id), Flags: locknames.Flags(flags &^ dlm.Cancel), LVB: lvb}
	if flags&dlm.Cancel != 0 {
		op = apitypes.LockOp{Op: apitypes.LockOpCancel, Lock: uint64(id)}
	}
	m, err := l.c.Request(context.Background(), op)
	if err != nil {
		return dlm.Completion{}, errors.Join(dlm.ErrStopped, err)
	}
	switch m.Type {
	case apitypes.LockMsgError:
		return dlm.Completion{}, locknames.Err(m.Status, m.Error)
	case apitypes.LockMsgCompletion:
		return msgCompletion(m), nil
	}
	return dlm.Completion{}, nil // a cancel: the request's own completion comes on Notices
}
