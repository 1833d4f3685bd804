package dlm_test

// Clients of sim_test.go and the checkers that judge what they are told.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/wire"
)

var simLockspaces = []string{"", "ls1"}
var simNames = []string{"a", "b", "c", "d"}

type opKind int

const (
	opNone opKind = iota
	opLock
	opConvert
	opUnlock
)

func (k opKind) String() string {
	return [...]string{"none", "lock", "convert", "unlock"}[k]
}

// clientLock is a client's view of one of its locks.
type clientLock struct {
	id       dlm.LockID
	ls, name string
	held     dlm.Mode // the granted mode the client believes it holds (IV: none yet)
	pend     opKind
	pendMode dlm.Mode
	pendFlg  dlm.Flags
	cancel   bool // a cancel was accepted for the pending op
	// issueOK, issueHist: the value block model when the pending op was
	// asked (what an NL/CR read it makes may return, see lvbModel)
	issueOK   map[string]bool
	issueHist int
	wrote     bool // the pending op writes the value block (at its call)
	persist   bool // taken with Persistent: its owner's death leaves an orphan
	noDlckWt  bool // some request of it had NoDlckWt (sticky, like Persistent)
	adopting  bool // the pending op adopts an orphan (Orphan flag)
}

type owner struct {
	o     dlm.Owner
	locks map[dlm.LockID]*clientLock
}

type resKey struct{ ls, name string }

type lockKey struct {
	node wire.NodeID
	inc  int
	id   dlm.LockID
}

// lvbModel is a resource's value block as a sequential model knows it.
// ok: what a read by a mode that excludes PW/EX holders (CW and up) may
// return now. hist: every value written (or invalidated, or freed) in
// order. An NL/CR read can race a PW holder's write in flight to the
// master, and its grant can be overtaken by later ones: it may return
// what ok allowed when it was asked, or anything written since.
// "invalid" is lvbInvalid.
type lvbModel struct {
	ok   map[string]bool
	hist []string
	// base, applied: what the last strong read saw, and len(hist) then:
	// the master may hold base or anything in hist[applied:].
	base    map[string]bool
	applied int
}

const lvbInvalid = "\x00invalid"

type checker struct {
	w      *world
	lvb    map[resKey]*lvbModel
	writes uint64
	purged map[dlm.Owner]bool
	// finished: locks whose unlock completed (for -dlmknown=lost-after-unlock)
	finished map[lockKey]bool
	// issuing: the new lock whose Lock call is being drained (a grant
	// in that Ready is a grant at issue)
	issuing *clientLock
	answers map[uint64]dlm.Answer
	// pendHighDown: resources with an unconfirmed down-conversion or unlock
	// from PW/EX, per node incarnation (their write may or may not have
	// reached the master when the node dies).
	pendHighDown map[[2]int]map[resKey]bool
}

func newChecker(w *world) *checker {
	return &checker{
		w: w, lvb: map[resKey]*lvbModel{}, purged: map[dlm.Owner]bool{},
		finished:     map[lockKey]bool{},
		pendHighDown: map[[2]int]map[resKey]bool{},
	}
}

func (c *checker) model(k resKey) *lvbModel {
	m := c.lvb[k]
	if m == nil {
		z := string(make([]byte, c.lvbLen(k.ls)))
		m = &lvbModel{ok: map[string]bool{z: true}, base: map[string]bool{z: true}}
		c.lvb[k] = m
	}
	return m
}

func (c *checker) lvbLen(ls string) int {
	if n, ok := c.w.cfgLV[ls]; ok {
		return n
	}
	return dlm.DefaultLVB
}

func (c *checker) newOwner(nd *simNode) {
	nd.nextOwner++
	nd.owners = append(nd.owners, &owner{
		o:     dlm.Owner{Node: nd.id, ID: uint64(nd.inc)<<32 | nd.nextOwner},
		locks: map[dlm.LockID]*clientLock{},
	})
}

// compatible is the matrix of `corral help dlm` section 1.
func compatible(a, b dlm.Mode) bool {
	if a < 0 || b < 0 {
		return true
	}
	m := [6][6]bool{
		{true, true, true, true, true, true},
		{true, true, true, true, true, false},
		{true, true, true, false, false, false},
		{true, true, false, true, false, false},
		{true, true, false, false, false, false},
		{true, false, false, false, false, false},
	}
	return m[a][b]
}

var modeNames = []string{"NL", "CR", "CW", "PR", "PW", "EX"}

func modeStr(m dlm.Mode) string {
	if m < 0 || int(m) >= len(modeNames) {
		return "IV"
	}
	return modeNames[m]
}

// ---- G5 ----

// orphanOwner stands for "no owner" in G5 reports: an orphan is held
// at its master until adopted or purged.
var orphanOwner = &owner{o: dlm.Owner{ID: 0}}

type belief struct {
	nd *simNode
	ow *owner
	l  *clientLock
}

// checkAll checks G5 on every resource: the modes live clients believe
// they hold are pairwise compatible. Live clients include those on
// cut-off and paused nodes (until Lost, their death or their node's).
func (c *checker) checkAll() {
	if c.w.failed != nil {
		return
	}
	by := map[resKey][]belief{}
	for _, nd := range c.w.nodes {
		if !nd.alive {
			continue
		}
		for _, ow := range nd.owners {
			for _, l := range ow.locks {
				if l.held >= dlm.NL {
					k := resKey{l.ls, l.name}
					by[k] = append(by[k], belief{nd, ow, l})
				}
			}
		}
		for _, l := range nd.orphans {
			k := resKey{l.ls, l.name}
			by[k] = append(by[k], belief{nd, orphanOwner, l})
		}
	}
	for k, bs := range by {
		for i := range bs {
			for j := i + 1; j < len(bs); j++ {
				if conflict(bs[i].l, bs[j].l) {
					c.w.fail("G5: resource %q/%q: node %d owner %d lock %d believes %s while node %d owner %d lock %d believes %s",
						k.ls, k.name, bs[i].nd.id, bs[i].ow.o.ID, bs[i].l.id, modeStr(bs[i].l.held),
						bs[j].nd.id, bs[j].ow.o.ID, bs[j].l.id, modeStr(bs[j].l.held))
					c.dumpResource(k)
					return
				}
			}
		}
	}
}

