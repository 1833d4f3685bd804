package dlm

// The engine's tests: datadriven scripts in testdata/engine (one resource
// or a few, driven command by command; rewrite the expected output with
// -rewrite) and a randomized property test (engine_prop_test.go).
//
// Mutations tried on purpose, each caught (the first failing lines; all
// re-measured on the final engine):
//
//	M1  a new request ignores a queued conversion (VMS 6-4's "convert
//	    queue empty" dropped): grant_order:149 (C granted past A's queued
//	    conversion).
//	M2  highbast not reset on a grant: bast:150, cancel_unlock:91,
//	    conversions:20 (scenario 9), noqueue:94 (the doorbell re-arms).
//	M3  QUECVT ignores the convert queue: conversions:117 (scenario 12).
//	M4  a write does not clear the invalid flag: lvb:145 (scenario 32).
//	M5  no conversion-deadlock detection at issue: deadlock:21 (scen. 17).
//	M6  blocking notices to converting locks too: bast:92 (scenario 26),
//	    deadlock:94.
//	M7  no restart of the convert queue after a grant: recovery:117.
//	M8  the wait queue before the convert queue: grant_order:198.
//	M9  a freed resource keeps its value: lvb:208 (scenario 34) and
//	    TestEngineProperties (seed 4: read "v163", the model says zeros).
//	M10 NOQUEUE tells holders without NOQUEUEBAST: matrix:236, noqueue:60.
//	M11 a plain unlock of a lock with an operation pending accepted:
//	    cancel_unlock:74 (scenario 38), TestEngineProperties (seed 1).
//	M12 purge forgets recover_lvb's rule 1: recovery:29,
//	    TestEngineProperties (seed 10: a read of an invalid value without
//	    VALNOTVALID).
//	M13 a grant ignores its operation's value (opLVB): lvb:15,
//	    lvb_table:969, recovery:29, TestEngineProperties (seed 7).
//	M14 RSB_RECOVER_GRANT ignored: recovery:92.
//	M15 EXPEDITE ignored: grant_order:111 (scenario 5).
//	M16 ALTPR/ALTCW ignored: conversions:210 (scenario 16).
//	M17 CONVDEADLK gives EDEADLK instead of demoting: deadlock:57 (18).
//	M18 recoverConversion skipped: recovery:285 (a lock on the granted
//	    queue with no mode).
//	M19 a NODLCKWT conversion in a conversion deadlock not told:
//	    deadlock:94.
//	M20 recoverLVB takes a lock that never read the value as its source:
//	    recovery:360, TestEngineProperties (seed 31: recovery made zeros
//	    the valid value; the model has "v893").
//	M21 recoverLVB trusts a big lock whose value is stale: recovery:379
//	    (TestEngineProperties finds it with -engine.ops=1000, seed 1422).
//	M22 recoverLVB with no source leaves the value valid: recovery:204,
//	    TestEngineProperties (seed 2: a read of an invalid value without
//	    VALNOTVALID).

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/corral-ha/corral/core/wire"
)

// TestEngine runs the scripts in testdata/engine. Commands (NAME is a
// lock's name in the script; each name is one lock of its own owner, and a
// name whose lock has gone can be used again for a new lock):
//
//	resource [res=R] [ls=L] [lvblen=N]   a new empty resource (default R, lvblen 8)
//	lock NAME MODE [FLAG...] [lvb=V] [res=R] [node=N] [at=D]
//	convert NAME MODE [FLAG...] [lvb=V] [at=D]
//	unlock NAME [FLAG...] [lvb=V]
//	cancel NAME | victim NAME            cancel (ECANCEL) | deadlock victim (EDEADLK)
//	orphan NAME                           NAME's owner is gone: the lock is an orphan
//	adopt NAME MODE [res=R]               a new lock NAME adopts an orphan in MODE
//	purge node=N[,M]                      drop the locks of dead nodes
//	rebuild NAME gr=M [rq=M] q=granted|convert|wait [FLAG...] [lvb=V] [seq=S] [invalid] [stale] [node=N] [res=R]
//	recover-lvb [res=R] | grant-pending [res=R]
//	queues [res=R]                        the resource's queues and value block
//	validate MODE [FLAG...] [name=N] [ls=N]   validateLock: ok or the error
//	validate-unlock [FLAG...]             validateUnlock: ok or the error
//	validate-lvb len=N lvblen=M [FLAG...] validateLVB of an N-byte value: ok or the error
//
// FLAGs are the lower-case names of api.go's flags (noqueue, convert,
// valblk, quecvt, ivvalblk, convdeadlk, persistent, nodlckwt, expedite,
// noqueuebast, orphan, altpr, altcw, forceunlock, cancel); N in name=/ls=
// is a length in bytes. V is a string (the value block, padded with
// zeros). Each command prints its effects in order, one a line:
// "NAME: STATUS MODE [sb=..] [lvb=V seq=S]" for a completion, "NAME: bast
// MODE" for a blocking notice, "error: ..." for a refused operation, or
// "-" for nothing. After every command the harness checks the invariants
// (granted and converting modes pairwise compatible; no blocking notice to
// a lock without a granted mode; one completion per accepted operation).
func TestEngine(t *testing.T) {
	datadriven.Walk(t, "testdata/engine", func(t *testing.T, path string) {
		h := newEngineHarness()
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			out, err := h.run(d)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			if err := h.check(); err != nil {
				d.Fatalf(t, "invariant: %v", err)
			}
			return out
		})
	})
}

