package dlm

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

var (
	engineSeeds   = flag.Int("engine.seeds", 300, "TestEngineProperties: how many seeds to run")
	engineSeed    = flag.Uint64("engine.seed", 0, "TestEngineProperties: run only this seed")
	engineOps     = flag.Int("engine.ops", 300, "TestEngineProperties: operations per seed")
	engineRecover = flag.Bool("engine.recover", true, "TestEngineProperties: now and then a new master rebuilds the resource from the clients")
)

// TestEngineProperties drives one resource with random operations of
// random clients and checks, after every operation, from what the
// clients are told (the effects, in order):
//
//   - the modes the clients believe they hold are pairwise compatible
//     (G5; a client with a CONVDEADLK conversion pending may have been
//     demoted, so it counts as NL), and the engine's own queues hold
//     compatible modes;
//   - exactly one completion per accepted operation, none for a refused one;
//   - a blocking notice only to a client that holds a granted mode (so
//     never before its lock's completion, never after its unlock);
//   - every value block read equals a sequential model of the writes, or
//     carries VALNOTVALID;
//   - at the end, once every lock is force-unlocked, the resource is empty;
//   - now and then the master "dies" and a new one rebuilds the resource
//     from what the clients were told (rebuild, recoverLVB, grantPending,
//     then the pending operations resent): the checks above go on, and a
//     value the recovery calls valid is the model's; and now and then a
//     client node dies and the master purges its locks.
//
// A failure prints the seed and the command that replays it.
func TestEngineProperties(t *testing.T) {
	if *engineSeed != 0 {
		runEngineProperties(t, *engineSeed, *engineOps)
		return
	}
	for seed := uint64(1); seed <= uint64(*engineSeeds); seed++ {
		if !runEngineProperties(t, seed, *engineOps) {
			return
		}
	}
}

// engClient is one client's view: its lock as it was told.
type engClient struct {
	key     lkey
	has     bool  // it has a lock (granted, or a request in flight)
	mode    Mode  // the granted mode it was told (IV: none yet)
	pending int   // operations accepted without their completion yet
	op      Flags // the pending operation's flags
	wantLVB []byte
	lvbFlag Flags // ValBlk, IVValBlk of its last lock or conversion: an unlock uses them too, as in Linux
	// For a recovery: the pending operation (a new request or a
	// conversion, to resend), and the value the lock last read or wrote.
	opMode Mode
	opNew  bool
	lvb    []byte
	lvbSeq uint64
	lvbInv bool
	stale  bool // it has held CR or less since it last read or wrote the value
}

// engLVBModel is the sequential model of the value block.
type engLVBModel struct {
	val   []byte // nil: zeros
	valid bool
}

