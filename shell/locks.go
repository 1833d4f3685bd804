package shell

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

func locksCommand() *command {
	return &command{
		name:    "locks",
		usage:   "locks [--lockspace LS] [--json]",
		summary: "the cluster-wide lock table: holders, converting, waiting, master, directory",
		help: "Lists every resource of the distributed lock manager as its master holds it, gathered\n" +
			"from every member: the master and directory nodes, whether its value block is valid,\n" +
			"and its locks: granted ones (holders), conversions waiting to be granted, and new\n" +
			"requests waiting, each with the node that took it, its id there, its owner (NODE:ID)\n" +
			"and its modes. Every lockspace unless --lockspace names one; a lock taken without a\n" +
			"lockspace is in \"default\". Take a lock by hand with `lock`, or run a command under\n" +
			"one with `corral lock NAME -- COMMAND`.",
		example: "locks\nlocks --lockspace app --json",
		flags:   []flagSpec{{"--lockspace", "LS"}},
		run:     runLocks,
	}
}

func lockCommand() *command {
	return &command{
		name:    "lock",
		usage:   "lock NAME [--mode EX] [--lockspace LS] [--nowait] [--timeout D]",
		summary: "take a cluster-wide lock by hand (held until unlock or the shell exits)",
		help: "Takes the lock NAME in this shell's lock session and waits until it is granted (Ctrl-C\n" +
			"gives up). The shell holds it until `unlock NAME` or until it exits: a closed session\n" +
			"loses its locks. Modes: NL, CR, CW, PR, PW, EX (default EX). --nowait fails at once when\n" +
			"the lock is busy; --timeout gives up after a while. Blocking notices (another request\n" +
			"waits behind a lock this shell holds) are shown before the next command's output.\n" +
			"To run a command under a lock, use `corral lock NAME -- COMMAND` instead.",
		example: "lock backup\nlock config --mode PR --nowait\nlock job-42 --lockspace app --timeout 30s",
		flags:   []flagSpec{{"--mode", "NL|CR|CW|PR|PW|EX"}, {"--lockspace", "LS"}, {"--nowait", ""}, {"--timeout", "D"}},
		run:     runLockByHand,
	}
}

func unlockCommand() *command {
	return &command{
		name:    "unlock",
		usage:   "unlock NAME [--lockspace LS]",
		summary: "release a lock taken with lock",
		help: "Releases the lock NAME that this shell took with `lock` (its lockspace with\n" +
			"--lockspace when it is not the default). `unlock --all` releases every one.",
		example: "unlock backup\nunlock job-42 --lockspace app\nunlock --all",
		flags:   []flagSpec{{"--lockspace", "LS"}, {"--all", ""}},
		run:     runUnlock,
	}
}

// shellLocks is the shell's own lock session and the locks it holds.
type shellLocks struct {
	mu   sync.Mutex
	conn *LockConn
	held map[string]heldLock // "LS/NAME"
}

type heldLock struct {
	id   uint64
	mode string
}

func lockKey(ls, name string) string {
	if ls == "" {
		ls = "default"
	}
	return ls + "/" + name
}

// session returns the shell's lock session, opening it on first use (or
// again after the node ended the last one).
func (s *Shell) lockSession(ctx context.Context) (*LockConn, error) {
	if s.locks == nil {
		s.locks = &shellLocks{held: map[string]heldLock{}}
	}
	l := s.locks
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn != nil {
		select {
		case <-l.conn.Done():
			l.conn = nil
			l.held = map[string]heldLock{}
		default:
			return l.conn, nil
		}
	}
	if s.Client == nil {
		return nil, errors.New("no node to lock on")
	}
	c, err := DialLock(ctx, s.Client.Socket, "")
	if err != nil {
		return nil, err
	}
	l.conn = c
	return c, nil
}

// CloseLocks ends the shell's lock session (its locks are released).
func (s *Shell) CloseLocks() {
	if s.locks == nil {
		return
	}
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	if s.locks.conn != nil {
		_ = s.locks.conn.Close()
		s.locks.conn = nil
	}
	s.locks.held = map[string]heldLock{}
}

// heldLockNames lists the locks this shell holds (for completion).
func (s *Shell) heldLockNames() []string {
	if s.locks == nil {
		return nil
	}
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	var out []string
	for k := range s.locks.held {
		out = append(out, strings.TrimPrefix(k, "default/"))
	}
	slices.Sort(out)
	return out
}

