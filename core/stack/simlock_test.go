package stack_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/stack"
	"github.com/corral-ha/corral/core/wire"
)

// The lock clients of TestSimulation and their checks (the DLM's G5).
//
// Every running incarnation has simLockers lock clients (each its own
// owner) that lock, convert, unlock and cancel at random on a few names
// in every mode, most with value blocks: an exclusive holder (PW, EX)
// writes a value of its own when it unlocks or converts down. A paused
// node's clients are paused with it. Checked:
//
//   - G5: whenever a client learns of a grant, the modes believed held on
//     that resource by the clients of every live incarnation (cut-off and
//     paused ones too) are pairwise compatible. A client believes in a
//     lock from its grant until it unlocks it or converts it down (it
//     stops using it at the call), or the lock manager tells it the lock
//     is Lost; an incarnation's clients die with it. During a conversion
//     between PR and CW (the middle one: neither mode holds the other,
//     and the master may grant it, and others what fits the new mode,
//     before the completion arrives) a client uses only CR.
//   - Value blocks: a grant that reads the value block in a mode that
//     excludes every writer (CW, PR, PW, EX) reads the last value written
//     in the sequential order of the calls, or says ValNotValid. Allowed
//     besides: a write by an incarnation that died before its master took
//     it is lost (the writes before it stand), and a resource every lock
//     left may have been forgotten (zeros).
//   - One completion per operation: a completion comes only for an
//     operation in flight on its lock (or Lost for a held lock), with a
//     status that fits the operation.
//   - Liveness: once the faults stop and the cluster converged, the
//     clients release everything; every request completes (a deadlock
//     between clients is broken by the deadlock search).

// simLockers is the number of lock clients per incarnation; simLockNames
// the resources they use (in the default lockspace).
const simLockers = 2

var simLockNames = []string{"r1", "r2", "r3"}

// simLockWorld is the lock clients' part of the world.
type simLockWorld struct {
	rng    *rand.Rand // the clients' own source (the schedule's is not disturbed)
	load   bool       // clients start new requests
	models map[string]*simLVB
	seq    int
	// stats
	ops, grants, lost, deadlocks, cancels, recoveries int
}

// simLVB is a resource's value block in the sequential model: the writes
// since the last one a reader saw (hist[0]).
type simLVB struct {
	hist     []simLVBWrite
	mayReset bool // every lock left since the last write: may be forgotten
	anyOK    bool // a reader was told ValNotValid since the last write
}

type simLVBWrite struct {
	val  []byte
	node int
	boot uint32
}

// simLocker is one lock client on one incarnation.
type simLocker struct {
	nd    *simNode
	name  string
	owner dlm.Owner
	locks map[dlm.LockID]*simLock
}

type simLockOp int

const (
	opNone simLockOp = iota
	opLock
	opConvert
	opUnlock
)

type simLock struct {
	res    string
	flags  dlm.Flags
	belief dlm.Mode // the mode the client relies on (IV: none)
	mode   dlm.Mode // the mode granted, as the completions said
	op     simLockOp
	want   dlm.Mode
	read   bool // the operation in flight reads the value block
	cancel bool // a cancel was asked for the operation in flight
}

// lockStream is the second word of the lock clients' source: another
// stream changes every schedule (a wider sweep; the default sweep passes
// with 37).
var lockStream = flag.Uint64("lockstream", 37, "stack sim: the lock clients' random stream")

func newSimLockWorld(seed int64) *simLockWorld {
	return &simLockWorld{rng: rand.New(rand.NewPCG(uint64(seed), *lockStream)), load: true, models: map[string]*simLVB{}}
}

// compatible is the mode compatibility matrix.
func compatible(a, b dlm.Mode) bool {
	if a == dlm.IV || b == dlm.IV || a == dlm.NL || b == dlm.NL {
		return true
	}
	ok := map[dlm.Mode][]dlm.Mode{
		dlm.CR: {dlm.CR, dlm.CW, dlm.PR, dlm.PW},
		dlm.CW: {dlm.CR, dlm.CW},
		dlm.PR: {dlm.CR, dlm.PR},
		dlm.PW: {dlm.CR},
		dlm.EX: {},
	}
	return slices.Contains(ok[a], b)
}