// conflict: two clients' beliefs cannot both be true at the master. A
// lock whose middle conversion (PR to CW or back) is pending may already
// be at its new mode there (the grant is on its way): it is at either.
func conflict(a, b *clientLock) bool {
	for _, x := range modesAtMaster(a) {
		for _, y := range modesAtMaster(b) {
			if compatible(x, y) {
				return false
			}
		}
	}
	return true
}

func modesAtMaster(l *clientLock) []dlm.Mode {
	if l.pend == opConvert && (l.held == dlm.PR && l.pendMode == dlm.CW || l.held == dlm.CW && l.pendMode == dlm.PR) {
		return []dlm.Mode{l.held, l.pendMode}
	}
	return []dlm.Mode{l.held}
}

// ---- client actions ----

func (c *checker) randMode() dlm.Mode {
	return []dlm.Mode{dlm.NL, dlm.CR, dlm.CR, dlm.CW, dlm.PR, dlm.PR, dlm.PW, dlm.EX, dlm.EX}[c.w.rng.IntN(9)]
}

func (c *checker) newValue(ls string) []byte {
	c.writes++
	b := make([]byte, c.lvbLen(ls))
	binary.BigEndian.PutUint64(b, c.writes)
	return b
}

// isDown: a down-conversion (PR to CW is a middle conversion, not one).
func isDown(from, to dlm.Mode) bool {
	return to < from && (from != dlm.PR || to != dlm.CW)
}

// writesLVB: a conversion from PW/EX writes the value block (the table's
// W), except PW to EX, which reads it.
func writesLVB(from, to dlm.Mode) bool {
	return from == dlm.EX || from == dlm.PW && to != dlm.EX
}

// quecvtOK is __quecvt_compat_matrix: up-conversions only.
func quecvtOK(from, to dlm.Mode) bool {
	switch from {
	case dlm.NL:
		return to >= dlm.CR
	case dlm.CR:
		return to >= dlm.CW
	case dlm.CW:
		return to >= dlm.PR
	case dlm.PR:
		return to == dlm.CW || to == dlm.PW || to == dlm.EX
	case dlm.PW:
		return to == dlm.EX
	}
	return false
}

// act lets a node's clients do something. With clients false (the quiet
// end) they only release what they hold.
func (c *checker) act(nd *simNode, mode clientMode) {
	w := c.w
	for _, ow := range slices.Clone(nd.owners) {
		if w.failed != nil || !nd.alive {
			return
		}
		switch mode {
		case clientsHold:
			continue
		case clientsActive:
			if w.rng.IntN(100) >= 8 {
				continue
			}
		case clientsDrain:
			if len(nd.orphans) > 0 {
				c.purgeOrphans(nd)
			}
			// drain: unlock every idle granted lock
			for _, id := range sortedIDs(ow) {
				l := ow.locks[id]
				if l.pend == opNone && l.held >= dlm.NL {
					c.unlock(nd, ow, l)
				}
				// A NoDlckWt request is out of the deadlock search: a
				// cycle through it is the client's to break (VMS), so
				// the draining client gives it up.
				if (l.pend == opLock || l.pend == opConvert) && (l.pendFlg&dlm.NoDlckWt != 0 || l.noDlckWt) && !l.cancel {
					c.cancel(nd, ow, l)
				}
			}
			continue
		}
		var idle, pending []*clientLock
		for _, id := range sortedIDs(ow) {
			l := ow.locks[id]
			if l.pend == opNone && l.held >= dlm.NL {
				idle = append(idle, l)
			}
			if (l.pend == opLock || l.pend == opConvert && l.pendMode > l.held) && !l.cancel {
				pending = append(pending, l)
			}
		}
		r := w.rng.IntN(100)
		switch {
		case r < 40:
			if len(ow.locks) < 3 {
				c.lock(nd, ow)
			}
		case r < 70:
			if len(idle) > 0 {
				c.convert(nd, ow, idle[w.rng.IntN(len(idle))])
			}
		case r < 92:
			if len(idle) > 0 {
				c.unlock(nd, ow, idle[w.rng.IntN(len(idle))])
			}
		default:
			if len(pending) > 0 {
				c.cancel(nd, ow, pending[w.rng.IntN(len(pending))])
			}
		}
	}
}