func runEngineProperties(t *testing.T, seed uint64, ops int) bool {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed*7919+1))
	const lvbLen = 8
	r := newRSB("", "R", lvbLen)
	clients := make([]*engClient, 2+rng.IntN(5))
	for i := range clients {
		clients[i] = &engClient{}
	}
	model := engLVBModel{valid: true}
	var next LockID
	var trace []string
	fail := func(format string, args ...any) bool {
		t.Errorf("seed %d: %s\nreplay: go test ./core/dlm -run TestEngineProperties -engine.seed=%d -engine.ops=%d\nlast operations:\n  %s",
			seed, fmt.Sprintf(format, args...), seed, ops, strings.Join(engTail(trace, 60), "\n  "))
		return false
	}
	byKey := func(k lkey) *engClient {
		for _, c := range clients {
			if c.has && c.key == k {
				return c
			}
		}
		return nil
	}
	randMode := func() Mode { return Mode(rng.IntN(6)) }
	randValue := func() []byte {
		v := make([]byte, lvbLen)
		copy(v, fmt.Sprintf("v%d", rng.IntN(1000)))
		return v
	}
	someFlags := func(choices ...Flags) Flags {
		var f Flags
		for _, c := range choices {
			if rng.IntN(4) == 0 {
				f |= c
			}
		}
		return f
	}

	// apply processes effects in order, as the clients see them.
	apply := func(effs []effect) bool {
		for _, e := range effs {
			if e.bast {
				trace = append(trace, fmt.Sprintf("  -> %v bast %s", e.key, e.mode))
			} else {
				trace = append(trace, fmt.Sprintf("  -> %v %s %s sb=%s lvb=%q", e.key, e.status, e.mode, e.sb, e.lvb))
			}
			c := byKey(e.key)
			if c == nil {
				return fail("effect %+v for no client's lock", e)
			}
			if e.bast {
				if c.mode == IV {
					return fail("blocking notice to %v, which holds no granted mode", e.key)
				}
				continue
			}
			if c.pending == 0 {
				return fail("completion %s for %v with no operation pending", e.status, e.key)
			}
			c.pending--
			old := c.mode
			if e.sb&Demoted != 0 && old != IV {
				old = NL // demoted before the grant: nothing written from the old mode
			}
			switch e.status {
			case OK:
				if e.lvb != nil {
					c.lvb, c.lvbSeq, c.lvbInv, c.stale = e.lvb, e.lvbSeq, e.sb&ValNotValid != 0, false
					if c.op&ValBlk == 0 {
						return fail("a value read without VALBLK")
					}
					if e.sb&ValNotValid == 0 {
						if !model.valid {
							return fail("read of an invalid value without VALNOTVALID")
						}
						want := make([]byte, lvbLen)
						copy(want, model.val)
						if !bytes.Equal(e.lvb, want) {
							return fail("read %q, the model says %q", e.lvb, want)
						}
					}
				}
				// A write (the table's W: from PW or EX, but PW->EX reads).
				if old >= PW && (old != PW || e.mode != EX) {
					if c.op&IVValBlk != 0 {
						model.valid = false
						c.lvbInv = true
					} else if c.op&ValBlk != 0 && c.wantLVB != nil {
						model.val, model.valid = c.wantLVB, true
						c.lvb, c.lvbSeq, c.lvbInv, c.stale = c.wantLVB, e.lvbSeq, false, false
					}
				}
				c.mode = e.mode
				if c.mode <= CR {
					c.stale = true
				}
			case EAGAIN, EDEADLK, ECANCEL:
				c.mode = e.mode
				if c.mode == IV {
					c.has = c.pending > 0
				}
			case EUNLOCK:
				if old >= PW {
					f := c.op | c.lvbFlag
					if f&IVValBlk != 0 {
						model.valid = false
					} else if f&ValBlk != 0 && c.wantLVB != nil {
						model.val, model.valid = c.wantLVB, true
					}
				}
				c.mode, c.has = IV, false
			default:
				return fail("unexpected status %s", e.status)
			}
			if c.mode != IV && c.mode <= CR {
				c.stale = true
			}
		}
		// The resource forgets its value when no lock is left.
		if r.empty() {
			model = engLVBModel{valid: true}
		}
		return true
	}

	check := func() bool {
		if err := engCheckRSB(r); err != nil {
			return fail("queues: %v", err)
		}
		for i, a := range clients {
			for _, b := range clients[i+1:] {
				ma, mb := engBelieved(a), engBelieved(b)
				if !compatible(ma, mb) {
					return fail("clients %v (%s) and %v (%s) both believe they hold", a.key, ma, b.key, mb)
				}
			}
			// The engine agrees with what a client was told once nothing
			// is pending.
			if a.has && a.pending == 0 {
				l := r.find(a.key)
				if l == nil || l.gr != a.mode || l.q != qGranted {
					return fail("client %v told %s; the engine has %+v", a.key, a.mode, l)
				}
			}
		}
		return true
	}

	// recoverMaster replaces the resource by one a new master rebuilds from
	// what the clients were told (their process copies): every lock with a
	// granted mode at that mode (NL when a CONVDEADLK conversion is pending:
	// it may have been demoted), with the value it last read or wrote;
	// then the value block is recovered, the grant pass ignores order, and
	// the pending requests and conversions are resent.
	recoverMaster := func() bool {
		trace = append(trace, "recover")
		r2 := newRSB("", "R", lvbLen)
		for _, c := range clients {
			if !c.has {
				continue
			}
			gr := c.mode
			if gr != IV && c.pending > 0 && !c.opNew && c.op&ConvDeadlk != 0 {
				gr = NL
			}
			if gr == IV {
				continue // a new request: resent below
			}
			r2.rebuild(&lkb{key: c.key, owner: Owner{Node: c.key.Node, ID: uint64(c.key.ID)}, gr: gr, rq: IV,
				q: qGranted, flags: c.lvbFlag, lvb: c.lvb, lvbSeq: c.lvbSeq, lvbInvalid: c.lvbInv, lvbStale: c.stale, highbast: IV})
		}
		r2.recoverLVB()
		if !r2.invalid && model.valid {
			want := make([]byte, lvbLen)
			copy(want, model.val)
			if !bytes.Equal(r2.value(), want) {
				return fail("recovery made %q the valid value; the model has %q", r2.value(), want)
			}
		}
		r = r2
		if !apply(r.grantPending(0)) {
			return false
		}
		for _, c := range clients {
			if !c.has || c.pending == 0 {
				continue
			}
			if c.opNew {
				trace = append(trace, fmt.Sprintf("resend lock %v %s %s", c.key, c.opMode, c.op))
				if !apply(r.request(0, &lkb{key: c.key, owner: Owner{Node: c.key.Node, ID: uint64(c.key.ID)}}, c.opMode, c.op, nil)) {
					return false
				}
				continue
			}
			trace = append(trace, fmt.Sprintf("resend convert %v %s %s", c.key, c.opMode, c.op))
			effs, err := r.convert(0, c.key, c.opMode, c.op, c.wantLVB)
			if err != nil {
				return fail("resent conversion: %v", err)
			}
			if !apply(effs) {
				return false
			}
		}
		return true
	}

	// purgeNode drops a dead node's locks at the surviving master: its
	// clients are gone (no completions); a dead PW/EX VALBLK holder makes
	// the value invalid (rule 1); the grant pass ignores order once.
	purgeNode := func(n wire.NodeID) bool {
		trace = append(trace, fmt.Sprintf("purge node %d", n))
		for _, c := range clients {
			if !c.has || c.key.Node != n {
				continue
			}
			if engBelieved(c) >= PW && c.lvbFlag&ValBlk != 0 {
				model.valid = false
			}
			c.has, c.pending, c.mode = false, 0, IV
		}
		r.purge(func(x wire.NodeID) bool { return x == n })
		return apply(r.grantPending(0))
	}

	for step := 0; step < ops; step++ {
		if *engineRecover && rng.IntN(40) == 0 {
			if !recoverMaster() || !check() {
				return false
			}
			continue
		}
		if *engineRecover && rng.IntN(60) == 0 {
			if !purgeNode(wire.NodeID(1+rng.IntN(3))) || !check() {
				return false
			}
			continue
		}
		c := clients[rng.IntN(len(clients))]
		switch {
		case !c.has: // a new lock
			mode := randMode()
			flags := someFlags(NoQueue, ValBlk, NoQueueBast, AltPR, AltCW, NoDlckWt, IVValBlk)
			if mode == NL && rng.IntN(3) == 0 {
				flags = flags&^NoQueue | Expedite
			}
			if validateLock(Request{Name: "R", Mode: mode, Flags: flags}) != nil {
				continue
			}
			next++
			c.key = lkey{Node: wire.NodeID(1 + rng.IntN(3)), ID: next}
			c.has, c.mode, c.pending, c.op, c.wantLVB = true, IV, 1, flags, nil
			c.lvbFlag = flags & (ValBlk | IVValBlk)
			c.opMode, c.opNew, c.lvb, c.lvbSeq, c.lvbInv, c.stale = mode, true, nil, 0, false, false
			trace = append(trace, fmt.Sprintf("lock %v %s %s", c.key, mode, flags))
			if !apply(r.request(0, &lkb{key: c.key, owner: Owner{Node: c.key.Node, ID: uint64(c.key.ID)}}, mode, flags, nil)) {
				return false
			}
		case rng.IntN(3) == 0: // a conversion
			mode := randMode()
			flags := Convert | someFlags(NoQueue, ValBlk, QueCvt, ConvDeadlk, NoQueueBast, AltPR, AltCW, IVValBlk, NoDlckWt)
			if flags&ConvDeadlk != 0 {
				flags &^= NoQueue
			}
			if validateLock(Request{Name: "R", Mode: mode, Flags: flags, ID: c.key.ID}) != nil {
				continue
			}
			var lvb []byte
			if flags&ValBlk != 0 && rng.IntN(2) == 0 {
				lvb = randValue()
			}
			trace = append(trace, fmt.Sprintf("convert %v %s %s lvb=%q", c.key, mode, flags, lvb))
			effs, err := r.convert(0, c.key, mode, flags, lvb)
			// What the client expects: EINVAL for a conversion the QUECVT
			// table refuses (from the mode it holds; a demoted one may hold
			// NL), EBUSY with an operation pending, else acceptance.
			invalid := flags&QueCvt != 0 && !quecvtAllowed(c.mode, mode)
			demotable := c.pending > 0 && c.op&ConvDeadlk != 0
			switch {
			case invalid && errors.Is(err, ErrInvalid):
			case demotable && (errors.Is(err, ErrInvalid) || errors.Is(err, ErrBusy)):
			case !invalid && c.pending > 0 && errors.Is(err, ErrBusy):
			case invalid || c.pending > 0 || err != nil:
				return fail("conversion %s->%s (pending %d): got %v", c.mode, mode, c.pending, err)
			}
			if err != nil {
				if len(effs) != 0 {
					return fail("a refused conversion had effects")
				}
				continue
			}
			c.lvbFlag = flags & (ValBlk | IVValBlk)
			c.pending++
			c.op, c.wantLVB = flags, lvb
			c.opMode, c.opNew = mode, false
			if !apply(effs) {
				return false
			}
		case rng.IntN(3) == 0: // cancel, or a deadlock victim
			victim := rng.IntN(4) == 0
			trace = append(trace, fmt.Sprintf("cancel %v victim=%v", c.key, victim))
			var effs []effect
			var err error
			if victim {
				effs, err = r.deadlockVictim(c.key)
			} else {
				effs, err = r.cancel(c.key)
			}
			if err != nil {
				return fail("cancel: %v", err)
			}
			if c.pending == 0 && len(effs) != 0 {
				return fail("a cancel with nothing pending had effects")
			}
			if !apply(effs) {
				return false
			}
		default: // unlock, sometimes forced
			flags := someFlags(ForceUnlock, ValBlk, IVValBlk)
			var lvb []byte
			if rng.IntN(2) == 0 {
				lvb = randValue()
			}
			trace = append(trace, fmt.Sprintf("unlock %v %s lvb=%q", c.key, flags, lvb))
			effs, err := r.unlock(c.key, flags, lvb)
			if c.pending > 0 && flags&ForceUnlock == 0 {
				if !errors.Is(err, ErrBusy) {
					return fail("unlock with an operation pending: %v, want EBUSY", err)
				}
				continue
			}
			if err != nil {
				return fail("unlock: %v", err)
			}
			c.pending++
			c.op = flags
			c.wantLVB = lvb
			if !apply(effs) {
				return false
			}
		}
		if !check() {
			return false
		}
	}
	// The end: every lock goes; every operation has had its completion.
	for _, c := range clients {
		if !c.has {
			continue
		}
		trace = append(trace, fmt.Sprintf("unlock %v FORCEUNLOCK", c.key))
		effs, err := r.unlock(c.key, ForceUnlock, nil)
		if err != nil {
			return fail("final unlock: %v", err)
		}
		c.pending++
		c.op, c.wantLVB = ForceUnlock, nil
		if !apply(effs) || !check() {
			return false
		}
	}
	for _, c := range clients {
		if c.has || c.pending != 0 {
			return fail("client %v: has=%v pending=%d at the end", c.key, c.has, c.pending)
		}
	}
	if !r.empty() {
		return fail("resource not empty at the end")
	}
	return true
}

// engBelieved is the mode a client must assume it holds.
func engBelieved(c *engClient) Mode {
	if !c.has {
		return IV
	}
	if c.pending > 0 && c.op&ConvDeadlk != 0 && c.mode != IV {
		return NL // it may have been demoted
	}
	return c.mode
}

func engTail(s []string, n int) []string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