// lockNotes prints what the session said since the last command: blocking
// notices and lost locks.
func (s *Shell) lockNotes() error {
	if s.locks == nil || s.locks.conn == nil {
		return nil
	}
	for _, m := range s.locks.conn.Pending() {
		if err := s.lockNote(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Shell) lockNote(m apitypes.LockMsg) error {
	name := s.lockName(m.Lock)
	switch m.Type {
	case apitypes.LockMsgBlocking:
		return writeLine(s, fmt.Sprintf("note: a request for %s waits behind your lock %s", m.Mode, name))
	case apitypes.LockMsgLost:
		s.forget(m.Lock)
		return writeLine(s, fmt.Sprintf("note: lock %s is lost: %s", name, m.Error))
	}
	return nil
}

func (s *Shell) lockName(id uint64) string {
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	for k, h := range s.locks.held {
		if h.id == id {
			return strings.TrimPrefix(k, "default/")
		}
	}
	return "#" + strconv.FormatUint(id, 10)
}

func (s *Shell) forget(id uint64) {
	s.locks.mu.Lock()
	defer s.locks.mu.Unlock()
	for k, h := range s.locks.held {
		if h.id == id || id == 0 {
			delete(s.locks.held, k)
		}
	}
}

func runLockByHand(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) != 1 {
		return usagef("usage: %s", a.cmd.usage)
	}
	name, ls := a.pos[0], a.flags["--lockspace"]
	mode := "EX"
	if m, ok := a.flags["--mode"]; ok {
		if _, err := apitypes.ParseMode(m); err != nil {
			return usagef("--mode %q: use NL, CR, CW, PR, PW or EX", m)
		}
		mode = strings.ToUpper(m)
	}
	op := apitypes.LockOp{Op: apitypes.LockOpLock, Lockspace: ls, Name: name, Mode: mode}
	if a.has("--nowait") {
		op.Flags = []string{"noqueue"}
	}
	var timeout time.Duration
	if t, ok := a.flags["--timeout"]; ok {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			return usagef("--timeout %q: give a duration such as 10s", t)
		}
		timeout, op.Timeout = d, d.String()
	}
	key := lockKey(ls, name)
	c, err := s.lockSession(ctx)
	if err != nil {
		return err
	}
	if err := s.lockNotes(); err != nil {
		return err
	}
	s.locks.mu.Lock()
	h, holding := s.locks.held[key]
	s.locks.mu.Unlock()
	if holding {
		if h.mode == mode {
			return writeLine(s, fmt.Sprintf("%s: already held in %s by this shell", strings.TrimPrefix(key, "default/"), mode))
		}
		op = apitypes.LockOp{Op: apitypes.LockOpConvert, Lock: h.id, Mode: mode, Flags: op.Flags, Timeout: op.Timeout}
	}
	res, err := c.Lock(ctx, op)
	for _, m := range res.Other {
		if e := s.lockNote(m); e != nil {
			return e
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("gave up waiting for %s", key)
		}
		return err
	}
	what := strings.TrimPrefix(key, "default/")
	switch res.Status {
	case "ok":
		s.locks.mu.Lock()
		s.locks.held[key] = heldLock{id: res.Lock, mode: res.Mode}
		s.locks.mu.Unlock()
		if s.json {
			return WriteJSON(s.Stdout, map[string]any{"lockspace": strings.SplitN(key, "/", 2)[0], "name": name, "lock": res.Lock, "mode": res.Mode, "owner": c.Owner()})
		}
		return writeLine(s, fmt.Sprintf("%s: granted %s (lock %d, owner %s); held until unlock or exit", what, res.Mode, res.Lock, c.Owner()))
	case "EAGAIN":
		return fmt.Errorf("%s is busy: held in a mode incompatible with %s (see locks)", what, mode)
	case apitypes.LockStatusTimedOut:
		return fmt.Errorf("timed out after %v waiting for %s (see locks)", timeout, what)
	case "EDEADLK":
		return fmt.Errorf("deadlock: this request for %s was chosen as the victim", what)
	case apitypes.LockStatusLost:
		s.forget(res.Lock)
		return fmt.Errorf("%s was lost: the node lost its hold on the cluster", what)
	}
	return fmt.Errorf("%s not granted: %s", what, res.Status)
}

