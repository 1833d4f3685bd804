package stack

import (
	"fmt"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

// flushVersion is the version of the composite promise and plan encodings.
const flushVersion = 1

// flusher is membership's Flusher for a stack: the ordered broadcast's
// flush (bcast.Hooks) and the config DB's head. The promise carries
// bcast's flush state and this node's cdb.Head; the plan carries bcast's
// plan and every member's Head in member order, so every member computes
// the same cdb.ChooseSource at Install.
type flusher struct {
	b  bcast.Hooks
	db *cdb.DB
	// installed is called after bcast's Install with the view and the
	// source of its history (the stack starts the adoption once it knows
	// whether the view is primary).
	installed func(v wire.View, src wire.NodeID)
	// failed is called when the install of v fails (the view is installed
	// by membership all the same: the config DB must not stay on the old
	// one).
	failed func(v wire.View, err error)
	// mangle, set by tests, changes the plan a view is installed with
	// (a plan that does not decode makes bcast's install fail).
	mangle func(v wire.View, plan []byte) []byte
}

func putHead(w *wire.Writer, h cdb.Head) {
	w.Uvarint(h.Rev)
	w.Uvarint(h.View.Epoch)
	w.Uint16(uint16(h.View.Coord))
	w.Uvarint(h.Adopted.Epoch)
	w.Uint16(uint16(h.Adopted.Coord))
}

func getHead(r *wire.Reader) cdb.Head {
	var h cdb.Head
	h.Rev = r.Uvarint()
	h.View = wire.ViewID{Epoch: r.Uvarint(), Coord: wire.NodeID(r.Uint16())}
	h.Adopted = wire.ViewID{Epoch: r.Uvarint(), Coord: wire.NodeID(r.Uint16())}
	return h
}

// Propose implements membership.Flusher.
func (f *flusher) Propose(id wire.ViewID) []byte {
	var w wire.Writer
	w.Uint8(flushVersion)
	w.Bytes(f.b.Propose(id))
	putHead(&w, f.db.Head())
	return w
}

// splitState reads a composite promise state.
func splitState(b []byte) ([]byte, cdb.Head, error) {
	r := wire.NewReader(b)
	if v := r.Uint8(); v != flushVersion && r.Err() == nil {
		return nil, cdb.Head{}, fmt.Errorf("unknown flush state version %d", v)
	}
	st := r.Bytes()
	h := getHead(r)
	if r.Err() != nil {
		return nil, cdb.Head{}, r.Err()
	}
	if r.Len() != 0 {
		return nil, cdb.Head{}, fmt.Errorf("%d trailing bytes", r.Len())
	}
	return st, h, nil
}

// Complete implements membership.Flusher.
func (f *flusher) Complete(v wire.View, states [][]byte) ([]byte, error) {
	if len(states) != len(v.Members) {
		return nil, fmt.Errorf("stack: %d flush states for %d members", len(states), len(v.Members))
	}
	bs := make([][]byte, len(states))
	heads := make([]cdb.Head, len(states))
	for i, b := range states {
		st, h, err := splitState(b)
		if err != nil {
			return nil, fmt.Errorf("stack: flush state of n%d: %w", v.Members[i], err)
		}
		bs[i], heads[i] = st, h
	}
	plan, err := f.b.Complete(v, bs)
	if err != nil {
		return nil, err
	}
	var w wire.Writer
	w.Uint8(flushVersion)
	w.Bytes(plan)
	w.Uvarint(uint64(len(heads)))
	for _, h := range heads {
		putHead(&w, h)
	}
	return w, nil
}

// splitPlan reads a composite plan: bcast's plan and the members' heads.
func splitPlan(b []byte) ([]byte, []cdb.Head, error) {
	r := wire.NewReader(b)
	if v := r.Uint8(); v != flushVersion && r.Err() == nil {
		return nil, nil, fmt.Errorf("unknown flush plan version %d", v)
	}
	plan := r.Bytes()
	n := r.Uvarint()
	if n > 1<<16 {
		return nil, nil, fmt.Errorf("%d heads in a plan", n)
	}
	var heads []cdb.Head
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		heads = append(heads, getHead(r))
	}
	if r.Err() != nil {
		return nil, nil, r.Err()
	}
	if r.Len() != 0 {
		return nil, nil, fmt.Errorf("%d trailing bytes", r.Len())
	}
	return plan, heads, nil
}

// Install implements membership.Flusher.
func (f *flusher) Install(v wire.View, plan []byte) error {
	if f.mangle != nil {
		plan = f.mangle(v, plan)
	}
	err := f.install(v, plan)
	if err != nil && f.failed != nil {
		f.failed(v, err)
	}
	return err
}

func (f *flusher) install(v wire.View, plan []byte) error {
	p, heads, err := splitPlan(plan)
	if err != nil {
		return fmt.Errorf("stack: flush plan: %w", err)
	}
	if len(heads) != len(v.Members) {
		return fmt.Errorf("stack: flush plan: %d heads for %d members", len(heads), len(v.Members))
	}
	if err := f.b.Install(v, p); err != nil {
		return err
	}
	cands := make([]cdb.Candidate, len(heads))
	for i, h := range heads {
		cands[i] = cdb.Candidate{Node: v.Members[i], Head: h}
	}
	if f.installed != nil {
		f.installed(v, cdb.ChooseSource(cands))
	}
	return nil
}