// downConversion: a conversion to a lower mode that is not the middle
// one (PR to CW): it completes at once and the client stops using the
// higher mode at the call.
func downConversion(from, to dlm.Mode) bool {
	return to < from && (from != dlm.PR || to != dlm.CW)
}

// writes: a holder of PW or EX writes the value block when it converts
// down or unlocks with ValBlk.
func writes(held dlm.Mode) bool { return held == dlm.PW || held == dlm.EX }

// lockers returns the incarnation's clients (made at its first tick).
func (nd *simNode) lockClients() []*simLocker {
	if nd.lockers == nil {
		for i := range simLockers {
			nd.lockers = append(nd.lockers, &simLocker{nd: nd, name: fmt.Sprintf("n%d/%d:l%d", nd.h.ID(), nd.h.Boot(), i+1),
				owner: dlm.Owner{Node: wire.NodeID(nd.h.ID()), ID: uint64(nd.h.Boot())<<8 | uint64(i+1)}, locks: map[dlm.LockID]*simLock{}})
		}
	}
	return nd.lockers
}

// tickLocks lets a client of every running, unpaused node act now and
// then (about 3 operations a second a node: each costs rounds of the
// stack on its node and its master's, the sweep's time).
func (w *simWorld) tickLocks() {
	for id := 1; id <= w.n; id++ {
		nd := w.running(id)
		if nd == nil || w.s.Paused(id) {
			continue
		}
		switch ls := nd.lockClients(); {
		case !w.lk.load:
			for _, l := range ls {
				if len(l.locks) > 0 {
					nd.request(l.act) // release what it holds
				}
			}
		case w.lk.rng.IntN(6) == 0:
			nd.request(ls[w.lk.rng.IntN(len(ls))].act)
		}
	}
	w.s.After(50*time.Millisecond, w.tickLocks)
}

// lockBusy reports the clients' locks and requests (for the liveness
// check: none once they released everything).
func (w *simWorld) lockBusy() []string {
	var out []string
	for id := 1; id <= w.n; id++ {
		nd := w.running(id)
		if nd == nil {
			continue
		}
		for _, l := range nd.lockers {
			for _, lid := range sortedLockIDs(l.locks) {
				k := l.locks[lid]
				out = append(out, fmt.Sprintf("%s lock %d on %s mode %v op %d want %v", l.name, lid, k.res, k.mode, k.op, k.want))
			}
		}
	}
	return out
}

