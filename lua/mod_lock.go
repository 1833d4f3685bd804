package lua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"

	"github.com/corral-ha/corral/core/apitypes/locknames"
	"github.com/corral-ha/corral/core/dlm"
)

// Locker opens lock sessions on the cluster's lock manager: the node's
// own (core/node), or the admin socket's session protocol (the shell's
// lua run). Config.Locks is one.
type Locker interface {
	// OpenLockSession opens a session: a fresh owner when owner is 0,
	// else that owner of this node is joined.
	OpenLockSession(owner uint64) (LockSession, error)
}

// LockSession is one lock owner's session. Closing it unlocks every lock
// it took (a closed session is a lost lock).
type LockSession interface {
	// Owner is the session's owner.
	Owner() dlm.Owner
	// LockAsync asks for a lock or a conversion (dlm.Convert): its one
	// completion comes on Notices. An error means it was not accepted.
	LockAsync(r dlm.Request) (dlm.LockID, error)
	// Unlock unlocks, or cancels (dlm.Cancel) what is pending on a lock.
	// The completion it returns (zero ID: none, as for a cancel with
	// nothing pending) does not come again on Notices.
	Unlock(id dlm.LockID, flags dlm.Flags, lvb []byte) (dlm.Completion, error)
	// Notices are the completions of LockAsync's requests and the
	// blocking notices of the session's locks; it is closed when the
	// session ends (Close, or the node stopped: its locks are lost). The
	// channel never blocks the lock manager: a session keeps what its
	// reader has not taken.
	Notices() <-chan LockNotice
	// Close ends the session and unlocks its locks.
	Close() error
}

// LockNotice is a completion or a blocking notice (one of the two is set).
type LockNotice struct {
	Completion *dlm.Completion
	Blocking   *dlm.Blocking
}

// lockTypeName is the lock module's userdata type.
const lockTypeName = "lock.Lock"

// luaLocks is the lock module's state during one call: the session (opened
// on the first acquire, closed when the call ends, which unlocks what the
// call still holds) and its locks.
type luaLocks struct {
	sess  LockSession
	locks map[dlm.LockID]*luaLock
}

// luaLock is one lock a script holds (userdata lock.Lock).
type luaLock struct {
	s         *luaLocks
	id        dlm.LockID
	lockspace string
	name      string
	mode      dlm.Mode
	lvb       []byte // the value block as last read (or written)
	valid     bool   // lvb is valid (no VALNOTVALID)
	setLVB    []byte // set_lvb: written by the next valblk convert or release
	done      *dlm.Completion
	blocking  []dlm.Mode
	lost      bool
	released  bool
}

// lockLoader builds the lock module (granted scripts only: a lock blocks
// other nodes' agents).
func (v *vm) lockLoader() glua.LGFunction {
	return func(L *glua.LState) int {
		mt := L.NewTypeMetatable(lockTypeName)
		methods := L.SetFuncs(L.NewTable(), map[string]glua.LGFunction{
			"convert":       v.lockConvert,
			"release":       v.lockRelease,
			"lvb":           lockLVB,
			"set_lvb":       lockSetLVB,
			"mode":          lockMode,
			"id":            lockID,
			"wait_blocking": v.lockWaitBlocking,
		})
		L.SetField(mt, "__index", methods)
		L.SetField(mt, "__tostring", L.NewFunction(func(L *glua.LState) int {
			lk := CheckLock(L, 1)
			L.Push(glua.LString(fmt.Sprintf("lock %d %s/%s %s", lk.id, lk.lockspace, lk.name, locknames.Mode(lk.mode))))
			return 1
		}))
		L.SetField(mt, "__metatable", glua.LString("locked"))
		t := L.NewTable()
		L.SetFuncs(t, map[string]glua.LGFunction{"acquire": v.lockAcquire})
		for _, m := range []dlm.Mode{dlm.NL, dlm.CR, dlm.CW, dlm.PR, dlm.PW, dlm.EX} {
			t.RawSetString(locknames.Mode(m), glua.LString(locknames.Mode(m)))
		}
		L.Push(t)
		return 1
	}
}

// CheckLock returns argument n as a lock, or raises an argument error.
func CheckLock(L *glua.LState, n int) *luaLock {
	ud := L.CheckUserData(n)
	if lk, ok := ud.Value.(*luaLock); ok {
		return lk
	}
	L.ArgError(n, "lock expected (from lock.acquire)")
	return nil
}

