package lua

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// Eval sessions: the shell's Lua REPL keeps one VM for its session, so
// globals set on one line are there on the next. A session's VM is made
// as the pool's are (the same sandbox, ungranted: the corral module, no
// exec, fs or net) but is never shared: it belongs to its session until
// the session ends, idles past sessionIdle, or a call on it is stopped
// (a deadline, the memory watchdog), which throws it away with what it
// built.
const (
	sessionIdle = 15 * time.Minute // a session unused this long ends
	maxSessions = 16               // past this, the least recently used ends
)

// ErrSessionLost is returned, wrapped, when a session's VM was thrown
// away by a stopped call: its globals are gone (a new VM starts on the
// next call).
var ErrSessionLost = errors.New("the session's Lua VM was replaced: its globals are gone")

type session struct {
	mu   sync.Mutex // one call at a time
	v    *vm
	env  *glua.LTable
	used time.Time
}

type sessionTable struct {
	mu   sync.Mutex
	byID map[string]*session
}

// session returns the session id, made on first use.
func (h *Host) session(id string) (*session, error) {
	t := &h.sessions
	t.mu.Lock()
	defer t.mu.Unlock()
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	if t.byID == nil {
		t.byID = map[string]*session{}
	}
	now := time.Now()
	var oldest string
	for k, s := range t.byID {
		if now.Sub(s.used) > sessionIdle {
			delete(t.byID, k)
			go s.close()
			continue
		}
		if oldest == "" || s.used.Before(t.byID[oldest].used) {
			oldest = k
		}
	}
	if s, ok := t.byID[id]; ok {
		s.used = now
		return s, nil
	}
	if len(t.byID) >= maxSessions {
		go t.byID[oldest].close()
		delete(t.byID, oldest)
	}
	s := &session{used: now}
	t.byID[id] = s
	return s, nil
}

// close ends the session's VM once no call runs on it.
func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v != nil {
		s.v.L.Close()
		s.v, s.env = nil, nil
	}
}

// EndSession ends an eval session (the REPL quits); unknown ids are fine.
func (h *Host) EndSession(id string) {
	t := &h.sessions
	t.mu.Lock()
	s := t.byID[id]
	delete(t.byID, id)
	t.mu.Unlock()
	if s != nil {
		s.close()
	}
}

// closeSessions ends every session (Close).
func (h *Host) closeSessions() {
	t := &h.sessions
	t.mu.Lock()
	all := t.byID
	t.byID = nil
	t.mu.Unlock()
	for _, s := range all { // a running call was aborted with the pool's VMs (h.vms holds it)
		s.close()
	}
}

// EvalSession is Eval on the VM of session id: globals a line sets stay
// for the session's next lines. Calls of one session run one at a time.
func (h *Host) EvalSession(ctx context.Context, id, code string) (string, error) {
	s, err := h.session(id)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.v == nil {
		// The session's environment is made as Eval's (newEnv, ungranted:
		// read-only libraries, a locked string metatable, no cluster
		// changes), kept in v.envs so the retained-memory walk counts it.
		v := h.newVM()
		L := v.L
		v.eval, v.granted = true, false
		env := v.newEnv(false)
		// corral is at hand without a require, as in Eval.
		if err := L.CallByParam(glua.P{Fn: env.RawGetString("require"), NRet: 1, Protect: true}, glua.LString("corral")); err != nil {
			L.Close()
			return "", fmt.Errorf("lua session: %s", errText(err))
		}
		env.RawSetString("corral", L.Get(-1))
		L.Pop(1)
		v.envs[&script{}] = env
		s.v, s.env = v, env
	}
	v := s.v
	L := v.L
	proto, _, err := compile("eval", []byte("return "+code))
	if be := (*boundError)(nil); errors.As(err, &be) {
		return "", err
	}
	if err != nil {
		if proto, _, err = compile("eval", []byte(code)); err != nil {
			return "", err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	var out strings.Builder
	callCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	seq, base := h.watch.enter()
	v.mu.Lock()
	v.label, v.cancel, v.seq, v.base, v.out, v.trusted = "lua session", cancel, seq, base, &out, false
	v.mu.Unlock()
	h.mu.Lock()
	h.vms[v] = struct{}{} // seen by the watchdog and Close while it runs (not counted in the pool)
	h.mu.Unlock()
	L.SetContext(callCtx)
	panicked := false
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				panicked = true
				err = fmt.Errorf("the Lua VM failed (%v)", r)
			}
		}()
		fn := L.NewFunctionFromProto(proto)
		fn.Env = s.env
		if err := L.CallByParam(glua.P{Fn: fn, NRet: glua.MultRet, Protect: true}); err != nil {
			return err
		}
		var vals []string
		for i := 1; i <= L.GetTop(); i++ {
			vals = append(vals, show(L.Get(i)))
		}
		if len(vals) > 0 {
			out.WriteString(strings.Join(vals, "\t"))
			out.WriteByte('\n')
		}
		return nil
	}()
	L.RemoveContext()
	h.mu.Lock()
	delete(h.vms, v)
	h.mu.Unlock()
	h.watch.leave()
	v.mu.Lock()
	v.cancel, v.out = nil, nil
	v.mu.Unlock()
	stopped := err != nil && callCtx.Err() != nil
	if !panicked {
		L.SetTop(0)
	}
	if !stopped && !panicked && h.memLimit > 0 {
		// What the session keeps between lines counts against the memory
		// limit, as for the pool's VMs: above it the session is lost.
		if kept := v.retained(uint64(h.memLimit)); kept > uint64(h.memLimit) {
			L.Close()
			s.v, s.env = nil, nil
			return out.String(), fmt.Errorf("the session keeps %d MiB, above the memory limit of %d MiB: %w", kept>>20, h.memLimit>>20, ErrSessionLost)
		}
	}
	if stopped || panicked {
		cause := context.Cause(callCtx)
		L.Close()
		s.v, s.env = nil, nil
		if panicked {
			return out.String(), fmt.Errorf("%w: %v", ErrSessionLost, err)
		}
		return out.String(), fmt.Errorf("stopped: %v; %w", cause, ErrSessionLost) // a deadline, the memory watchdog, Close
	}
	if err != nil {
		return strings.TrimSuffix(out.String(), "\n"), errors.New(errText(err))
	}
	return strings.TrimSuffix(out.String(), "\n"), nil
}