func sortedLockIDs(m map[dlm.LockID]*simLock) []dlm.LockID {
	var ids []dlm.LockID
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

var simModes = []dlm.Mode{dlm.NL, dlm.CR, dlm.CW, dlm.PR, dlm.PR, dlm.PW, dlm.EX, dlm.EX, dlm.EX}

// act is one client's step (on its node's loop): a new lock, a
// conversion, an unlock or a cancel; with the load off, unlock what it
// holds.
func (l *simLocker) act() {
	w := l.nd.w
	lk := w.lk
	rng := lk.rng
	if !l.nd.live() {
		return
	}
	if !lk.load {
		for _, id := range sortedLockIDs(l.locks) {
			if k := l.locks[id]; k.op == opNone {
				l.unlock(id, k)
			}
		}
		return
	}
	ids := sortedLockIDs(l.locks)
	switch r := rng.IntN(10); {
	case r < 4 && len(ids) < 2:
		res := simLockNames[rng.IntN(len(simLockNames))]
		for _, k := range l.locks {
			if k.res == res {
				return // one lock per name and client
			}
		}
		k := &simLock{res: res, mode: dlm.IV, belief: dlm.IV, op: opLock, want: simModes[rng.IntN(len(simModes))], read: true}
		if rng.IntN(10) < 7 {
			k.flags |= dlm.ValBlk
		}
		if rng.IntN(7) == 0 {
			k.flags |= dlm.NoQueue
		}
		id, err := l.nd.st.LockDLM(l.nd.h.Now(), dlm.Request{Name: res, Mode: k.want, Flags: k.flags, Owner: l.owner})
		if err != nil {
			l.refused("lock", err)
			return
		}
		lk.ops++
		l.locks[id] = k
		w.logf("%s lock %d %s %v flags %v", l.name, id, res, k.want, k.flags)
	case len(ids) == 0:
	default:
		id := ids[rng.IntN(len(ids))]
		k := l.locks[id]
		switch {
		case k.op == opLock || k.op == opConvert:
			if !k.cancel && rng.IntN(3) == 0 {
				if err := l.nd.st.UnlockDLM(l.nd.h.Now(), id, dlm.Cancel, nil); err != nil {
					if !errors.Is(err, dlm.ErrBusy) {
						l.refused("cancel", err)
					}
					return
				}
				k.cancel = true
				lk.cancels++
				w.logf("%s cancel %d", l.name, id)
			}
		case k.op != opNone:
		case rng.IntN(2) == 0:
			l.unlock(id, k)
		default:
			l.convert(id, k, simModes[rng.IntN(len(simModes))])
		}
	}
}

// value is a new value block for a write.
func (l *simLocker) value() []byte {
	lk := l.nd.w.lk
	lk.seq++
	v := make([]byte, dlm.DefaultLVB)
	copy(v, fmt.Sprintf("%s#%d", l.name, lk.seq))
	return v
}

// write records a write in the sequential model (at the call).
func (l *simLocker) write(res string, v []byte) {
	m := l.nd.w.lk.model(res)
	m.hist = append(m.hist, simLVBWrite{val: v, node: l.nd.h.ID(), boot: l.nd.h.Boot()})
	m.mayReset, m.anyOK = false, false
}

func (lk *simLockWorld) model(res string) *simLVB {
	m := lk.models[res]
	if m == nil {
		m = &simLVB{hist: []simLVBWrite{{val: make([]byte, dlm.DefaultLVB)}}}
		lk.models[res] = m
	}
	return m
}

func (l *simLocker) unlock(id dlm.LockID, k *simLock) {
	var flags dlm.Flags
	var v []byte
	if k.flags&dlm.ValBlk != 0 && writes(k.mode) {
		flags, v = dlm.ValBlk, l.value()
	}
	if err := l.nd.st.UnlockDLM(l.nd.h.Now(), id, flags, v); err != nil {
		l.refused("unlock", err)
		return
	}
	l.nd.w.lk.ops++
	if v != nil {
		l.write(k.res, v)
	}
	k.op, k.belief, k.want = opUnlock, dlm.IV, dlm.IV
	l.nd.w.logf("%s unlock %d %s (held %v) value %q", l.name, id, k.res, k.mode, bytes.TrimRight(v, "\x00"))
}

func (l *simLocker) convert(id dlm.LockID, k *simLock, to dlm.Mode) {
	if to == k.mode {
		return
	}
	flags := dlm.Convert | k.flags&dlm.ValBlk
	if l.nd.w.lk.rng.IntN(7) == 0 {
		flags |= dlm.NoQueue
	}
	var v []byte
	down := downConversion(k.mode, to)
	if flags&dlm.ValBlk != 0 && writes(k.mode) && to <= k.mode {
		v = l.value()
	}
	_, err := l.nd.st.LockDLM(l.nd.h.Now(), dlm.Request{Name: k.res, Mode: to, Flags: flags, Owner: l.owner, ID: id, LVB: v})
	if err != nil {
		l.refused("convert", err)
		return
	}
	l.nd.w.lk.ops++
	if v != nil {
		l.write(k.res, v)
	}
	k.op, k.want, k.cancel = opConvert, to, false
	// Linux's value block table: a conversion up from NL, CR, CW or PR
	// reads, so does PW to EX; PR to CW does nothing
	k.read = (k.mode <= dlm.PR && to >= k.mode) || (k.mode == dlm.PW && to == dlm.EX)
	switch {
	case down:
		k.belief = to
	case to < k.mode || k.mode < to && (k.mode == dlm.CW && to == dlm.PR):
		// the middle conversion (PR and CW, either way): neither mode
		// holds the other, and the master may grant the new one (and
		// others what fits it) before the completion comes, so the client
		// uses only what both allow (CR) meanwhile
		k.belief = dlm.CR
	}
	l.nd.w.logf("%s convert %d %s %v -> %v flags %v value %q", l.name, id, k.res, k.mode, to, flags, bytes.TrimRight(v, "\x00"))
}

// refused: a request the lock manager did not accept. A stopped stack
// (a self-fence under way) and a busy lock are the schedule's; anything
// else is a bug of the client's requests or of the lock manager.
func (l *simLocker) refused(what string, err error) {
	if errors.Is(err, stack.ErrStopped) || errors.Is(err, stack.ErrLeaving) || errors.Is(err, dlm.ErrBusy) || errors.Is(err, dlm.ErrStopped) {
		return
	}
	l.nd.w.fatalf("%s: %s refused: %v", l.name, what, err)
}

// dlmReady takes the lock manager's part of a Ready: completions to the
// clients (checked), blocking notices counted.
func (nd *simNode) dlmReady(rd *stack.Ready) {
	for _, c := range rd.DLMCompletions {
		nd.complete(c)
	}
}

// complete checks and applies one completion.
func (nd *simNode) complete(c dlm.Completion) {
	w := nd.w
	var l *simLocker
	for _, x := range nd.lockClients() {
		if x.owner == c.Owner {
			l = x
		}
	}
	if l == nil {
		w.fatalf("n%d: completion %+v for an owner no client of this incarnation is", nd.h.ID(), c)
	}
	k := l.locks[c.ID]
	if k == nil {
		w.fatalf("one completion per operation: %s got %+v for no lock of its own", l.name, c)
	}
	w.logf("%s completion %d %s status %v mode %v sb %v value %q", l.name, c.ID, k.res, c.Status, c.Mode, c.SB, bytes.TrimRight(c.LVB, "\x00"))
	op := k.op
	if c.Status == dlm.Lost {
		w.lk.lost++
		l.drop(c.ID, k)
		return
	}
	switch {
	case op == opNone:
		w.fatalf("one completion per operation: %s got %+v for lock %d with no operation in flight", l.name, c, c.ID)
	case op == opUnlock && c.Status != dlm.EUNLOCK:
		w.fatalf("%s: the unlock of %d completed with %v, want EUNLOCK", l.name, c.ID, c.Status)
	case op == opUnlock:
		l.drop(c.ID, k)
	case c.Status == dlm.OK:
		if c.Mode != k.want {
			w.fatalf("%s: lock %d granted %v, asked %v", l.name, c.ID, c.Mode, k.want)
		}
		w.maybeForgotten(k.res, k)
		k.op, k.mode, k.belief, k.cancel = opNone, c.Mode, c.Mode, false
		w.lk.grants++
		w.checkG5(l, c.ID, k)
		if k.flags&dlm.ValBlk != 0 && k.read && simCheckLVB {
			w.checkLVB(l, c, k)
		}
	case c.Status == dlm.EAGAIN || c.Status == dlm.ECANCEL || c.Status == dlm.EDEADLK:
		if c.Status == dlm.EDEADLK {
			w.lk.deadlocks++
		}
		if c.Status == dlm.ECANCEL && !k.cancel {
			w.fatalf("%s: lock %d cancelled (%+v) though nobody asked", l.name, c.ID, c)
		}
		if op == opLock {
			if c.Mode != dlm.IV {
				w.fatalf("%s: a new lock %d failed (%v) but holds %v", l.name, c.ID, c.Status, c.Mode)
			}
			l.drop(c.ID, k)
			return
		}
		if c.Mode != k.mode {
			w.fatalf("%s: a failed conversion of %d (%v) left mode %v, it held %v", l.name, c.ID, c.Status, c.Mode, k.mode)
		}
		k.op, k.belief, k.cancel = opNone, c.Mode, false
	default:
		w.fatalf("%s: lock %d completed with status %v for operation %d", l.name, c.ID, c.Status, op)
	}
}

// drop forgets a lock; a resource on which no live client holds a
// granted lock may have been forgotten by its master (the value block
// with it: it lives while some lock is on the resource, as VMS's; a
// request on its way does not keep it).
func (l *simLocker) drop(id dlm.LockID, k *simLock) {
	delete(l.locks, id)
	l.nd.w.maybeForgotten(k.res, nil)
}

// maybeForgotten notes that res may have been forgotten when no live
// client but except holds a granted lock on it. Asked at every drop and
// before every grant is applied: an incarnation that died took its locks
// with it between two of these, and any lock granted since the resource
// was forgotten passed here.
func (w *simWorld) maybeForgotten(res string, except *simLock) {
	for i := 1; i <= w.n; i++ {
		if nd := w.running(i); nd != nil {
			for _, x := range nd.lockers {
				for _, o := range x.locks {
					if o != except && o.res == res && o.mode != dlm.IV {
						return
					}
				}
			}
		}
	}
	w.lk.model(res).mayReset = true
}

// checkG5: the modes live clients believe they hold on k's resource are
// pairwise compatible with k's new grant.
func (w *simWorld) checkG5(l *simLocker, id dlm.LockID, k *simLock) {
	for i := 1; i <= w.n; i++ {
		nd := w.running(i)
		if nd == nil {
			continue
		}
		for _, x := range nd.lockers {
			for _, oid := range sortedLockIDs(x.locks) {
				o := x.locks[oid]
				if o == k || o.res != k.res || compatible(o.belief, k.belief) {
					continue
				}
				w.fatalf("G5: %s is granted %v on %s (lock %d) while %s believes it holds %v (lock %d)",
					l.name, k.belief, k.res, id, x.name, o.belief, oid)
			}
		}
	}
}

// checkLVB: a reading grant reads the model's value (a lost write of a
// dead incarnation aside), zeros when the resource may have been
// forgotten, or is told ValNotValid.
func (w *simWorld) checkLVB(l *simLocker, c dlm.Completion, k *simLock) {
	m := w.lk.model(k.res)
	if c.SB&dlm.ValNotValid != 0 {
		m.anyOK = true
		return
	}
	if c.Mode < dlm.CW || m.anyOK {
		return // a CR or NL reader may overlap a writer
	}
	got := make([]byte, dlm.DefaultLVB)
	copy(got, c.LVB)
	for i := len(m.hist) - 1; i >= 0; i-- {
		if bytes.Equal(m.hist[i].val, got) {
			m.hist = m.hist[i:]
			m.mayReset = false
			return
		}
		wr := m.hist[i]
		if i == 0 || (wr.node != 0 && w.running(wr.node) != nil && w.running(wr.node).h.Boot() == wr.boot) {
			break // a write of a live incarnation is not lost
		}
	}
	if m.mayReset && bytes.Equal(got, make([]byte, dlm.DefaultLVB)) {
		m.hist, m.mayReset = []simLVBWrite{{val: got}}, false
		return
	}
	var want []string
	for _, h := range m.hist {
		want = append(want, fmt.Sprintf("%q (n%d boot %d)", bytes.TrimRight(h.val, "\x00"), h.node, h.boot))
	}
	w.fatalf("value block: %s is granted %v on %s (lock %d) reading %q; the sequential model has %v (may reset %v)",
		l.name, c.Mode, k.res, c.ID, bytes.TrimRight(got, "\x00"), want, m.mayReset)
}

// simCheckLVB turns the value block check on (a switch for a hunt after
// another bug).
const simCheckLVB = true
