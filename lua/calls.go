package lua

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	glua "github.com/yuin/gopher-lua"
)

// Status is the result of an agent or driver action.
type Status int

// Action results. A script returns them as the strings in statusNames.
const (
	StatusOK         Status = iota // done, or running (monitor)
	StatusNotRunning               // cleanly stopped (monitor)
	StatusFailed                   // failed; a retry or another node may do better
	StatusConfig                   // bad parameters or not installed: no node will do better
	StatusTimeout                  // the call passed its deadline and was stopped
)

var statusNames = []string{"ok", "not_running", "failed", "config", "timeout"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// MarshalText writes the status as its name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseStatus reads a status name.
func ParseStatus(name string) (Status, bool) {
	i := slices.Index(statusNames, name)
	return Status(i), i >= 0
}

// Outcome is what an action did.
type Outcome struct {
	Status  Status `json:"status"`
	Message string `json:"message,omitempty"`
	// Targets is what a fence driver's list action returned.
	Targets []string `json:"targets,omitempty"`
}

// RunAgent runs a resource agent's action (start, stop, monitor, or meta,
// whose Outcome.Message is the agent's Meta as JSON) with params checked
// against its meta() and defaults applied. ctx carries the deadline
// (DefaultTimeout without one).
//
// The Outcome always says what happened. err is non-nil only when the action
// could not run as asked: no such agent or action (StatusConfig), bad
// parameters (StatusConfig), no VM free before the deadline or the call
// stopped at its deadline (StatusTimeout), a memory bomb (StatusFailed); a
// script that raises an error gives StatusFailed with its message and err nil.
//
// Keys of params that start with "_" are call context, not parameters: the
// agent gets them, without the underscore, in its second argument
// ("_resource" -> info.resource).
func (h *Host) RunAgent(ctx context.Context, agent, action string, params map[string]string) (Outcome, error) {
	return h.runAction(ctx, KindResource, agent, action, "", params)
}

// RunFence runs a fence driver's action (off, on, reboot, status, list, or
// meta) on target (ignored by list) with params checked as in RunAgent.
// status answers StatusOK for a target that is on, StatusNotRunning for one
// that is off; list fills Outcome.Targets.
func (h *Host) RunFence(ctx context.Context, driver, action, target string, params map[string]string) (Outcome, error) {
	return h.runAction(ctx, KindFence, driver, action, target, params)
}

func (h *Host) runAction(ctx context.Context, kind Kind, name, action, target string, params map[string]string) (Outcome, error) {
	s, err := h.script(kind, name)
	if err != nil {
		return Outcome{Status: StatusConfig, Message: err.Error()}, err
	}
	if action != "meta" && !slices.Contains(contracts[kind], action) {
		err := fmt.Errorf("lua: %s: no action %q (a %s script has %s and meta)", s.label, action, kind, strings.Join(contracts[kind], ", "))
		return Outcome{Status: StatusConfig, Message: err.Error()}, err
	}
	args, info, err := checkParams(s.meta, params, action != "meta")
	if err != nil {
		err = fmt.Errorf("lua: %s %s: %w", s.label, action, err)
		return Outcome{Status: StatusConfig, Message: err.Error()}, err
	}
	var out Outcome
	err = h.do(ctx, s, action, func(v *vm, tbl *glua.LTable) error {
		L := v.L
		pt := L.CreateTable(0, len(args))
		for _, a := range args {
			pt.RawSetString(a.name, a.v)
		}
		it := L.CreateTable(0, len(info)+1)
		for k, val := range info {
			it.RawSetString(k, glua.LString(val))
		}
		if action == "meta" {
			m, err := v.metaOf(s, tbl, pt)
			if err != nil {
				return err
			}
			b, _ := json.Marshal(m)
			out = Outcome{Status: StatusOK, Message: string(b)}
			return nil
		}
		callArgs := []glua.LValue{pt, it}
		if kind == KindFence && action != "list" {
			callArgs = []glua.LValue{glua.LString(target), pt, it}
		}
		res, err := v.callFn(tbl, action, 2, callArgs...)
		if err != nil {
			return err
		}
		if kind == KindFence && action == "list" {
			out = Outcome{Status: StatusOK}
			if lt, ok := res[0].(*glua.LTable); ok {
				for i := 1; i <= lt.Len(); i++ {
					out.Targets = append(out.Targets, lt.RawGetInt(i).String())
				}
				return nil
			}
			res = res[:2]
		}
		out = outcomeOf(s.label+" "+action, res[0], res[1])
		return nil
	})
	if err != nil {
		var ce *callError
		switch {
		case errors.As(err, &ce) && ce.timeout:
			return Outcome{Status: StatusTimeout, Message: err.Error()}, err
		case errors.As(err, &ce) && !errors.As(ce.err, new(errMemory)) && !errors.Is(ce.err, errClosed):
			// The script raised an error: a failed action, not a host problem.
			return Outcome{Status: StatusFailed, Message: err.Error()}, nil
		}
		return Outcome{Status: StatusFailed, Message: err.Error()}, err
	}
	return out, nil
}

// outcomeOf reads what an action returned: a status name ("ok",
// "not_running", "failed", "config"), true (ok) or false/nil (failed), and
// an optional message.
func outcomeOf(label string, st, msg glua.LValue) Outcome {
	var o Outcome
	if msg != glua.LNil {
		o.Message = msg.String()
	}
	switch x := st.(type) {
	case glua.LBool:
		if !x {
			o.Status = StatusFailed
		}
	case *glua.LNilType:
		o.Status = StatusFailed
	case glua.LString:
		s, ok := ParseStatus(string(x))
		if !ok || s == StatusTimeout {
			o.Status = StatusFailed
			o.Message = fmt.Sprintf("%s returned %q: return ok, not_running, failed or config", label, string(x))
		} else {
			o.Status = s
		}
	default:
		o.Status = StatusFailed
		o.Message = fmt.Sprintf("%s returned a %s: return ok, not_running, failed or config", label, st.Type())
	}
	return o
}

// metaOf calls meta(params) and parses it; the ocf wrapper describes the
// agent its parameters name.
func (v *vm) metaOf(s *script, tbl, params *glua.LTable) (Meta, error) {
	res, err := v.callFn(tbl, "meta", 1, params)
	if err != nil {
		return Meta{}, err
	}
	mt, ok := res[0].(*glua.LTable)
	if !ok {
		return Meta{}, fmt.Errorf("meta() returned %s, not a table", res[0].Type())
	}
	m, err := parseMeta(mt, s.meta.Kind)
	if err != nil {
		return Meta{}, fmt.Errorf("meta(): %w", err)
	}
	if m.Name == "" {
		m.Name = s.meta.Name
	}
	m.Kind, m.File, m.Granted = s.meta.Kind, s.meta.File, s.meta.Granted
	return m, nil
}

// ChooseOwner asks a policy where a group should run: choose_owner(group,
// candidates, cluster). It returns one of candidates, or "" when the policy
// wants the group to run nowhere.
func (h *Host) ChooseOwner(ctx context.Context, policy string, group map[string]any, candidates []string, cluster map[string]any) (string, error) {
	s, err := h.script(KindPolicy, policy)
	if err != nil {
		return "", err
	}
	var owner string
	err = h.do(ctx, s, "choose_owner", func(v *vm, tbl *glua.LTable) error {
		L := v.L
		res, err := v.callFn(tbl, "choose_owner", 1, toLua(L, group), toLua(L, candidates), toLua(L, cluster))
		if err != nil {
			return err
		}
		switch x := res[0].(type) {
		case *glua.LNilType:
			return nil
		case glua.LString:
			if !slices.Contains(candidates, string(x)) {
				return fmt.Errorf("choose_owner returned %q, which is not a candidate (%s)", string(x), strings.Join(candidates, ", "))
			}
			owner = string(x)
			return nil
		default:
			return fmt.Errorf("choose_owner returned a %s: return a candidate's name or nil", x.Type())
		}
	})
	return owner, err
}

// failureActions are what on_failure may answer.
var failureActions = []string{"restart", "failover", "ignore", "stop"}

// OnFailure asks a policy what to do about a failed resource:
// on_failure(resource, failures) returns "restart", "failover", "ignore" or
// "stop".
func (h *Host) OnFailure(ctx context.Context, policy string, resource map[string]any, failures int) (string, error) {
	s, err := h.script(KindPolicy, policy)
	if err != nil {
		return "", err
	}
	var act string
	err = h.do(ctx, s, "on_failure", func(v *vm, tbl *glua.LTable) error {
		res, err := v.callFn(tbl, "on_failure", 1, toLua(v.L, resource), glua.LNumber(failures))
		if err != nil {
			return err
		}
		a, ok := res[0].(glua.LString)
		if !ok || !slices.Contains(failureActions, string(a)) {
			return fmt.Errorf("on_failure returned %s: return restart, failover, ignore or stop", show(res[0]))
		}
		act = string(a)
		return nil
	})
	return act, err
}

// Handle gives an event to a handler: handle(event). The caller picks the
// handlers (Subscribers) and calls them in order, each with its deadline.
func (h *Host) Handle(ctx context.Context, handler string, event map[string]any) error {
	s, err := h.script(KindHandler, handler)
	if err != nil {
		return err
	}
	return h.do(ctx, s, "handle", func(v *vm, tbl *glua.LTable) error {
		res, err := v.callFn(tbl, "handle", 2, toLua(v.L, event))
		if err != nil {
			return err
		}
		if res[0] == glua.LFalse || (res[0] == glua.LNil && res[1] != glua.LNil) {
			return fmt.Errorf("handle returned false: %s", res[1].String())
		}
		return nil
	})
}

// Eval runs code in the sandbox the way the shell's lua command does: an
// expression's values, or a chunk's returned values, tab-separated, after
// anything it printed. It sees corral (also as a global, without a
// require) but not exec, fs or net.
func (h *Host) Eval(ctx context.Context, code string) (string, error) {
	var out strings.Builder
	err := h.do(ctx, nil, "lua eval", func(v *vm, _ *glua.LTable) error {
		L := v.L
		proto, _, err := compile("eval", []byte("return "+code))
		if be := (*boundError)(nil); errors.As(err, &be) {
			return err
		}
		if err != nil {
			if proto, _, err = compile("eval", []byte(code)); err != nil {
				return err
			}
		}
		v.eval = true
		env := v.newEnv(false)
		// corral is at hand without a require: `lua corral.status().node`.
		if err := L.CallByParam(glua.P{Fn: env.RawGetString("require"), NRet: 1, Protect: true}, glua.LString("corral")); err != nil {
			return err
		}
		env.RawSetString("corral", L.Get(-1))
		L.Pop(1)
		fn := L.NewFunctionFromProto(proto)
		fn.Env = env
		v.mu.Lock()
		v.out = &out
		v.mu.Unlock()
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
	})
	return strings.TrimSuffix(out.String(), "\n"), err
}

// RunFile runs a Lua file as automation, as the shell's `lua run FILE` does
// in its own process: on a VM of its own (never one of the pool's), with
// every module (exec, fs and net included: the file is the user's own, run
// with the user's rights), the global arg holding args, and no deadline but
// ctx's, so a script may take minutes. What it prints goes to out.
func (h *Host) RunFile(ctx context.Context, file string, args []string, out io.Writer) error {
	code, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("lua run: %w", err)
	}
	proto, _, err := compile(file, code)
	if err != nil {
		return fmt.Errorf("lua run: %w", err)
	}
	v := h.newVM()
	defer v.L.Close()
	defer v.closeLocks()
	L := v.L
	v.label = "lua run " + file
	v.out = &lineWriter{w: out}
	L.SetContext(ctx)
	v.granted = true // the user's own file, acting through the admin API with the user's rights
	env := v.newEnv(true)
	env.RawSetString("arg", toLua(L, args))
	fn := L.NewFunctionFromProto(proto)
	fn.Env = env
	if err := L.CallByParam(glua.P{Fn: fn, NRet: glua.MultRet, Protect: true}); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("lua run %s: stopped: %w", file, ctx.Err())
		}
		return fmt.Errorf("lua run %s: %s", file, errText(err))
	}
	var vals []string
	for i := 1; i <= L.GetTop(); i++ {
		vals = append(vals, show(L.Get(i)))
	}
	if len(vals) > 0 {
		fmt.Fprintln(out, strings.Join(vals, "\t"))
	}
	return nil
}

// CheckParams checks params against a script's meta() the way every call
// does (types, required, unknown names), without running anything: for
// validating a resource's configuration when it is written.
func (h *Host) CheckParams(kind Kind, name string, params map[string]string) error {
	s, err := h.script(kind, name)
	if err != nil {
		return err
	}
	if _, _, err := checkParams(s.meta, params, true); err != nil {
		return fmt.Errorf("%s: %w", s.label, err)
	}
	return nil
}