// LVLock wraps a lock as Lua userdata.
func LVLock(L *glua.LState, lk *luaLock) *glua.LUserData {
	ud := L.NewUserData()
	ud.Value = lk
	L.SetMetatable(ud, L.GetTypeMetatable(lockTypeName))
	return ud
}

// session opens the call's lock session on first use.
func (v *vm) lockSession(L *glua.LState) *luaLocks {
	if v.locks != nil {
		return v.locks
	}
	lk := v.h.cfg.Locks
	if lk == nil {
		L.RaiseError("no lock manager connected: the lock module needs a node (or the shell's lua run)")
	}
	sess, err := lk.OpenLockSession(0)
	if err != nil {
		L.RaiseError("lock: %v", err)
	}
	v.locks = &luaLocks{sess: sess, locks: map[dlm.LockID]*luaLock{}}
	return v.locks
}

// closeLocks ends the call's lock session (unlocking what it holds).
func (v *vm) closeLocks() {
	if v.locks != nil {
		_ = v.locks.sess.Close()
		v.locks = nil
	}
}

// apply records a notice on its lock.
func (s *luaLocks) apply(n LockNotice) {
	switch {
	case n.Completion != nil:
		s.complete(*n.Completion)
	case n.Blocking != nil:
		if lk := s.locks[n.Blocking.ID]; lk != nil && !lk.released {
			lk.blocking = append(lk.blocking, n.Blocking.Mode)
		}
	}
}

func (s *luaLocks) complete(c dlm.Completion) {
	lk := s.locks[c.ID]
	if lk == nil {
		return
	}
	if c.Status == dlm.Lost {
		lk.lost = true
		lk.mode = dlm.IV
		delete(s.locks, c.ID)
	}
	cc := c
	lk.done = &cc
	if c.Status == dlm.OK || c.Status == dlm.EDEADLK || c.Status == dlm.ECANCEL || c.Status == dlm.EAGAIN {
		if c.Mode != dlm.IV || c.Status == dlm.OK {
			lk.mode = c.Mode
		}
	}
	if c.LVB != nil {
		lk.lvb = append([]byte(nil), c.LVB...)
		lk.valid = c.SB&dlm.ValNotValid == 0
	}
}