// engineHarness drives resources by name for the scripts.
type engineHarness struct {
	res     map[string]*rsb
	locks   map[string]lkey // a script name -> its current lock
	names   map[lkey]string
	res4    map[lkey]string // a lock's resource
	pending map[lkey]int    // accepted operations without their completion yet
	nextID  LockID
}

func newEngineHarness() *engineHarness {
	h := &engineHarness{res: map[string]*rsb{}, locks: map[string]lkey{}, names: map[lkey]string{},
		res4: map[lkey]string{}, pending: map[lkey]int{}}
	h.res["R"] = newRSB("", "R", 8)
	return h
}

var engFlagByName = map[string]Flags{
	"noqueue": NoQueue, "cancel": Cancel, "convert": Convert, "valblk": ValBlk, "quecvt": QueCvt,
	"ivvalblk": IVValBlk, "convdeadlk": ConvDeadlk, "persistent": Persistent, "nodlckwt": NoDlckWt,
	"expedite": Expedite, "noqueuebast": NoQueueBast, "orphan": Orphan, "altpr": AltPR,
	"altcw": AltCW, "forceunlock": ForceUnlock, "force": ForceUnlock,
}

var engModeByName = map[string]Mode{"nl": NL, "cr": CR, "cw": CW, "pr": PR, "pw": PW, "ex": EX, "iv": IV}

// engArgs is a command's parsed arguments.
type engArgs struct {
	pos   []string // positional (before any flag): name, mode
	flags Flags
	kv    map[string]string
	keys  map[string]bool
}

func engParseArgs(d *datadriven.TestData, npos int) (engArgs, error) {
	a := engArgs{kv: map[string]string{}, keys: map[string]bool{}}
	for i, c := range d.CmdArgs {
		if len(c.Vals) > 0 {
			a.kv[c.Key] = strings.Join(c.Vals, ",")
			continue
		}
		if i < npos {
			a.pos = append(a.pos, c.Key)
			continue
		}
		if f, ok := engFlagByName[c.Key]; ok {
			a.flags |= f
			continue
		}
		a.keys[c.Key] = true
	}
	if len(a.pos) < npos {
		return a, fmt.Errorf("%s needs %d positional arguments", d.Cmd, npos)
	}
	return a, nil
}

func engParseMode(s string) (Mode, error) {
	m, ok := engModeByName[strings.ToLower(s)]
	if !ok {
		return IV, fmt.Errorf("no mode %q", s)
	}
	return m, nil
}

func (h *engineHarness) resource(a engArgs) (*rsb, string, error) {
	name := a.kv["res"]
	if name == "" {
		name = "R"
	}
	r := h.res[name]
	if r == nil {
		return nil, name, fmt.Errorf("no resource %q (make it with `resource res=%s`)", name, name)
	}
	return r, name, nil
}

// engLVBArg is the value block V padded with zeros to the resource's length,
// nil when the command gives none.
func engLVBArg(a engArgs, r *rsb) []byte {
	v, ok := a.kv["lvb"]
	if !ok {
		return nil
	}
	b := make([]byte, r.lvbLen)
	copy(b, v)
	return b
}

func engAtArg(a engArgs) time.Duration {
	d, _ := time.ParseDuration(a.kv["at"])
	return d
}

func (h *engineHarness) newLock(name string, a engArgs, resName string) (*lkb, error) {
	if k, ok := h.locks[name]; ok {
		return nil, fmt.Errorf("lock %s exists (%v)", name, k)
	}
	node := wire.NodeID(1)
	if n := a.kv["node"]; n != "" {
		v, err := strconv.Atoi(n)
		if err != nil {
			return nil, err
		}
		node = wire.NodeID(v)
	}
	h.nextID++
	k := lkey{Node: node, ID: h.nextID}
	h.locks[name], h.names[k], h.res4[k] = k, name, resName
	return &lkb{key: k, owner: Owner{Node: node, ID: uint64(h.nextID)}}, nil
}