func sortedIDs(ow *owner) []dlm.LockID {
	ids := make([]dlm.LockID, 0, len(ow.locks))
	for id := range ow.locks {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (c *checker) lock(nd *simNode, ow *owner) {
	w := c.w
	if len(nd.orphans) > 0 && w.rng.IntN(3) == 0 {
		c.adopt(nd, ow)
		return
	}
	ls := simLockspaces[w.rng.IntN(len(simLockspaces))]
	name := simNames[w.rng.IntN(len(simNames))]
	mode := c.randMode()
	var fl dlm.Flags
	if w.rng.IntN(5) == 0 {
		fl |= dlm.NoQueue
	}
	if mode >= dlm.PW || w.rng.IntN(2) == 0 {
		fl |= dlm.ValBlk
	}
	if mode == dlm.NL && fl&dlm.NoQueue == 0 && w.rng.IntN(3) == 0 {
		fl |= dlm.Expedite
	}
	if mode == dlm.EX && w.rng.IntN(8) == 0 {
		fl |= dlm.AltPR
	}
	if (mode == dlm.PR || mode == dlm.PW) && w.rng.IntN(8) == 0 {
		fl |= dlm.AltCW
	}
	if w.rng.IntN(10) == 0 {
		fl |= dlm.NoDlckWt
	}
	if w.rng.IntN(6) == 0 {
		fl |= dlm.Persistent
	}
	req := dlm.Request{Lockspace: ls, Name: name, Mode: mode, Flags: fl, Owner: ow.o}
	snapOK, snapHist := c.snapshot(resKey{ls, name})
	id, err := nd.d.Lock(w.now, req)
	w.tracef("node %d owner %d: lock %q/%q %s flags %#x -> id %d err %v", nd.id, ow.o.ID, ls, name, modeStr(mode), uint32(fl), id, err)
	if err != nil {
		if !errors.Is(err, dlm.ErrBusy) {
			w.fail("node %d: Lock %+v: unexpected error %v", nd.id, req, err)
		}
		return
	}
	if _, dup := ow.locks[id]; dup || id == 0 {
		w.fail("node %d: Lock returned id %d already in use (or 0)", nd.id, id)
		return
	}
	if _, dup := nd.orphans[id]; dup {
		w.fail("node %d: Lock returned id %d, an orphan's", nd.id, id)
		return
	}
	nl := &clientLock{id: id, ls: ls, name: name, held: dlm.IV, pend: opLock, pendMode: mode, pendFlg: fl, persist: fl&dlm.Persistent != 0,
		issueOK: snapOK, issueHist: snapHist, noDlckWt: fl&dlm.NoDlckWt != 0}
	ow.locks[id] = nl
	c.issuing = nl
	w.drain(nd)
	c.issuing = nil
}

// adopt asks for an orphan of this node (Orphan): same name and mode
// adopts it (its id, completing OK), another mode completes EAGAIN on a
// new id, none is ErrNotFound.
func (c *checker) adopt(nd *simNode, ow *owner) {
	w := c.w
	ids := make([]dlm.LockID, 0, len(nd.orphans))
	for id := range nd.orphans {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	o := nd.orphans[ids[w.rng.IntN(len(ids))]]
	mode := o.held
	if w.rng.IntN(4) == 0 {
		mode = c.randMode()
	}
	req := dlm.Request{Lockspace: o.ls, Name: o.name, Mode: mode, Flags: dlm.Orphan, Owner: ow.o}
	id, err := nd.d.Lock(w.now, req)
	w.tracef("node %d owner %d: adopt %q/%q %s (orphan %d holds %s) -> id %d err %v", nd.id, ow.o.ID, o.ls, o.name, modeStr(mode), o.id, modeStr(o.held), id, err)
	if err != nil {
		if !errors.Is(err, dlm.ErrNotFound) && !errors.Is(err, dlm.ErrBusy) {
			w.fail("node %d: adopt %+v: unexpected error %v", nd.id, req, err)
		}
		if errors.Is(err, dlm.ErrNotFound) && mode == o.held {
			w.fail("node %d: adopt %+v: ErrNotFound, yet orphan %d holds %s", nd.id, req, o.id, modeStr(o.held))
		}
		return
	}
	if ad := nd.orphans[id]; ad != nil {
		if ad.held != mode || ad.name != o.name || ad.ls != o.ls {
			w.fail("node %d: adopt of %q/%q %s returned orphan %d (%q/%q %s)", nd.id, o.ls, o.name, modeStr(mode), id, ad.ls, ad.name, modeStr(ad.held))
			return
		}
		delete(nd.orphans, id)
		ad.pend, ad.pendMode, ad.pendFlg, ad.adopting, ad.cancel = opLock, mode, dlm.Orphan, true, false
		ow.locks[id] = ad
	} else {
		if _, dup := ow.locks[id]; dup || id == 0 {
			w.fail("node %d: adopt returned id %d already in use (or 0)", nd.id, id)
			return
		}
		ow.locks[id] = &clientLock{id: id, ls: o.ls, name: o.name, held: dlm.IV, pend: opLock, pendMode: mode, pendFlg: dlm.Orphan, adopting: true}
	}
	w.drain(nd)
}

func (c *checker) convert(nd *simNode, ow *owner, l *clientLock) {
	w := c.w
	to := c.randMode()
	if to == l.held {
		to = (to + 1) % 6
	}
	fl := dlm.Convert
	if to > l.held && quecvtOK(l.held, to) && w.rng.IntN(3) == 0 {
		fl |= dlm.QueCvt
	}
	if to > l.held && w.rng.IntN(5) == 0 {
		fl |= dlm.NoQueue
	}
	if to >= dlm.PW || l.held >= dlm.PW || w.rng.IntN(2) == 0 {
		fl |= dlm.ValBlk
	}
	if w.rng.IntN(10) == 0 {
		fl |= dlm.NoDlckWt
	}
	var val []byte
	write := false
	k := resKey{l.ls, l.name}
	if writesLVB(l.held, to) {
		if w.rng.IntN(6) == 0 {
			fl |= dlm.ValBlk | dlm.IVValBlk // Linux's convert needs VALBLK for IVVALBLK to act
		} else {
			val = c.newValue(l.ls)
			write = true
		}
	}
	req := dlm.Request{Lockspace: l.ls, Name: l.name, Mode: to, Flags: fl, Owner: ow.o, LVB: val, ID: l.id}
	snapOK, snapHist := c.snapshot(k)
	id, err := nd.d.Lock(w.now, req)
	w.tracef("node %d owner %d: convert %d %q/%q %s->%s flags %#x lvb %s err %v", nd.id, ow.o.ID, l.id, l.ls, l.name, modeStr(l.held), modeStr(to), uint32(fl), lvbStr(val), err)
	if err != nil {
		if !errors.Is(err, dlm.ErrBusy) {
			w.fail("node %d: convert %+v: unexpected error %v", nd.id, req, err)
		}
		return
	}
	if id != l.id {
		w.fail("node %d: convert of %d returned id %d", nd.id, l.id, id)
	}
	l.pend, l.pendMode, l.pendFlg, l.cancel, l.wrote = opConvert, to, fl, false, write
	l.issueOK, l.issueHist = snapOK, snapHist
	if fl&dlm.NoDlckWt != 0 {
		l.noDlckWt = true
	}
	if writesLVB(l.held, to) {
		c.wrote(nd, k, val, fl)
	}
	w.drain(nd)
}

// snapshot is the value block model when an operation is asked.
func (c *checker) snapshot(k resKey) (map[string]bool, int) {
	m := c.model(k)
	set := maps.Clone(m.base)
	for _, v := range m.hist[m.applied:] {
		set[v] = true
	}
	return set, len(m.hist)
}

// wrote applies a PW/EX release or down-conversion to the model at its
// call (it completes locally; the master applies it later).
func (c *checker) wrote(nd *simNode, k resKey, val []byte, fl dlm.Flags) {
	m := c.model(k)
	switch {
	case fl&dlm.IVValBlk != 0:
		m.ok = map[string]bool{lvbInvalid: true}
		m.hist = append(m.hist, lvbInvalid)
	case fl&dlm.ValBlk != 0:
		m.ok = map[string]bool{string(val): true}
		m.hist = append(m.hist, string(val))
	default:
		return
	}
	key := [2]int{int(nd.id), nd.inc}
	if c.pendHighDown[key] == nil {
		c.pendHighDown[key] = map[resKey]bool{}
	}
	c.pendHighDown[key][k] = true
}

func (c *checker) unlock(nd *simNode, ow *owner, l *clientLock) {
	w := c.w
	var fl dlm.Flags
	var val []byte
	if l.held >= dlm.PW {
		switch w.rng.IntN(5) {
		case 0:
			fl = dlm.ValBlk | dlm.IVValBlk
		case 1:
		default:
			fl = dlm.ValBlk
			val = c.newValue(l.ls)
		}
	}
	err := nd.d.Unlock(w.now, l.id, fl, val)
	w.tracef("node %d owner %d: unlock %d %q/%q (%s) flags %#x lvb %s err %v", nd.id, ow.o.ID, l.id, l.ls, l.name, modeStr(l.held), uint32(fl), lvbStr(val), err)
	if err != nil {
		if !errors.Is(err, dlm.ErrBusy) {
			w.fail("node %d: Unlock %d: unexpected error %v", nd.id, l.id, err)
		}
		return
	}
	l.pend, l.pendMode, l.pendFlg, l.cancel = opUnlock, dlm.IV, fl, false
	if l.held >= dlm.PW {
		c.wrote(nd, resKey{l.ls, l.name}, val, fl)
	}
	w.drain(nd)
}

func (c *checker) cancel(nd *simNode, ow *owner, l *clientLock) {
	w := c.w
	err := nd.d.Unlock(w.now, l.id, dlm.Cancel, nil)
	w.tracef("node %d owner %d: cancel %d (%s pending %s) err %v", nd.id, ow.o.ID, l.id, l.pend, modeStr(l.pendMode), err)
	if err != nil {
		if !errors.Is(err, dlm.ErrBusy) {
			w.fail("node %d: cancel %d: unexpected error %v", nd.id, l.id, err)
		}
		return
	}
	l.cancel = true
	w.drain(nd)
}

// ownerDies: a client process dies; its locks go (PurgeOwner) and a new
// owner takes its place.
func (c *checker) ownerDies(nd *simNode) {
	w := c.w
	if !nd.alive || len(nd.owners) == 0 {
		return
	}
	if len(nd.orphans) > 0 && w.rng.IntN(3) == 0 {
		c.purgeOrphans(nd)
		return
	}
	i := w.rng.IntN(len(nd.owners))
	ow := nd.owners[i]
	w.tracef("node %d: owner %d dies (PurgeOwner; %d locks)", nd.id, ow.o.ID, len(ow.locks))
	c.purged[ow.o] = true
	nd.owners = append(nd.owners[:i], nd.owners[i+1:]...)
	for _, id := range sortedIDs(ow) {
		l := ow.locks[id]
		if l.persist && l.pend == opNone && l.held >= dlm.NL {
			w.tracef("node %d: lock %d %q/%q (%s) becomes an orphan", nd.id, l.id, l.ls, l.name, modeStr(l.held))
			nd.orphans[l.id] = l
			continue
		}
		c.gone(nd, l, goneQuiet)
	}
	c.newOwner(nd)
	if err := nd.d.Step(w.now, dlm.PurgeOwner{Owner: ow.o}); err != nil {
		w.fail("node %d: PurgeOwner: %v", nd.id, err)
	}
	w.drain(nd)
}

// purgeOrphans releases every orphan of a node (PurgeOwner{Node, 0}).
func (c *checker) purgeOrphans(nd *simNode) {
	w := c.w
	w.tracef("node %d: purge its %d orphans", nd.id, len(nd.orphans))
	orphans := nd.orphans
	nd.orphans = map[dlm.LockID]*clientLock{}
	for _, l := range orphans {
		c.finished[lockKey{nd.id, nd.inc, l.id}] = true
		c.gone(nd, l, goneQuiet)
	}
	if err := nd.d.Step(w.now, dlm.PurgeOwner{Owner: dlm.Owner{Node: nd.id}}); err != nil {
		w.fail("node %d: PurgeOwner of its orphans: %v", nd.id, err)
	}
	w.drain(nd)
}

// nodeDied: every client of the node is gone with it. A PW/EX holder's
// value block is invalid from now on (the master purges it as dead).
func (c *checker) nodeDied(nd *simNode) {
	owners := nd.owners
	nd.owners = nil
	orphans := &owner{locks: nd.orphans}
	nd.orphans = map[dlm.LockID]*clientLock{}
	for _, ow := range append(owners, orphans) {
		for _, id := range sortedIDs(ow) {
			c.gone(nd, ow.locks[id], goneDead)
		}
	}
	key := [2]int{int(nd.id), nd.inc}
	for k := range c.pendHighDown[key] {
		m := c.model(k)
		m.ok[lvbInvalid] = true
		m.hist = append(m.hist, lvbInvalid)
	}
	delete(c.pendHighDown, key)
	nd.owners = nil
}

type goneHow int

const (
	goneQuiet goneHow = iota // its owner died (PurgeOwner): no write, no invalidation
	goneLost                 // Lost: the value block may be marked invalid
	goneDead                 // its node died: a PW/EX holder's value block must be marked invalid
)

// gone: a lock stops existing for its client.
func (c *checker) gone(nd *simNode, l *clientLock, how goneHow) {
	k := resKey{l.ls, l.name}
	m := c.model(k)
	if how != goneQuiet {
		if how == goneDead && (l.held >= dlm.PW && l.pend == opNone && l.pendFlg&(dlm.ValBlk|dlm.IVValBlk) != 0 || l.held >= dlm.PW && l.pend == opConvert && l.pendMode > l.held) {
			m.ok = map[string]bool{lvbInvalid: true}
			m.hist = append(m.hist, lvbInvalid)
		} else if l.held >= dlm.PW || l.pend != opNone && l.pendMode >= dlm.PW {
			m.ok[lvbInvalid] = true
			m.hist = append(m.hist, lvbInvalid)
		}
	}
	// Whether the resource may be freed (no lock left) is not known here:
	// a read of zeros is accepted once nothing is held (see freeCheck).
	c.freeCheck(k)
}

// freeCheck: when no live client has a lock on k, the resource may be
// freed, and with it its value block (a later read may see zeros).
func (c *checker) freeCheck(k resKey) {
	for _, nd := range c.w.nodes {
		if !nd.alive {
			continue
		}
		for _, ow := range nd.owners {
			for _, l := range ow.locks {
				// only granted locks keep the value: a request waiting or
				// in flight does not (the master frees it, scenario 34)
				if l.ls == k.ls && l.name == k.name && l.held >= dlm.NL {
					return
				}
			}
		}
		for _, l := range nd.orphans {
			if l.ls == k.ls && l.name == k.name {
				return
			}
		}
	}
	m := c.model(k)
	z := string(make([]byte, c.lvbLen(k.ls)))
	if !m.ok[z] {
		c.w.tracef("lvb model: %q/%q has no lock left: may be freed (zeros allowed)", k.ls, k.name)
	}
	m.ok[z] = true
	m.hist = append(m.hist, z)
}

// ---- completions and blocking notices ----

func (c *checker) findOwner(nd *simNode, o dlm.Owner) *owner {
	for _, ow := range nd.owners {
		if ow.o == o {
			return ow
		}
	}
	return nil
}

func (c *checker) completion(nd *simNode, cp dlm.Completion) {
	w := c.w
	w.stats.completions++
	w.tracef("node %d owner %d: completion lock %d status %s mode %s sb %#x lvb %s",
		nd.id, cp.Owner.ID, cp.ID, statusStr(cp.Status), modeStr(cp.Mode), uint8(cp.SB), lvbStr(cp.LVB))
	if cp.Owner.Node != nd.id {
		w.fail("node %d: completion for an owner of node %d", nd.id, cp.Owner.Node)
		return
	}
	if o := nd.orphans[cp.ID]; o != nil && cp.Status == dlm.Lost {
		delete(nd.orphans, cp.ID)
		c.gone(nd, o, goneLost)
		return
	}
	ow := c.findOwner(nd, cp.Owner)
	if ow == nil {
		if c.purged[cp.Owner] && cp.Status == dlm.Lost && knownBug("lost-after-unlock") {
			return
		}
		if c.purged[cp.Owner] {
			w.fail("node %d: completion %+v for owner %d after PurgeOwner (its clients get none)", nd.id, cp, cp.Owner.ID)
		} else {
			w.fail("node %d: completion %+v for an unknown owner", nd.id, cp)
		}
		return
	}
	l := ow.locks[cp.ID]
	if l == nil && cp.Status == dlm.Lost && c.finished[lockKey{nd.id, nd.inc, cp.ID}] && knownBug("lost-after-unlock") {
		return
	}
	if l == nil {
		w.fail("node %d: completion %+v for lock %d the owner does not have (a second completion, or after its unlock)", nd.id, cp, cp.ID)
		return
	}
	if cp.Status == dlm.Lost {
		delete(ow.locks, l.id)
		c.gone(nd, l, goneLost)
		return
	}
	switch l.pend {
	case opNone:
		w.fail("node %d: completion %+v for lock %d with no operation pending", nd.id, cp, l.id)
	case opLock:
		switch cp.Status {
		case dlm.OK:
			c.granted(nd, l, cp, dlm.IV)
		case dlm.EAGAIN:
			if l.pendFlg&(dlm.NoQueue|dlm.Orphan) == 0 {
				w.fail("node %d: lock %d: EAGAIN without NoQueue", nd.id, l.id)
			}
			delete(ow.locks, l.id)
			c.finished[lockKey{nd.id, nd.inc, l.id}] = true
			c.freeCheck(resKey{l.ls, l.name})
		case dlm.ECANCEL:
			if !l.cancel {
				w.fail("node %d: lock %d: ECANCEL without a cancel", nd.id, l.id)
			}
			delete(ow.locks, l.id)
			c.finished[lockKey{nd.id, nd.inc, l.id}] = true
			c.freeCheck(resKey{l.ls, l.name})
		case dlm.EDEADLK:
			if l.pendFlg&dlm.NoDlckWt != 0 {
				w.fail("node %d: lock %d: EDEADLK on a NoDlckWt request", nd.id, l.id)
			}
			delete(ow.locks, l.id)
			c.finished[lockKey{nd.id, nd.inc, l.id}] = true
			c.freeCheck(resKey{l.ls, l.name})
		default:
			w.fail("node %d: lock %d: status %s for a new lock", nd.id, l.id, statusStr(cp.Status))
		}
		if cp.Status != dlm.OK && cp.Mode != dlm.IV {
			w.fail("node %d: lock %d: failed new lock with mode %s (want IV)", nd.id, l.id, modeStr(cp.Mode))
		}
	case opConvert:
		switch cp.Status {
		case dlm.OK:
			c.granted(nd, l, cp, l.held)
		case dlm.EAGAIN, dlm.ECANCEL, dlm.EDEADLK:
			if cp.Status == dlm.EAGAIN && l.pendFlg&dlm.NoQueue == 0 {
				w.fail("node %d: convert %d: EAGAIN without NoQueue", nd.id, l.id)
			}
			if cp.Status == dlm.ECANCEL && !l.cancel {
				w.fail("node %d: convert %d: ECANCEL without a cancel", nd.id, l.id)
			}
			if cp.Status == dlm.EDEADLK && l.pendFlg&dlm.NoDlckWt != 0 {
				w.fail("node %d: convert %d: EDEADLK on a NoDlckWt request", nd.id, l.id)
			}
			if isDown(l.held, l.pendMode) {
				w.fail("node %d: convert %d: a down-conversion failed with %s", nd.id, l.id, statusStr(cp.Status))
			}
			if cp.Mode != l.held {
				w.fail("node %d: convert %d failed (%s) with mode %s; it holds %s", nd.id, l.id, statusStr(cp.Status), modeStr(cp.Mode), modeStr(l.held))
			}
			l.pend, l.cancel = opNone, false
		default:
			w.fail("node %d: convert %d: status %s", nd.id, l.id, statusStr(cp.Status))
		}
	case opUnlock:
		if cp.Status != dlm.EUNLOCK {
			w.fail("node %d: unlock %d: status %s (want EUNLOCK)", nd.id, l.id, statusStr(cp.Status))
		}
		c.finished[lockKey{nd.id, nd.inc, l.id}] = true
		delete(ow.locks, l.id)
		c.freeCheck(resKey{l.ls, l.name})
	}
}

// granted: an OK completion of a new lock (from IV) or a conversion.
func (c *checker) granted(nd *simNode, l *clientLock, cp dlm.Completion, from dlm.Mode) {
	w := c.w
	w.stats.grants++
	want := l.pendMode
	if cp.SB&dlm.AltMode != 0 {
		altOK := l.pendFlg&dlm.AltPR != 0 && cp.Mode == dlm.PR || l.pendFlg&dlm.AltCW != 0 && cp.Mode == dlm.CW
		if !altOK {
			w.fail("node %d: lock %d granted %s with AltMode; asked %s flags %#x", nd.id, l.id, modeStr(cp.Mode), modeStr(want), uint32(l.pendFlg))
		}
		want = cp.Mode
	}
	if cp.Mode != want {
		w.fail("node %d: lock %d granted %s; asked %s", nd.id, l.id, modeStr(cp.Mode), modeStr(l.pendMode))
	}
	if from == dlm.IV && l.pendFlg&(dlm.Expedite|dlm.Orphan) == 0 && c.issuing == l && c.w.recoveredIn == 0 {
		c.checkNewGrantOrder(nd, l)
	}
	l.held = cp.Mode
	l.pend, l.cancel = opNone, false
	if l.pendFlg&dlm.ValBlk == 0 {
		return
	}
	// The value block table (`corral help dlm` section 4): R?
	read := from <= dlm.NL || from <= dlm.PR && cp.Mode >= from || from == dlm.PW && cp.Mode == dlm.EX
	if !read {
		return
	}
	k := resKey{l.ls, l.name}
	m := c.model(k)
	got := string(cp.LVB)
	if cp.LVB == nil {
		got = string(make([]byte, c.lvbLen(l.ls)))
	}
	if len(got) != c.lvbLen(l.ls) {
		w.fail("node %d: lock %d read a value block of %d bytes; the lockspace's length is %d", nd.id, l.id, len(got), c.lvbLen(l.ls))
		return
	}
	if cp.SB&dlm.ValNotValid != 0 {
		got = lvbInvalid
	}
	strong := cp.Mode >= dlm.CW
	set := m.ok
	if !strong {
		set = maps.Clone(l.issueOK)
		for _, v := range m.hist[min(l.issueHist, len(m.hist)):] {
			set[v] = true
		}
	}
	if knownBug("lvb-zeros") && len(bytes.Trim([]byte(got), "\x00")) == 0 {
		got = lvbInvalid
	}
	if !set[got] && got != lvbInvalid {
		w.fail("value block: node %d lock %d %q/%q granted %s read %s; the model allows %s",
			nd.id, l.id, l.ls, l.name, modeStr(cp.Mode), lvbStr([]byte(got)), setStr(set))
		return
	}
	if strong {
		m.ok = map[string]bool{got: true}
		m.base, m.applied = map[string]bool{got: true}, len(m.hist)
	}
}

func (c *checker) blocking(nd *simNode, b dlm.Blocking) {
	w := c.w
	w.tracef("node %d owner %d: blocking lock %d mode %s", nd.id, b.Owner.ID, b.ID, modeStr(b.Mode))
	ow := c.findOwner(nd, b.Owner)
	if ow == nil {
		if c.purged[b.Owner] {
			return // the process is gone; a notice to it harms nobody
		}
		w.fail("node %d: blocking notice %+v for an unknown owner", nd.id, b)
		return
	}
	l := ow.locks[b.ID]
	if l == nil {
		w.fail("node %d: blocking notice %+v for lock %d the owner does not have (after its unlock completion or Lost)", nd.id, b, b.ID)
		return
	}
	if l.held < dlm.NL {
		w.fail("node %d: blocking notice %+v before lock %d's completion", nd.id, b, b.ID)
	}
}

func (c *checker) answer(nd *simNode, a dlm.Answer) {
	c.w.tracef("node %d: answer %d: %d resources, missing %v", nd.id, a.Tag, len(a.Resources), a.Missing)
	if c.answers == nil {
		c.answers = map[uint64]dlm.Answer{}
	}
	if _, dup := c.answers[a.Tag]; dup {
		c.w.fail("node %d: a second Answer for Ask %d", nd.id, a.Tag)
	}
	c.answers[a.Tag] = a
}

// checkAnswer: once faults stop, an Ask's Answer (the shell's `locks`)
// misses no member and shows each resource in use as its master holds it.
func (c *checker) checkAnswer(a dlm.Answer) {
	w := c.w
	if len(a.Missing) > 0 {
		w.fail("answer: members %v missing after the quiet period", a.Missing)
		return
	}
	for _, nd := range w.nodes {
		if !nd.alive {
			continue
		}
		for _, ls := range []string{"", "ls1"} {
			for _, ri := range nd.d.Locks(ls) {
				if ri.Master != nd.id || !sameLS(ri.Lockspace, ls) {
					continue
				}
				var got *dlm.ResourceInfo
				for i := range a.Resources {
					if a.Resources[i].Name == ri.Name && sameLS(a.Resources[i].Lockspace, ls) {
						if got != nil {
							w.fail("answer: %q/%q listed twice", ls, ri.Name)
							return
						}
						got = &a.Resources[i]
					}
				}
				if len(ri.Granted)+len(ri.Converting)+len(ri.Waiting) == 0 {
					continue
				}
				if got == nil {
					w.fail("answer: %q/%q (master %d: %s) is not in the answer", ls, ri.Name, nd.id, riStr(ri))
					return
				}
				if riStr(*got) != riStr(ri) {
					w.fail("answer: %q/%q is %s in the answer; its master %d holds %s", ls, ri.Name, riStr(*got), nd.id, riStr(ri))
					return
				}
			}
		}
	}
}

// ---- the end: liveness and masters ----

// busy reports the client locks still held or pending.
func (c *checker) busy() []string {
	var out []string
	for _, nd := range c.w.nodes {
		if !nd.alive {
			continue
		}
		for _, ow := range nd.owners {
			for _, id := range sortedIDs(ow) {
				l := ow.locks[id]
				out = append(out, fmt.Sprintf("node %d owner %d lock %d %q/%q held %s pending %s %s flags %#x",
					nd.id, ow.o.ID, l.id, l.ls, l.name, modeStr(l.held), l.pend, modeStr(l.pendMode), uint32(l.pendFlg)))
			}
		}
	}
	return out
}

// checkMasters: after the quiet period, each resource in use has exactly
// one master, every node agrees on it and on its directory node, the
// master's queues hold exactly the locks live clients hold (idle ones at
// their modes), and nothing else.
func (c *checker) checkMasters() {
	w := c.w
	type rep struct {
		node wire.NodeID
		ri   dlm.ResourceInfo
	}
	reps := map[resKey][]rep{}
	for _, nd := range w.nodes {
		if !nd.alive {
			continue
		}
		seen := map[resKey]bool{}
		for _, ls := range []string{"", "default", "ls1"} {
			for _, ri := range nd.d.Locks(ls) {
				k := resKey{ri.Lockspace, ri.Name}
				if k.ls == "default" {
					k.ls = ""
				}
				if seen[k] {
					continue
				}
				seen[k] = true
				reps[k] = append(reps[k], rep{nd.id, ri})
			}
		}
	}
	// client locks by resource
	type cl struct {
		nd *simNode
		l  *clientLock
	}
	held := map[resKey][]cl{}
	for _, nd := range w.nodes {
		if !nd.alive {
			continue
		}
		for _, ow := range nd.owners {
			for _, l := range ow.locks {
				k := resKey{l.ls, l.name}
				held[k] = append(held[k], cl{nd, l})
			}
		}
		for _, l := range nd.orphans {
			k := resKey{l.ls, l.name}
			held[k] = append(held[k], cl{nd, l})
		}
	}
	keys := make([]resKey, 0, len(held))
	for k := range held {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i].ls < keys[j].ls || keys[i].ls == keys[j].ls && keys[i].name < keys[j].name
	})
	for _, k := range keys {
		rs := reps[k]
		var masters []wire.NodeID
		var master *dlm.ResourceInfo
		for i := range rs {
			if rs[i].ri.Master == rs[i].node {
				masters = append(masters, rs[i].node)
				master = &rs[i].ri
			}
		}
		if len(masters) != 1 {
			w.fail("masters: resource %q/%q in use has %d masters %v (reports %s)", k.ls, k.name, len(masters), masters, repStr(rs))
			return
		}
		for _, r := range rs {
			if r.ri.Master != masters[0] {
				w.fail("masters: node %d thinks %q/%q is mastered by %d; the master is %d", r.node, k.ls, k.name, r.ri.Master, masters[0])
				return
			}
			if r.ri.Directory != master.Directory {
				w.fail("masters: node %d thinks %q/%q's directory is %d; the master says %d", r.node, k.ls, k.name, r.ri.Directory, master.Directory)
				return
			}
		}
		for _, x := range held[k] {
			if x.l.pend != opNone {
				continue
			}
			found := false
			for _, li := range master.Granted {
				if li.Node == x.nd.id && li.ID == x.l.id {
					found = true
					if li.Granted != x.l.held {
						w.fail("masters: %q/%q: node %d lock %d is %s at the master; its client holds %s", k.ls, k.name, x.nd.id, x.l.id, modeStr(li.Granted), modeStr(x.l.held))
						return
					}
				}
			}
			if !found {
				w.fail("masters: %q/%q: node %d lock %d (held %s) is not granted at master %d (%s)", k.ls, k.name, x.nd.id, x.l.id, modeStr(x.l.held), masters[0], riStr(*master))
				return
			}
		}
		for _, q := range [][]dlm.LockInfo{master.Granted, master.Converting, master.Waiting} {
			for _, li := range q {
				ok := false
				for _, x := range held[k] {
					if x.nd.id == li.Node && x.l.id == li.ID {
						ok = true
					}
				}
				if !ok && !li.Orphan {
					w.fail("masters: %q/%q: master %d holds lock %d of node %d that no live client has (%s)", k.ls, k.name, masters[0], li.ID, li.Node, riStr(*master))
					return
				}
			}
		}
	}
}

// ---- formatting ----

func statusStr(s dlm.Status) string {
	switch s {
	case dlm.OK:
		return "OK"
	case dlm.EAGAIN:
		return "EAGAIN"
	case dlm.EDEADLK:
		return "EDEADLK"
	case dlm.ECANCEL:
		return "ECANCEL"
	case dlm.EUNLOCK:
		return "EUNLOCK"
	case dlm.Lost:
		return "Lost"
	}
	return fmt.Sprintf("status(%#x)", int32(s))
}

func lvbStr(b []byte) string {
	if b == nil {
		return "-"
	}
	if string(b) == lvbInvalid {
		return "INVALID"
	}
	if len(bytes.Trim(b, "\x00")) == 0 {
		return "zeros"
	}
	if len(b) >= 8 {
		return fmt.Sprintf("v%d", binary.BigEndian.Uint64(b))
	}
	return fmt.Sprintf("%x", b)
}

func setStr(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, lvbStr([]byte(k)))
	}
	sort.Strings(out)
	return fmt.Sprint(out)
}