func runUnlock(ctx context.Context, s *Shell, a *args) error {
	all := a.has("--all")
	if (len(a.pos) != 1) == !all || (all && len(a.pos) > 0) {
		return usagef("usage: %s", a.cmd.usage)
	}
	if s.locks == nil || s.locks.conn == nil {
		if all {
			return writeLine(s, "this shell holds no locks")
		}
		return fmt.Errorf("this shell holds no lock %s (take one with lock NAME)", a.pos[0])
	}
	if err := s.lockNotes(); err != nil {
		return err
	}
	s.locks.mu.Lock()
	var keys []string
	if all {
		for k := range s.locks.held {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	} else {
		key := lockKey(a.flags["--lockspace"], a.pos[0])
		if _, ok := s.locks.held[key]; !ok {
			s.locks.mu.Unlock()
			return fmt.Errorf("this shell holds no lock %s (it holds: %s)", strings.TrimPrefix(key, "default/"), strings.Join(s.heldList(), ", "))
		}
		keys = []string{key}
	}
	conn := s.locks.conn
	s.locks.mu.Unlock()
	for _, k := range keys {
		s.locks.mu.Lock()
		h := s.locks.held[k]
		s.locks.mu.Unlock()
		if err := conn.Unlock(ctx, h.id, nil, nil); err != nil {
			var le *LockError
			if !errors.As(err, &le) || le.Status != apitypes.LockErrNotFound {
				return err
			}
		}
		s.locks.mu.Lock()
		delete(s.locks.held, k)
		s.locks.mu.Unlock()
		if err := writeLine(s, strings.TrimPrefix(k, "default/")+": released"); err != nil {
			return err
		}
	}
	return nil
}

// heldList names the held locks; locks.mu is held.
func (s *Shell) heldList() []string {
	var out []string
	for k := range s.locks.held {
		out = append(out, strings.TrimPrefix(k, "default/"))
	}
	slices.Sort(out)
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

// Locks fetches GET /v1/locks.
func (c *Client) Locks(ctx context.Context, lockspace string) (apitypes.LocksDoc, error) {
	var doc apitypes.LocksDoc
	path := "/v1/locks"
	if lockspace != "" {
		path += "?lockspace=" + url.QueryEscape(lockspace)
	}
	err := c.Get(ctx, path, &doc)
	return doc, err
}

func runLocks(ctx context.Context, s *Shell, a *args) error {
	if err := a.noArgs(); err != nil {
		return err
	}
	if err := s.lockNotes(); err != nil {
		return err
	}
	doc, err := s.Client.Locks(ctx, a.flags["--lockspace"])
	if err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, doc)
	}
	if len(doc.Missing) > 0 {
		if err := writeLine(s, "incomplete: no answer from "+strings.Join(doc.Missing, ", ")+" (their resources are missing)"); err != nil {
			return err
		}
	}
	if len(doc.Resources) == 0 {
		return writeLine(s, "no locks")
	}
	t := newTable("RESOURCE", "MASTER", "DIR", "LVB", "QUEUE", "NODE", "LOCK", "OWNER", "MODE", "WANTED", "FLAGS")
	for _, r := range doc.Resources {
		lvb := "valid"
		if !r.LVBValid {
			lvb = "INVALID"
		}
		res := r.Lockspace + "/" + r.Name
		first := true
		row := func(queue string, e apitypes.LockEntry) {
			c1, c2, c3, c4 := res, r.Master, r.Directory, lvb
			if !first {
				c1, c2, c3, c4 = "", "", "", ""
			}
			first = false
			flags := strings.Join(e.Flags, ",")
			if e.Orphan {
				flags = strings.TrimPrefix(flags+",orphan", ",")
			}
			t.row(c1, c2, c3, c4, queue, e.Node, strconv.FormatUint(e.ID, 10), e.Owner, e.Granted, orDash(e.Wanted), orDash(flags))
		}
		for _, e := range r.Granted {
			row("granted", e)
		}
		for _, e := range r.Converting {
			row("converting", e)
		}
		for _, e := range r.Waiting {
			row("waiting", e)
		}
		if first {
			t.row(res, r.Master, r.Directory, lvb, "-", "-", "-", "-", "-", "-", "-")
		}
	}
	return t.render(s.Stdout, s.Color)
}
