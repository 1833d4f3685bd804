package lua

import (
	"context"
	"errors"
	"log/slog"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// start is the host process's start, for corral.now() (monotonic seconds).
var start = time.Now()

// corralLoader builds the corral module: logging, sleeping and the clock
// for every script, and the Cluster for automation.
func (v *vm) corralLoader() glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.NewTable()
		L.SetFuncs(t, map[string]glua.LGFunction{
			"log":        v.logAt(slog.LevelInfo),
			"debug":      v.logAt(slog.LevelDebug),
			"warn":       v.logAt(slog.LevelWarn),
			"sleep":      v.sleep,
			"now":        now,
			"remaining":  remaining,
			"status":     v.status,
			"get":        v.cdbGet,
			"list":       v.cdbList,
			"set":        v.cdbSet,
			"move":       v.action("move"),
			"start":      v.action("start"),
			"stop":       v.action("stop"),
			"pause":      v.action("pause"),
			"resume":     v.action("resume"),
			"wait_event": v.waitEvent,
		})
		for _, n := range statusNames[:StatusTimeout] {
			t.RawSetString(upper(n), glua.LString(n))
		}
		L.Push(t)
		return 1
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// logAt: corral.log(msg [, fields]) logs msg with the call's name and the
// fields table's keys.
func (v *vm) logAt(level slog.Level) glua.LGFunction {
	return func(L *glua.LState) int {
		msg := L.CheckString(1)
		v.mu.Lock()
		label := v.label
		v.mu.Unlock()
		attrs := []any{"lua", label}
		if ft, ok := L.Get(2).(*glua.LTable); ok {
			c := converter{path: make(map[*glua.LTable]bool)} // one budget for every field
			ft.ForEach(func(k, e glua.LValue) {
				if c.values <= maxConvertValues {
					attrs = append(attrs, k.String(), c.from(e, 0))
				}
			})
		}
		v.h.log.Log(callContext(L), level, msg, attrs...)
		return 0
	}
}

// sleep: corral.sleep(seconds), cut short (with an error) by the deadline.
func (v *vm) sleep(L *glua.LState) int {
	d := time.Duration(float64(L.CheckNumber(1)) * float64(time.Second))
	ctx := callContext(L)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		L.RaiseError("sleep: %s", ctx.Err())
	}
	return 0
}

func now(L *glua.LState) int {
	L.Push(glua.LNumber(time.Since(start).Seconds()))
	return 1
}

// remaining: corral.remaining() is the seconds left before the call's
// deadline (nil without one).
func remaining(L *glua.LState) int {
	if dl, ok := callContext(L).Deadline(); ok {
		L.Push(glua.LNumber(time.Until(dl).Seconds()))
		return 1
	}
	L.Push(glua.LNil)
	return 1
}

func callContext(L *glua.LState) context.Context {
	if ctx := L.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func (v *vm) cluster(L *glua.LState) Cluster {
	c := v.h.cfg.Cluster
	if c == nil {
		L.RaiseError("no cluster connected: corral.status, get, list, set and the cluster actions need a node or the shell's lua run")
	}
	return c
}

// fail returns nil, err to Lua (the convention for expected failures).
func fail(L *glua.LState, err error) int {
	L.Push(glua.LNil)
	L.Push(glua.LString(err.Error()))
	return 2
}

func (v *vm) status(L *glua.LState) int {
	st, err := v.cluster(L).Status(callContext(L))
	if err != nil {
		return fail(L, err)
	}
	L.Push(toLua(L, st))
	return 1
}

func (v *vm) cdbGet(L *glua.LState) int {
	val, found, err := v.cluster(L).Get(callContext(L), L.CheckString(1))
	if err != nil {
		return fail(L, err)
	}
	if !found {
		L.Push(glua.LNil)
		return 1
	}
	L.Push(glua.LString(val))
	return 1
}

func (v *vm) cdbList(L *glua.LState) int {
	kv, err := v.cluster(L).List(callContext(L), L.OptString(1, ""))
	if err != nil {
		return fail(L, err)
	}
	L.Push(toLua(L, kv))
	return 1
}

// mayChange raises an error unless the running call may change the
// cluster: ungranted code (scripts outside the shipped ones and [lua]
// grant, and the shell's lua command) reads the cluster but does not
// change it. A write of /resources/... with the process agent runs a
// command as root, so the right to change the cluster is the exec grant.
func (v *vm) mayChange(L *glua.LState, what string) {
	if v.granted {
		return
	}
	if v.eval {
		L.RaiseError("corral.%s: the lua command reads the cluster but does not change it; use the shell's commands (set, move, start, stop, pause, resume) or lua run FILE", what)
	}
	L.RaiseError("corral.%s is not granted to this script: ungranted scripts read the cluster but do not change it; only shipped scripts and directories listed in [lua] grant may", what)
}

func (v *vm) cdbSet(L *glua.LState) int {
	v.mayChange(L, "set")
	if err := v.cluster(L).Set(callContext(L), L.CheckString(1), L.CheckString(2)); err != nil {
		return fail(L, err)
	}
	L.Push(glua.LTrue)
	return 1
}

// action: corral.move(group [, node [, for]]), start(group), stop(group),
// pause(node), resume(node) return true, or nil and the error.
func (v *vm) action(verb string) glua.LGFunction {
	return func(L *glua.LState) int {
		v.mayChange(L, verb)
		args := []string{L.CheckString(1)}
		if verb == "move" {
			if n := L.OptString(2, ""); n != "" {
				args = append(args, n)
			}
			if d := L.OptString(3, ""); d != "" {
				args = append(args, "--for", d)
			}
		}
		if err := v.cluster(L).Do(callContext(L), verb, args); err != nil {
			return fail(L, err)
		}
		L.Push(glua.LTrue)
		return 1
	}
}

// waitEvent: corral.wait_event{kinds = {...}, since = seq, timeout = s}
// returns the event, or nil and "timeout".
func (v *vm) waitEvent(L *glua.LState) int {
	opts := L.OptTable(1, L.NewTable())
	var kinds []string
	if kt, ok := opts.RawGetString("kinds").(*glua.LTable); ok {
		for i := 1; i <= kt.Len(); i++ {
			kinds = append(kinds, kt.RawGetInt(i).String())
		}
	} else if k, ok := opts.RawGetString("kind").(glua.LString); ok {
		kinds = []string{string(k)}
	}
	var since uint64
	if n, ok := opts.RawGetString("since").(glua.LNumber); ok && n > 0 {
		since = uint64(n)
	}
	c := v.cluster(L)
	ctx := callContext(L)
	if n, ok := opts.RawGetString("timeout").(glua.LNumber); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(float64(n)*float64(time.Second)))
		defer cancel()
	}
	ev, err := c.WaitEvent(ctx, kinds, since)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && callContext(L).Err() == nil {
			return fail(L, errors.New("timeout"))
		}
		return fail(L, err)
	}
	L.Push(toLua(L, ev))
	return 1
}