// key returns the lock a name stands for and its resource; a name
// without a lock stands for a lock id never given out, on resource R.
func (h *engineHarness) key(name string) (lkey, *rsb, error) {
	k, ok := h.locks[name]
	if !ok {
		if h.res["R"] == nil {
			return lkey{}, nil, fmt.Errorf("no lock %s and no resource R", name)
		}
		return lkey{Node: 1, ID: 1 << 40}, h.res["R"], nil
	}
	return k, h.res[h.res4[k]], nil
}

func (h *engineHarness) run(d *datadriven.TestData) (string, error) {
	switch d.Cmd {
	case "resource":
		a, _ := engParseArgs(d, 0)
		name := a.kv["res"]
		if name == "" {
			name = "R"
		}
		n := 8
		if v := a.kv["lvblen"]; v != "" {
			n, _ = strconv.Atoi(v)
		}
		h.res[name] = newRSB(a.kv["ls"], name, n)
		for k, rn := range h.res4 {
			if rn == name {
				h.forget(k)
			}
		}
		return "ok", nil

	case "lock":
		a, err := engParseArgs(d, 2)
		if err != nil {
			return "", err
		}
		mode, err := engParseMode(a.pos[1])
		if err != nil {
			return "", err
		}
		r, rn, err := h.resource(a)
		if err != nil {
			return "", err
		}
		if err := validateLock(Request{Lockspace: r.ls, Name: r.name, Mode: mode, Flags: a.flags}); err != nil {
			return "error: " + err.Error(), nil
		}
		l, err := h.newLock(a.pos[0], a, rn)
		if err != nil {
			return "", err
		}
		h.pending[l.key]++
		effs := r.request(engAtArg(a), l, mode, a.flags, engLVBArg(a, r))
		return h.effects(effs)

	case "convert":
		a, err := engParseArgs(d, 2)
		if err != nil {
			return "", err
		}
		mode, err := engParseMode(a.pos[1])
		if err != nil {
			return "", err
		}
		k, r, err := h.key(a.pos[0])
		if err != nil {
			return "", err
		}
		flags := a.flags | Convert
		if err := validateLock(Request{Name: r.name, Mode: mode, Flags: flags, ID: k.ID}); err != nil {
			return "error: " + err.Error(), nil
		}
		effs, err := r.convert(engAtArg(a), k, mode, flags, engLVBArg(a, r))
		if err != nil {
			return "error: " + err.Error(), nil
		}
		h.pending[k]++
		return h.effects(effs)

	case "unlock", "cancel", "victim":
		a, err := engParseArgs(d, 1)
		if err != nil {
			return "", err
		}
		k, r, err := h.key(a.pos[0])
		if err != nil {
			return "", err
		}
		var effs []effect
		switch d.Cmd {
		case "unlock":
			if err := validateUnlock(a.flags); err != nil {
				return "error: " + err.Error(), nil
			}
			effs, err = r.unlock(k, a.flags, engLVBArg(a, r))
		case "cancel":
			effs, err = r.cancel(k)
		case "victim":
			effs, err = r.deadlockVictim(k)
		}
		if err != nil {
			return "error: " + err.Error(), nil
		}
		// An unlock is one operation with one completion; a cancel's
		// completion (ECANCEL, or EDEADLK for a victim) is the one of the
		// operation it cancels.
		if d.Cmd == "unlock" && a.flags&Cancel == 0 {
			h.pending[k]++
		}
		return h.effects(effs)

	case "orphan":
		a, err := engParseArgs(d, 1)
		if err != nil {
			return "", err
		}
		k, r, err := h.key(a.pos[0])
		if err != nil {
			return "", err
		}
		l := r.find(k)
		if l == nil {
			return "", fmt.Errorf("no lock %s", a.pos[0])
		}
		l.orphan = true
		return "ok", nil

	case "adopt":
		a, err := engParseArgs(d, 2)
		if err != nil {
			return "", err
		}
		mode, err := engParseMode(a.pos[1])
		if err != nil {
			return "", err
		}
		r, rn, err := h.resource(a)
		if err != nil {
			return "", err
		}
		l, err := h.newLock(a.pos[0], a, rn)
		if err != nil {
			return "", err
		}
		e, err := r.adoptOrphan(engAtArg(a), l, mode)
		if err != nil {
			h.forget(l.key)
			return "error: " + err.Error(), nil
		}
		if e.key != l.key {
			return "", fmt.Errorf("adopt's completion is for %v, not %v", e.key, l.key)
		}
		// The adopted lock keeps its place; the old name is gone.
		for name, k := range h.locks {
			if k != l.key && r.find(k) == nil && h.res4[k] == rn && h.pending[k] == 0 {
				delete(h.locks, name)
			}
		}
		h.pending[l.key]++
		return h.effects([]effect{e})

	case "purge":
		a, _ := engParseArgs(d, 0)
		dead := map[wire.NodeID]bool{}
		for _, s := range strings.Split(a.kv["node"], ",") {
			v, err := strconv.Atoi(s)
			if err != nil {
				return "", err
			}
			dead[wire.NodeID(v)] = true
		}
		for _, rn := range slices.Sorted(maps.Keys(h.res)) {
			h.res[rn].purge(func(n wire.NodeID) bool { return dead[n] })
		}
		for k := range h.names {
			if dead[k.Node] {
				h.forget(k)
			}
		}
		return "ok", nil

	case "rebuild":
		a, err := engParseArgs(d, 1)
		if err != nil {
			return "", err
		}
		r, rn, err := h.resource(a)
		if err != nil {
			return "", err
		}
		l, err := h.newLock(a.pos[0], a, rn)
		if err != nil {
			return "", err
		}
		if l.gr, err = engParseMode(a.kv["gr"]); err != nil {
			return "", err
		}
		l.rq = IV
		if s := a.kv["rq"]; s != "" {
			if l.rq, err = engParseMode(s); err != nil {
				return "", err
			}
			if a.kv["q"] != "granted" { // on the granted queue: its holder resends it
				h.pending[l.key]++
			}
		}
		switch a.kv["q"] {
		case "granted", "":
			l.q = qGranted
		case "convert":
			l.q = qConvert
		case "wait":
			l.q = qWait
		default:
			return "", fmt.Errorf("q=%s", a.kv["q"])
		}
		l.flags = a.flags
		l.lvb = engLVBArg(a, r)
		if s := a.kv["seq"]; s != "" {
			l.lvbSeq, _ = strconv.ParseUint(s, 10, 64)
		}
		l.lvbInvalid = a.keys["invalid"]
		l.lvbStale = a.keys["stale"]
		r.rebuild(l)
		return "ok", nil

	case "recover-lvb":
		a, _ := engParseArgs(d, 0)
		r, _, err := h.resource(a)
		if err != nil {
			return "", err
		}
		r.recoverLVB()
		return h.queues(r), nil

	case "grant-pending":
		a, _ := engParseArgs(d, 0)
		r, _, err := h.resource(a)
		if err != nil {
			return "", err
		}
		return h.effects(r.grantPending(engAtArg(a)))

	case "queues":
		a, _ := engParseArgs(d, 0)
		r, _, err := h.resource(a)
		if err != nil {
			return "", err
		}
		return h.queues(r), nil

	case "validate":
		a, err := engParseArgs(d, 1)
		if err != nil {
			return "", err
		}
		mode, err := engParseMode(a.pos[0])
		if err != nil {
			return "", err
		}
		n, _ := strconv.Atoi(a.kv["name"])
		ln, _ := strconv.Atoi(a.kv["ls"])
		req := Request{Lockspace: strings.Repeat("l", ln), Name: strings.Repeat("n", n), Mode: mode, Flags: a.flags}
		if err := validateLock(req); err != nil {
			return "error: " + err.Error(), nil
		}
		return "ok", nil

	case "validate-lvb":
		a, _ := engParseArgs(d, 0)
		n, _ := strconv.Atoi(a.kv["len"])
		ln, _ := strconv.Atoi(a.kv["lvblen"])
		if err := validateLVB(a.flags, make([]byte, n), ln); err != nil {
			return "error: " + err.Error(), nil
		}
		return "ok", nil

	case "validate-unlock":
		a, _ := engParseArgs(d, 0)
		if err := validateUnlock(a.flags); err != nil {
			return "error: " + err.Error(), nil
		}
		return "ok", nil
	}
	return "", fmt.Errorf("unknown command %q", d.Cmd)
}