// wait takes notices until cond holds, the deadline passes (false) or the
// call ends (an error). A closed notice channel marks every lock lost.
func (s *luaLocks) wait(ctx context.Context, deadline time.Time, cond func() bool) (bool, error) {
	var tc <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		tc = t.C
	}
	for !cond() {
		select {
		case n, ok := <-s.sess.Notices():
			if !ok {
				s.loseAll()
				return cond(), nil
			}
			s.apply(n)
		case <-tc:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	return true, nil
}

// loseAll marks every lock lost (the session ended under the script).
func (s *luaLocks) loseAll() {
	for id, lk := range s.locks {
		lk.lost, lk.mode = true, dlm.IV
		delete(s.locks, id)
	}
}

// drain applies the notices already waiting.
func (s *luaLocks) drain() {
	for {
		select {
		case n, ok := <-s.sess.Notices():
			if !ok {
				s.loseAll()
				return
			}
			s.apply(n)
		default:
			return
		}
	}
}

// lockOpts reads an acquire or convert table: mode, flags, lvb, timeout.
type lockOpts struct {
	lockspace, name string
	mode            dlm.Mode
	flags           dlm.Flags
	lvb             []byte
	timeout         time.Duration
}

func readLockOpts(L *glua.LState, t *glua.LTable, needName bool) lockOpts {
	var o lockOpts
	if needName {
		o.name = luaString(t, "name")
		if o.name == "" {
			L.ArgError(1, "name is required: lock.acquire{name = \"R\", mode = \"EX\"}")
		}
		o.lockspace = luaString(t, "lockspace")
	}
	mode := luaString(t, "mode")
	if mode == "" {
		mode = "EX"
	}
	m, err := locknames.ParseMode(mode)
	if err != nil {
		L.ArgError(1, err.Error())
	}
	o.mode = m
	if ft, ok := t.RawGetString("flags").(*glua.LTable); ok {
		var names []string
		for i := 1; i <= ft.Len(); i++ {
			names = append(names, ft.RawGetInt(i).String())
		}
		fl, err := locknames.ParseFlags(names)
		if err != nil {
			L.ArgError(1, err.Error())
		}
		o.flags = fl
	}
	if lv, ok := t.RawGetString("lvb").(glua.LString); ok {
		o.lvb = []byte(string(lv))
		o.flags |= dlm.ValBlk
	}
	if b, ok := t.RawGetString("valblk").(glua.LBool); ok && bool(b) {
		o.flags |= dlm.ValBlk
	}
	switch tv := t.RawGetString("timeout").(type) {
	case glua.LNumber:
		o.timeout = time.Duration(float64(tv) * float64(time.Second))
	case glua.LString:
		d, err := time.ParseDuration(string(tv))
		if err != nil {
			L.ArgError(1, "timeout: say 5 (seconds) or \"5s\"")
		}
		o.timeout = d
	}
	return o
}

func luaString(t *glua.LTable, k string) string {
	if s, ok := t.RawGetString(k).(glua.LString); ok {
		return string(s)
	}
	return ""
}

// request sends r and waits for its completion (the timeout cancels it:
// ETIMEDOUT). It returns the completion's status name, "ok" when granted.
func (v *vm) request(L *glua.LState, s *luaLocks, lk *luaLock, r dlm.Request, timeout time.Duration) (string, *luaLock) {
	ctx := callContext(L)
	id, err := s.sess.LockAsync(r)
	if err != nil {
		return locknames.ErrName(err) + ": " + err.Error(), nil
	}
	if lk == nil {
		lk = &luaLock{s: s, id: id, lockspace: r.Lockspace, name: r.Name, mode: dlm.IV}
		s.locks[id] = lk
	}
	lk.done = nil
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	ok, err := s.wait(ctx, deadline, func() bool { return lk.done != nil || lk.lost })
	if err != nil {
		L.RaiseError("lock %s: %v", r.Name, err)
	}
	timedOut := false
	if !ok {
		timedOut = true
		c, err := s.sess.Unlock(lk.id, dlm.Cancel, nil)
		if err == nil && c.ID != 0 {
			s.complete(c)
		}
		if _, err := s.wait(ctx, time.Time{}, func() bool { return lk.done != nil || lk.lost }); err != nil {
			L.RaiseError("lock %s: %v", r.Name, err)
		}
	}
	if lk.lost {
		return locknames.Lost, lk
	}
	st := lk.done.Status
	if st == dlm.ECANCEL && timedOut {
		return locknames.TimedOut, lk
	}
	return locknames.Status(st), lk
}

// acquire: lock.acquire{name, mode = "EX", lockspace, flags = {...}, lvb,
// valblk = true, timeout = secs} -> lock | nil, status [, sb]
func (v *vm) lockAcquire(L *glua.LState) int {
	o := readLockOpts(L, L.CheckTable(1), true)
	if o.flags&(dlm.Convert|dlm.Cancel|dlm.ForceUnlock) != 0 {
		L.ArgError(1, "acquire takes a new lock: use lk:convert{...} and lk:release()")
	}
	s := v.lockSession(L)
	r := dlm.Request{Lockspace: o.lockspace, Name: o.name, Mode: o.mode, Flags: o.flags, Owner: s.sess.Owner(), LVB: o.lvb}
	st, lk := v.request(L, s, nil, r, o.timeout)
	if lk == nil || st != "ok" {
		if lk != nil {
			delete(s.locks, lk.id)
		}
		L.Push(glua.LNil)
		L.Push(glua.LString(st))
		return 2
	}
	L.Push(LVLock(L, lk))
	L.Push(glua.LString(st))
	L.Push(sbTable(L, lk.done.SB))
	return 3
}

func sbTable(L *glua.LState, sb dlm.SBFlags) *glua.LTable {
	t := L.NewTable()
	for _, n := range locknames.SB(sb) {
		t.Append(glua.LString(n))
	}
	return t
}

// convert: lk:convert{mode, flags, lvb, valblk, timeout} -> true | nil, status
func (v *vm) lockConvert(L *glua.LState) int {
	lk := CheckLock(L, 1)
	o := readLockOpts(L, L.OptTable(2, L.NewTable()), false)
	if lk.released || lk.lost {
		return fail(L, errors.New("the lock is released or lost"))
	}
	lvb := o.lvb
	if lvb == nil && o.flags&dlm.ValBlk != 0 {
		lvb = lk.setLVB
	}
	old := lk.mode
	r := dlm.Request{Lockspace: lk.lockspace, Name: lk.name, Mode: o.mode, Flags: o.flags | dlm.Convert, Owner: lk.s.sess.Owner(), LVB: lvb, ID: lk.id}
	st, _ := v.request(L, lk.s, lk, r, o.timeout)
	if st != "ok" {
		return fail(L, errors.New(st))
	}
	if lvb != nil && old >= dlm.PW && lk.done.LVB == nil { // written on the way from PW or EX
		lk.lvb, lk.valid = lvb, true
	}
	lk.setLVB = nil
	lk.blocking = nil
	L.Push(glua.LTrue)
	L.Push(glua.LString(st))
	L.Push(sbTable(L, lk.done.SB))
	return 3
}

// release: lk:release{lvb, flags = {"ivvalblk"}} -> true | nil, err
func (v *vm) lockRelease(L *glua.LState) int {
	lk := CheckLock(L, 1)
	if lk.released || lk.lost {
		L.Push(glua.LTrue)
		return 1
	}
	var flags dlm.Flags
	lvb := lk.setLVB
	if t, ok := L.Get(2).(*glua.LTable); ok {
		if ft, ok := t.RawGetString("flags").(*glua.LTable); ok {
			var names []string
			for i := 1; i <= ft.Len(); i++ {
				names = append(names, ft.RawGetInt(i).String())
			}
			fl, err := locknames.ParseFlags(names)
			if err != nil {
				L.ArgError(2, err.Error())
			}
			flags = fl
		}
		if s, ok := t.RawGetString("lvb").(glua.LString); ok {
			lvb = []byte(string(s))
		}
	}
	if lvb != nil {
		flags |= dlm.ValBlk
	}
	lk.s.drain()
	if lk.lost {
		L.Push(glua.LTrue)
		return 1
	}
	c, err := lk.s.sess.Unlock(lk.id, flags, lvb)
	if err != nil {
		return fail(L, fmt.Errorf("%s: %w", locknames.ErrName(err), err))
	}
	_ = c
	lk.released, lk.mode = true, dlm.IV
	delete(lk.s.locks, lk.id)
	L.Push(glua.LTrue)
	return 1
}

// lvb: lk:lvb() -> value, valid (the value block as last read or written)
func lockLVB(L *glua.LState) int {
	lk := CheckLock(L, 1)
	if lk.lvb == nil {
		L.Push(glua.LNil)
		L.Push(glua.LBool(lk.valid))
		return 2
	}
	L.Push(glua.LString(strings.TrimRight(string(lk.lvb), "\x00")))
	L.Push(glua.LBool(lk.valid))
	return 2
}

// set_lvb: lk:set_lvb(value): written by the next valblk convert down from
// PW or EX, or by release.
func lockSetLVB(L *glua.LState) int {
	lk := CheckLock(L, 1)
	lk.setLVB = []byte(L.CheckString(2))
	return 0
}

func lockMode(L *glua.LState) int {
	lk := CheckLock(L, 1)
	lk.s.drain()
	L.Push(glua.LString(locknames.Mode(lk.mode)))
	return 1
}

func lockID(L *glua.LState) int {
	L.Push(glua.LNumber(CheckLock(L, 1).id))
	return 1
}

// wait_blocking: lk:wait_blocking(timeout secs) -> mode | nil, "timeout" |
// "lost": the mode another request waits for behind this lock.
func (v *vm) lockWaitBlocking(L *glua.LState) int {
	lk := CheckLock(L, 1)
	var deadline time.Time
	if L.GetTop() >= 2 && L.Get(2) != glua.LNil {
		deadline = time.Now().Add(time.Duration(float64(L.CheckNumber(2)) * float64(time.Second)))
	}
	if lk.released {
		return fail(L, errors.New("the lock is released"))
	}
	ok, err := lk.s.wait(callContext(L), deadline, func() bool { return len(lk.blocking) > 0 || lk.lost })
	if err != nil {
		L.RaiseError("wait_blocking: %v", err)
	}
	switch {
	case lk.lost:
		return fail(L, errors.New(locknames.Lost))
	case !ok:
		return fail(L, errors.New("timeout"))
	}
	m := lk.blocking[0]
	lk.blocking = lk.blocking[1:]
	L.Push(glua.LString(locknames.Mode(m)))
	return 1
}
