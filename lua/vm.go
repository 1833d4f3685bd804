package lua

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"
	"unsafe"

	glua "github.com/yuin/gopher-lua"
)

// vm is one sandboxed LState with the script tables it has instantiated.
// One goroutine uses it at a time (gopher-lua is not goroutine-safe).
type vm struct {
	h       *Host
	L       *glua.LState
	rng     *rand.Rand
	globals *glua.LTable             // the sandbox's base functions and libraries: never handed to a script
	libMeta map[string]*glua.LTable  // the read-only views' metatables of string, table, math, os
	baseFns *glua.LTable             // the base functions environments read (through envMeta)
	envMeta *glua.LTable             // every environment's metatable: __index base, locked
	gen     uint64                   // catalog generation of inst
	inst    map[*script]*glua.LTable // each script's table, made from the shared proto
	envs    map[*script]*glua.LTable // each script's own environment
	mods    map[string]*glua.LTable  // the read-only views' metatables of the modules require made
	// granted: the running call may change the cluster (corral.set, move,
	// start, stop, pause, resume): a granted script's call or lua run.
	// Only the goroutine running the call uses it.
	granted bool
	eval    bool // the running call is the shell's lua command (Eval)

	// retained's map and stack, reused from call to call.
	walkSeen  map[unsafe.Pointer]struct{}
	walkStack []glua.LValue

	// The running call, read by the watchdog and Close.
	mu     sync.Mutex
	label  string // "resource/dummy monitor"
	cancel context.CancelCauseFunc
	seq    uint64 // the call's start number
	// trusted: the call is a granted script's (the watchdog stops an
	// ungranted call before a granted one).
	trusted bool
	base    uint64  // heap bytes when the call started
	out     printer // print() goes here during Eval and RunFile

	// locks is the running call's lock session (the lock module), closed
	// when the call ends: a script's locks do not outlive its call.
	locks *luaLocks
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// newVM makes a sandboxed VM (not yet counted in the pool).
func (h *Host) newVM() *vm {
	n := h.nextVM.Add(1)
	v := &vm{
		h:    h,
		rng:  rand.New(rand.NewPCG(h.seed+n, n)),
		inst: make(map[*script]*glua.LTable),
		envs: make(map[*script]*glua.LTable),
		mods: make(map[string]*glua.LTable),
	}
	v.L = glua.NewState(glua.Options{
		SkipOpenLibs:     true,
		CallStackSize:    200,       // call depth: deep recursion is an error, not a crash
		RegistrySize:     1024,      // value stack to start with
		RegistryMaxSize:  256 << 10, // value stack cap (4 MiB): past it, "registry overflow"
		RegistryGrowStep: 1024,      // few resizes: each copies the whole stack
	})
	v.openSandbox()
	return v
}

// get takes an idle VM, makes one under the cap, or waits for one until ctx
// is done.
func (h *Host) get(ctx context.Context) (*vm, error) {
	select {
	case v := <-h.idle:
		return v, nil
	default:
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, errClosed
	}
	if h.count < h.size {
		h.count++
		h.mu.Unlock()
		v := h.newVM()
		h.mu.Lock()
		h.vms[v] = struct{}{}
		h.mu.Unlock()
		return v, nil
	}
	h.mu.Unlock()
	select {
	case v := <-h.idle:
		return v, nil
	case <-h.done:
		return nil, errClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("all %d Lua VMs stayed busy: %w", h.size, ctx.Err())
	}
}

// put returns a VM to the pool. A VM whose call was stopped mid-way is
// replaced by a fresh one: its scripts may hold what the runaway built.
func (h *Host) put(v *vm, healthy bool) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		h.discard(v)
		return
	}
	if !healthy {
		h.discard(v)
		nv := h.newVM()
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			nv.L.Close()
			return
		}
		h.count++
		h.vms[nv] = struct{}{}
		h.mu.Unlock()
		v = nv
	}
	h.idle <- v // never blocks: at most size VMs exist
}

func (h *Host) discard(v *vm) {
	h.mu.Lock()
	if _, ok := h.vms[v]; ok {
		delete(h.vms, v)
		h.count--
	}
	h.mu.Unlock()
	v.L.Close()
}

// abort stops the VM's running call, if any, with cause.
func (v *vm) abort(cause error) {
	v.mu.Lock()
	if v.cancel != nil {
		v.cancel(cause)
	}
	v.mu.Unlock()
}

// errMemory is the cause of a call the watchdog stopped.
type errMemory struct{ grew, limit uint64 }

func (e errMemory) Error() string {
	return fmt.Sprintf("the heap grew by %d MiB during the call (limit %d MiB): a memory bomb", e.grew>>20, e.limit>>20)
}

// callError describes why a call failed, naming the script and the call.
type callError struct {
	label   string
	timeout bool
	err     error
}

func (e *callError) Error() string { return "lua: " + e.label + ": " + e.err.Error() }
func (e *callError) Unwrap() error { return e.err }