// forget drops a lock that has left its resource from the name table.
func (h *engineHarness) forget(k lkey) {
	if name, ok := h.names[k]; ok && h.locks[name] == k {
		delete(h.locks, name)
	}
	delete(h.pending, k)
}

// effects prints effs and does the bookkeeping: completions end pending
// operations, and a lock that has left its resource frees its name.
func (h *engineHarness) effects(effs []effect) (string, error) {
	if len(effs) == 0 {
		return "-", nil
	}
	var b strings.Builder
	for _, e := range effs {
		name, ok := h.names[e.key]
		if !ok {
			return "", fmt.Errorf("effect for an unknown lock %v", e.key)
		}
		if e.bast {
			if l := h.res[h.res4[e.key]].find(e.key); l == nil || l.gr == IV {
				return "", fmt.Errorf("%s: a blocking notice to a lock without a granted mode", name)
			}
			fmt.Fprintf(&b, "%s: bast %s\n", name, e.mode)
			continue
		}
		fmt.Fprintf(&b, "%s: %s %s", name, e.status, e.mode)
		if e.sb != 0 {
			fmt.Fprintf(&b, " sb=%s", e.sb)
		}
		if e.lvb != nil {
			fmt.Fprintf(&b, " lvb=%s seq=%d", engShowLVB(e.lvb), e.lvbSeq)
		}
		b.WriteString("\n")
		h.pending[e.key]--
		if h.pending[e.key] < 0 {
			return "", fmt.Errorf("%s: a completion without an operation pending", name)
		}
		if r := h.res[h.res4[e.key]]; r != nil && r.find(e.key) == nil && h.pending[e.key] == 0 {
			h.forget(e.key)
		}
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// engShowLVB prints a value block: its text without the zero padding, or 0
// for all zeros.
func engShowLVB(v []byte) string {
	t := bytes.TrimRight(v, "\x00")
	if len(t) == 0 {
		return "0"
	}
	return fmt.Sprintf("%q", t)
}

// queues prints a resource's queues and value block.
func (h *engineHarness) queues(r *rsb) string {
	var b strings.Builder
	line := func(title string, q []*lkb, conv bool) {
		fmt.Fprintf(&b, "%s:", title)
		for _, l := range q {
			fmt.Fprintf(&b, " %s=%s", h.names[l.key], l.gr)
			if l.rq != IV || conv {
				fmt.Fprintf(&b, ">%s", l.rq)
			}
			if l.orphan {
				b.WriteString("(orphan)")
			}
		}
		b.WriteString("\n")
	}
	line("granted", r.granted, false)
	line("converting", r.converting, true)
	line("waiting", r.waiting, true)
	valid := "valid"
	if r.invalid {
		valid = "invalid"
	}
	fmt.Fprintf(&b, "lvb: %s seq=%d %s", engShowLVB(r.value()), r.lvbSeq, valid)
	return b.String()
}

// check verifies every resource's invariants, and that every lock has
// exactly one operation without its completion while it is queued, none
// otherwise.
func (h *engineHarness) check() error {
	for _, rn := range slices.Sorted(maps.Keys(h.res)) {
		if h.res[rn].recoverGrant {
			continue // being rebuilt: checked after the grant pass
		}
		if err := engCheckRSB(h.res[rn]); err != nil {
			return fmt.Errorf("resource %s: %w", rn, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(h.locks)) {
		k := h.locks[name]
		if h.res[h.res4[k]].recoverGrant {
			continue
		}
		want := 0
		if l := h.res[h.res4[k]].find(k); l != nil && l.q != qGranted {
			want = 1
		}
		if h.pending[k] != want {
			return fmt.Errorf("lock %s: %d operations pending, want %d", name, h.pending[k], want)
		}
	}
	return nil
}

// engCheckRSB verifies one resource's invariants: the modes held (granted
// queue, and the granted modes of converting locks) are pairwise
// compatible (G5); every lock is on the queue it says; granted locks have
// nothing pending, converting ones hold a mode and want another, waiting
// ones hold none.
func engCheckRSB(r *rsb) error {
	var held []*lkb
	for _, l := range r.granted {
		if l.q != qGranted || l.gr == IV || l.rq != IV {
			return fmt.Errorf("granted queue: lock %v q=%d gr=%s rq=%s", l.key, l.q, l.gr, l.rq)
		}
		held = append(held, l)
	}
	for _, l := range r.converting {
		if l.q != qConvert || l.gr == IV || l.rq == IV {
			return fmt.Errorf("convert queue: lock %v q=%d gr=%s rq=%s", l.key, l.q, l.gr, l.rq)
		}
		held = append(held, l)
	}
	for _, l := range r.waiting {
		if l.q != qWait || l.gr != IV || l.rq == IV {
			return fmt.Errorf("wait queue: lock %v q=%d gr=%s rq=%s", l.key, l.q, l.gr, l.rq)
		}
	}
	for i, a := range held {
		for _, b := range held[i+1:] {
			if !compatible(a.gr, b.gr) {
				return fmt.Errorf("locks %v (%s) and %v (%s) both held", a.key, a.gr, b.key, b.gr)
			}
		}
	}
	return nil
}