func riStr(ri dlm.ResourceInfo) string {
	s := fmt.Sprintf("master %d dir %d", ri.Master, ri.Directory)
	for _, q := range []struct {
		n  string
		ls []dlm.LockInfo
	}{{"G", ri.Granted}, {"C", ri.Converting}, {"W", ri.Waiting}} {
		for _, li := range q.ls {
			s += fmt.Sprintf(" %s[%d:%d %s->%s]", q.n, li.Node, li.ID, modeStr(li.Granted), modeStr(li.Wanted))
		}
	}
	return s
}

func repStr[T any](rs []T) string { return fmt.Sprintf("%+v", rs) }

// checkEmpty: once every client released everything, no node holds a lock.
func (c *checker) checkEmpty() {
	for _, nd := range c.w.nodes {
		if !nd.alive {
			continue
		}
		for _, ls := range []string{"", "ls1"} {
			for _, ri := range nd.d.Locks(ls) {
				if len(ri.Granted)+len(ri.Converting)+len(ri.Waiting) > 0 {
					c.w.fail("leak: every client released everything, yet node %d holds %q/%q: %s", nd.id, ri.Lockspace, ri.Name, riStr(ri))
					return
				}
			}
		}
	}
}

// dumpResource traces what every live node's Locks says of a resource.
func (c *checker) dumpResource(k resKey) {
	for _, nd := range c.w.nodes {
		if !nd.alive {
			continue
		}
		for _, ri := range nd.d.Locks(k.ls) {
			if ri.Name == k.name && sameLS(ri.Lockspace, k.ls) {
				c.w.tracef("node %d Locks(%q) %q: %s", nd.id, k.ls, ri.Name, riStr(ri))
			}
		}
	}
}

// checkNewGrantOrder: a new request is granted at issue only when no
// conversion is queued (VMS 6-4, rule 6 of `corral help dlm` section 2).
// Checked when the master is the requester's own node and the grant is
// in the Ready of the Lock call itself (the queues are those the grant
// left; a conversion queued ahead stays queued).
func (c *checker) checkNewGrantOrder(nd *simNode, l *clientLock) {
	for _, ri := range nd.d.Locks(l.ls) {
		if ri.Name != l.name || ri.Master != nd.id || !sameLS(ri.Lockspace, l.ls) {
			continue
		}
		if len(ri.Converting) > 0 {
			c.w.fail("grant order: node %d lock %d (new, %s) granted on %q/%q while conversions are queued at its master: %s",
				nd.id, l.id, modeStr(l.pendMode), l.ls, l.name, riStr(ri))
		}
	}
}

// sameLS: a ResourceInfo's lockspace is ls ("" is "default").
func sameLS(got, ls string) bool {
	return got == ls || ls == "" && got == "default"
}