// do runs body on a VM from the pool, with the script's table, under ctx's
// deadline (DefaultTimeout when ctx has none). label names the call in
// errors and logs ("resource/dummy monitor").
func (h *Host) do(ctx context.Context, s *script, call string, body func(v *vm, tbl *glua.LTable) error) error {
	label := call
	if s != nil {
		label = s.label + " " + call
	}
	start := time.Now()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.Timeout)
		defer cancel()
	}
	if s == nil || !s.granted {
		select {
		case h.ungranted <- struct{}{}:
		case <-h.done:
			return &callError{label: label, err: errClosed}
		case <-ctx.Done():
			return &callError{label: label, timeout: true, err: fmt.Errorf("the %d Lua VMs ungranted code may use stayed busy: %w", cap(h.ungranted), ctx.Err())}
		}
		defer func() { <-h.ungranted }()
	}
	v, err := h.get(ctx)
	if err != nil {
		return &callError{label: label, timeout: ctx.Err() != nil, err: err}
	}
	callCtx, cancel := context.WithCancelCause(ctx)
	seq, base := h.watch.enter()
	v.mu.Lock()
	v.label, v.cancel, v.seq, v.base, v.trusted = label, cancel, seq, base, s != nil && s.granted
	v.mu.Unlock()
	v.L.SetContext(callCtx)
	v.granted, v.eval = s != nil && s.granted, false

	panicked := false
	err = func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				panicked = true
				err = fmt.Errorf("the Lua VM failed (%v); the VM is replaced", r)
			}
		}()
		var tbl *glua.LTable
		if s != nil {
			if tbl, err = v.instantiate(s); err != nil {
				return err
			}
		}
		return body(v, tbl)
	}()
	v.closeLocks()

	v.L.RemoveContext()
	if !panicked {
		v.L.SetTop(0)
	}
	h.watch.leave()
	v.mu.Lock()
	v.cancel, v.out = nil, nil
	v.mu.Unlock()
	stopped := err != nil && callCtx.Err() != nil
	cause := context.Cause(callCtx)
	cancel(nil)
	healthy := !stopped && !panicked
	if healthy && h.memLimit > 0 {
		// What the scripts keep from call to call counts against the
		// limit too: a VM above it is replaced, its scripts' state lost.
		if kept := v.retained(uint64(h.memLimit)); kept > uint64(h.memLimit) {
			healthy = false
			h.log.Warn("lua: the VM's scripts keep more than the memory limit across calls: the VM is replaced and their state reset",
				"lua", label, "kept_mib", kept>>20, "limit_mib", h.memLimit>>20)
		}
	}
	h.put(v, healthy)
	if err == nil {
		return nil
	}
	if panicked {
		return &callError{label: label, err: err}
	}
	if stopped {
		var em errMemory
		switch {
		case errors.As(cause, &em):
			return &callError{label: label, err: fmt.Errorf("stopped: %w", cause)}
		case errors.Is(cause, errClosed):
			return &callError{label: label, err: cause}
		case errors.Is(cause, context.Canceled):
			return &callError{label: label, timeout: true, err: errors.New("stopped: the caller cancelled it")}
		default:
			dl, _ := ctx.Deadline()
			return &callError{label: label, timeout: true, err: fmt.Errorf("stopped at its deadline (%s): %w; it ran too long: fix the loop or raise the operation's timeout", dl.Sub(start).Round(time.Millisecond), cause)}
		}
	}
	return &callError{label: label, err: errors.New(errText(err))}
}

// printer takes print()'s output.
type printer interface {
	WriteString(s string) (int, error)
	WriteByte(c byte) error
}

// lineWriter adapts an io.Writer to printer.
type lineWriter struct{ w io.Writer }

func (l *lineWriter) WriteString(s string) (int, error) { return io.WriteString(l.w, s) }
func (l *lineWriter) WriteByte(c byte) error {
	_, err := l.w.Write([]byte{c})
	return err
}

// errText is the message of a Lua error without gopher-lua's stack trace.
func errText(err error) string {
	var ae *glua.ApiError
	if errors.As(err, &ae) && ae.Object != nil {
		return ae.Object.String()
	}
	return err.Error()
}

// instantiate returns the script's table in this VM, running its chunk the
// first time (each script gets its own environment: newEnv).
func (v *vm) instantiate(s *script) (*glua.LTable, error) {
	if s.gen != v.gen {
		clear(v.inst) // the scripts were reloaded: drop the old tables
		clear(v.envs)
		v.gen = s.gen
	}
	if t, ok := v.inst[s]; ok {
		return t, nil
	}
	L := v.L
	env := v.newEnv(s.granted)
	fn := L.NewFunctionFromProto(s.proto)
	fn.Env = env
	if err := L.CallByParam(glua.P{Fn: fn, NRet: 1, Protect: true}); err != nil {
		return nil, err
	}
	ret := L.Get(-1)
	L.Pop(1)
	t, ok := ret.(*glua.LTable)
	if !ok {
		return nil, fmt.Errorf("%s returned %s: a script returns a table of functions", s.file, ret.Type())
	}
	v.inst[s], v.envs[s] = t, env
	return t, nil
}

// callFn calls tbl[name](args...) and returns its nret results.
func (v *vm) callFn(tbl *glua.LTable, name string, nret int, args ...glua.LValue) ([]glua.LValue, error) {
	fn, ok := tbl.RawGetString(name).(*glua.LFunction)
	if !ok {
		return nil, fmt.Errorf("the script has no function %q", name)
	}
	L := v.L
	top := L.GetTop()
	if err := L.CallByParam(glua.P{Fn: fn, NRet: nret, Protect: true}, args...); err != nil {
		return nil, err
	}
	out := make([]glua.LValue, nret)
	for i := range nret {
		out[i] = L.Get(top + 1 + i)
	}
	L.SetTop(top)
	return out, nil
}
