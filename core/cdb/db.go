package cdb

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// Config configures a DB.
type Config struct {
	Self         wire.NodeID
	History      int    // changes kept for the shell (default 100)
	CompactEvery uint64 // committed entries after which the log is folded into a snapshot (default 10000)
	ChunkEntries int    // entries per transfer chunk (default 1024)
	// AskAgain is how long a linearizable read waits for the coordinator's
	// ReadIndex before it sends its ReadAsk again (the ask or the answer
	// may be lost on the way: a full send queue drops it). Default 1 s.
	AskAgain time.Duration
}

// Delivery is one bcast delivery of an update payload.
type Delivery struct {
	View    wire.ViewID // the view that sequenced it
	Primary bool        // that view's primary flag (from its proposal, the same on every member)
	Seq     uint64      // its bcast sequence number in View
	Payload []byte      // EncodeUpdate
	Flush   bool        // delivered by bcast's flush at the Install of the next view
}

type reqKey struct {
	client string
	seq    uint64
}

// DB is the replicated configuration database of one node. It is a pure
// state machine; see the package documentation for the contract.
type DB struct {
	cfg Config
	st  *state

	base     uint64 // the log starts after base; baseSnap is the state at base
	baseSnap []byte
	log      []Entry // revisions base+1 .. base+len(log); those <= st.rev are committed

	quorate         bool
	votes, expected int
	why             string // added to the refusal when the votes do not explain it

	adopted   wire.ViewID
	settled   bool        // a new-view entry has committed since the last adoption began
	deferred  []Reply     // replies waiting for settled
	skipFlush wire.ViewID // the flush of this view is not for this node (it was catching up in it)
	adopting  bool
	adoptView wire.ViewID
	adoptSrc  wire.NodeID
	adoptHead uint64
	firstDone bool

	served     bool // this node is the source of servedView
	servedView wire.ViewID
	servedHead uint64
	waiting    []fetchFrom // fetches for a view this node has not begun yet

	reads []*pendingRead // linearizable reads begun here (read.go)
	asks  []readAsk      // peers' asks for a read index, on the coordinator

	pending   map[reqKey]bool
	watches   map[uint64]string
	nextWatch uint64
	quiet     bool

	rd Ready
}

type fetchFrom struct {
	from wire.NodeID
	f    Fetch
}

// New returns an empty DB (a fresh node; after a restart call Recover).
func New(cfg Config) (*DB, error) {
	if cfg.Self == 0 {
		return nil, errors.New("cdb: Self must be set")
	}
	if cfg.History == 0 {
		cfg.History = 100
	}
	if cfg.CompactEvery == 0 {
		cfg.CompactEvery = 10000
	}
	if cfg.ChunkEntries <= 0 {
		cfg.ChunkEntries = 1024
	}
	if cfg.AskAgain <= 0 {
		cfg.AskAgain = time.Second
	}
	d := &DB{cfg: cfg, st: newState(cfg.History), pending: map[reqKey]bool{}, watches: map[uint64]string{}}
	d.baseSnap = d.st.encode()
	return d, nil
}

// Recover rebuilds the DB after a restart from what the driver persisted:
// the base snapshot (nil for none), the entries after it in revision order,
// and the last persisted Commit. Committed entries are applied; the others
// stay tentative until a primary view adopts a history.
func (d *DB) Recover(p Persisted) error {
	snapshot, entries, commit := p.Snapshot, p.Entries, p.Commit
	d.adopted = p.Adopted
	if snapshot != nil {
		st, err := decodeState(snapshot, d.cfg.History)
		if err != nil {
			return err
		}
		d.st, d.base, d.baseSnap = st, st.rev, clone(snapshot)
	}
	d.log = nil
	for _, e := range entries {
		if e.Rev != d.tail()+1 {
			if e.Rev <= d.base {
				continue
			}
			return fmt.Errorf("cdb: recover: entry %d does not follow %d", e.Rev, d.tail())
		}
		d.log = append(d.log, e)
	}
	d.quiet = true
	for d.st.rev < commit && d.st.rev < d.tail() {
		d.applyNext()
	}
	d.quiet = false
	return nil
}

func (d *DB) tail() uint64 { return d.base + uint64(len(d.log)) }

func (d *DB) entry(rev uint64) *Entry {
	if rev <= d.base || rev > d.tail() {
		return nil
	}
	return &d.log[rev-d.base-1]
}

// Head returns where this node's log ends (tentative entries included).
func (d *DB) Head() Head {
	if e := d.entry(d.tail()); e != nil {
		return Head{Rev: e.Rev, View: e.View, Adopted: d.adopted}
	}
	return Head{Rev: d.tail(), Adopted: d.adopted}
}

// Rev returns the committed revision.
func (d *DB) Rev() uint64 { return d.st.rev }

// SetQuorum tells the DB whether this node may accept writes (it is in a
// primary view and holds its lease) and the vote count for the refusal
// message ("no quorum: 1 of 3 votes").
func (d *DB) SetQuorum(quorate bool, votes, expected int) {
	d.quorate, d.votes, d.expected = quorate, votes, expected
	d.why = ""
}

// SetNoQuorumReason adds why writes are refused to the refusal message,
// when the votes alone do not say it (a primary view whose lease is not
// held yet).
func (d *DB) SetNoQuorumReason(why string) { d.why = why }

// CatchingUp reports whether an adoption is in progress on this node.
func (d *DB) CatchingUp() bool { return d.adopting }

func (d *DB) stale() bool { return !d.quorate || d.adopting || !d.settled }

// SettledIn reports whether this node's committed state is the adopted
// history of primary view v: its adoption for v is done and v's first
// Safe commit is applied, so it holds every update acknowledged before
// (what the resource manager schedules from; unlike Stale it does not
// ask whether this node may take writes now).
func (d *DB) SettledIn(v wire.ViewID) bool {
	return !d.adopting && d.settled && d.adoptView == v
}

// Get returns key's value from local state; stale is true when this node is
// not quorate (or still catching up), so the value may be old.
func (d *DB) Get(key string) (kv KV, found, stale bool) {
	if rec, ok := d.st.kv[key]; ok {
		return KV{Key: key, Value: clone(rec.Value), CreateRev: rec.CreateRev, ModRev: rec.ModRev}, true, d.stale()
	}
	return KV{Key: key}, false, d.stale()
}

// List returns the keys under prefix, sorted, with the committed revision.
func (d *DB) List(prefix string) (kvs []KV, rev uint64, stale bool) {
	for _, k := range d.st.sortedKeys(prefix) {
		rec := d.st.kv[k]
		kvs = append(kvs, KV{Key: k, Value: clone(rec.Value), CreateRev: rec.CreateRev, ModRev: rec.ModRev})
	}
	return kvs, d.st.rev, d.stale()
}

// History returns the last n applied changes (at most the configured
// History), oldest first.
func (d *DB) History(n int) []Change {
	h := d.st.hist
	if n >= 0 && n < len(h) {
		h = h[len(h)-n:]
	}
	return append([]Change(nil), h...)
}

// Watch registers a watch on prefix and returns its id: every change
// applied from now on under prefix comes out in Ready.Watch, in order.
func (d *DB) Watch(prefix string) uint64 {
	d.nextWatch++
	d.watches[d.nextWatch] = prefix
	return d.nextWatch
}

// Unwatch removes a watch.
func (d *DB) Unwatch(id uint64) { delete(d.watches, id) }

// Validate checks a request's shape; a refusal is ErrInvalidRequest.
func Validate(req Request) error {
	if req.Client == "" || req.Seq == 0 {
		return InvalidRequest("cdb: a request needs a client id and a sequence number from 1")
	}
	if len(req.Then) == 0 {
		return InvalidRequest("cdb: a request needs at least one operation")
	}
	for _, o := range req.Then {
		if !strings.HasPrefix(o.Key, "/") {
			return InvalidRequest(fmt.Sprintf("cdb: key %q must start with /", o.Key))
		}
		if o.Kind != OpPut && o.Kind != OpDelete {
			return InvalidRequest(fmt.Sprintf("cdb: unknown operation %d", o.Kind))
		}
	}
	return nil
}

// Propose takes a client request on this node. It returns the payload the
// driver broadcasts (bcast Broadcast), or nil and an error: the request is
// refused when this node is not quorate or catching up. A retry of a
// request already applied returns nil, nil and its original Reply comes
// out of the next Ready.
func (d *DB) Propose(req Request) ([]byte, error) {
	if err := Validate(req); err != nil {
		return nil, err
	}
	if !d.quorate {
		return nil, ErrNoQuorum{Votes: d.votes, Expected: d.expected, Reason: d.why}
	}
	if d.adopting || !d.settled {
		return nil, fmt.Errorf("cdb: catching up with the history of view %d/%d, retry", d.adoptView.Epoch, d.adoptView.Coord)
	}
	if dr, ok := d.st.dedup[req.Client]; ok && req.Seq <= dr.seq {
		res := dr.res
		if req.Seq < dr.seq {
			res = Result{Rev: d.st.rev, Old: true}
		}
		d.rd.Replies = append(d.rd.Replies, Reply{Client: req.Client, Seq: req.Seq, Result: res})
		return nil, nil
	}
	d.pending[reqKey{req.Client, req.Seq}] = true
	return EncodeUpdate(Update{Origin: d.cfg.Self, Request: req}), nil
}

// hold takes an Agreed delivery (the Hold input): the update is appended
// to the log as a tentative entry and comes out in Persist.Entries.
// Updates of a view that is not primary are not logged.
func (d *DB) hold(dl Delivery) error {
	if !dl.Primary {
		return nil
	}
	if dl.Flush && d.skipFlush == dl.View {
		return nil
	}
	if d.adopting && dl.Flush {
		// the flush of a view whose history this node had not caught up
		// with: it never held (so never acknowledged) that view's messages;
		// its adoption is over, the next primary view starts another
		d.adopting, d.skipFlush = false, dl.View
		return nil
	}
	if d.adopting {
		return errors.New("cdb: hold during adoption: deliver new-view messages only after CatchingUp is false")
	}
	u, err := DecodeUpdate(wire.NewReader(dl.Payload))
	if err != nil {
		return err
	}
	e := Entry{Rev: d.tail() + 1, View: dl.View, Seq: dl.Seq, Update: u}
	d.log = append(d.log, e)
	d.rd.Persist.Entries = append(d.rd.Persist.Entries, e)
	return nil
}

// commit takes a Safe delivery of a message held before (the Commit
// input): the oldest tentative entry, which must be the same (view, seq).
// It is applied; its result goes to the client if this node took the
// request. A flush delivery (Flush) is not applied: its survivors may be
// fewer than the view's members, so it stays tentative until a primary
// view adopts a history (its client is answered then).
// A message of a view that is not primary is not applied; its client is
// answered with ErrOutcomeUnknown.
func (d *DB) commit(dl Delivery) error {
	if !dl.Primary {
		u, err := DecodeUpdate(wire.NewReader(dl.Payload))
		if err != nil {
			return err
		}
		k := reqKey{u.Client, u.Seq}
		if u.Origin == d.cfg.Self && d.pending[k] {
			delete(d.pending, k)
			d.rd.Replies = append(d.rd.Replies, Reply{Client: u.Client, Seq: u.Seq, Err: ErrOutcomeUnknown})
		}
		return nil
	}
	if dl.Flush || d.adopting {
		return nil // stays tentative: only an adoption commits what a flush delivered
	}
	if !d.settled && dl.View == d.adoptView {
		// The first safe message of the adopted view proves every member
		// installed the view and holds its adopted history: that history is
		// committed now, not before (a view that was never established,
		// because some members installed a rival one, commits nothing).
		for d.st.rev < d.tail() {
			if e := d.entry(d.st.rev + 1); e.View == dl.View && e.Seq == dl.Seq {
				break
			}
			d.applyNext()
		}
		d.resolvePending()
	}
	e := d.entry(d.st.rev + 1)
	if e == nil || e.View != dl.View || e.Seq != dl.Seq {
		return fmt.Errorf("cdb: commit of %d/%d seq %d does not match the next tentative entry", dl.View.Epoch, dl.View.Coord, dl.Seq)
	}
	d.applyNext()
	d.rd.Persist.Commit = d.st.rev
	if !d.settled && dl.View == d.adoptView {
		d.settled = true
		d.rd.Replies = append(d.rd.Replies, d.deferred...)
		d.deferred = nil
	}
	d.maybeCompact()
	return nil
}

func (d *DB) applyNext() {
	e := d.log[d.st.rev-d.base]
	res, evs := d.st.apply(e)
	if d.quiet {
		return
	}
	ids := make([]uint64, 0, len(d.watches))
	for id := range d.watches {
		ids = append(ids, id)
	}
	sortU64(ids)
	for _, ev := range evs {
		for _, id := range ids {
			if strings.HasPrefix(ev.Key, d.watches[id]) {
				ev.Watch = id
				d.rd.Watch = append(d.rd.Watch, ev)
			}
		}
	}
	k := reqKey{e.Update.Client, e.Update.Seq}
	if e.Update.Origin == d.cfg.Self && d.pending[k] {
		delete(d.pending, k)
		d.reply(Reply{Client: k.client, Seq: k.seq, Result: res})
	}
}

// reply answers a client now, or once this node has settled in its
// adopted view (an adopted entry is durable at every member only then).
func (d *DB) reply(r Reply) {
	if d.settled {
		d.rd.Replies = append(d.rd.Replies, r)
	} else {
		d.deferred = append(d.deferred, r)
	}
}

func sortU64(a []uint64) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// resolvePending answers pending requests the state shows applied (after an
// adoption: they may have been applied in a view this node was not in).
func (d *DB) resolvePending() {
	keys := make([]reqKey, 0, len(d.pending))
	for k := range d.pending {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && (keys[j].client < keys[j-1].client || keys[j].client == keys[j-1].client && keys[j].seq < keys[j-1].seq); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	for _, k := range keys {
		if dr, ok := d.st.dedup[k.client]; ok && dr.seq == k.seq {
			delete(d.pending, k)
			d.reply(Reply{Client: k.client, Seq: k.seq, Result: dr.res})
		}
	}
}

func (d *DB) maybeCompact() {
	if d.st.rev-d.base < d.cfg.CompactEvery {
		return
	}
	d.baseSnap = d.st.encode()
	n := d.st.rev - d.base
	d.log = append([]Entry(nil), d.log[n:]...)
	d.base = d.st.rev
	d.rd.Persist.Snapshot, d.rd.Persist.Base = d.baseSnap, d.base
	d.dropPersisted(func(e Entry) bool { return e.Rev <= d.base })
}

func (d *DB) dropPersisted(drop func(Entry) bool) {
	es := d.rd.Persist.Entries[:0]
	for _, e := range d.rd.Persist.Entries {
		if !drop(e) {
			es = append(es, e)
		}
	}
	d.rd.Persist.Entries = es
}

// truncate drops the log from rev on (rev > base). Committed entries among
// them (never expected: they were safe) are undone by rebuilding the state
// from the base snapshot.
func (d *DB) truncate(rev uint64) {
	if rev > d.tail() {
		return
	}
	d.log = d.log[:rev-d.base-1]
	if d.rd.Persist.Truncate == 0 || rev < d.rd.Persist.Truncate {
		d.rd.Persist.Truncate = rev
	}
	d.dropPersisted(func(e Entry) bool { return e.Rev >= rev })
	if d.st.rev >= rev {
		st, err := decodeState(d.baseSnap, d.cfg.History)
		if err != nil {
			panic("cdb: own base snapshot does not decode: " + err.Error())
		}
		d.st = st
		d.quiet = true
		for d.st.rev < d.tail() {
			d.applyNext()
		}
		d.quiet = false
		d.rd.Persist.Commit = d.st.rev
	}
}

// Ready returns what the DB produced since the last Advance. It changes
// nothing: calling it twice returns the same.
func (d *DB) Ready() Ready { return d.rd }

// Advance acknowledges the last Ready: the driver carried it out (or is
// carrying it out in order). Call it before the next input.
func (d *DB) Advance() { d.rd = Ready{} }

// HasReady reports whether Ready has anything.
func (d *DB) HasReady() bool {
	return !d.rd.Persist.Empty() || len(d.rd.Messages) > 0 || len(d.rd.Replies) > 0 ||
		len(d.rd.Watch) > 0 || len(d.rd.Progress) > 0 || len(d.rd.Broadcast) > 0 ||
		len(d.rd.Reads) > 0
}

// Snapshot returns the committed state in its versioned binary form.
func (d *DB) Snapshot() []byte { return d.st.encode() }

// Restore replaces the whole DB by a snapshot (an empty log after it).
func (d *DB) Restore(b []byte) error {
	st, err := decodeState(b, d.cfg.History)
	if err != nil {
		return err
	}
	d.watchJump(d.st, st)
	d.st, d.base, d.baseSnap, d.log = st, st.rev, clone(b), nil
	d.rd.Persist.Snapshot, d.rd.Persist.Base = d.baseSnap, d.base
	d.rd.Persist.Truncate = d.base + 1
	d.rd.Persist.Entries = nil
	d.rd.Persist.Commit = d.base
	return nil
}

// EntriesSince returns the log entries after rev (tentative ones included);
// ok is false when rev is before the log's base (send a snapshot instead).
func (d *DB) EntriesSince(rev uint64) (es []Entry, ok bool) {
	if rev < d.base {
		return nil, false
	}
	for r := rev + 1; r <= d.tail(); r++ {
		es = append(es, *d.entry(r))
	}
	return es, true
}

func (d *DB) runs() []Run {
	var rs []Run
	for _, e := range d.log {
		if n := len(rs); n > 0 && rs[n-1].View == e.View {
			rs[n-1].Last = e.Rev
			continue
		}
		rs = append(rs, Run{View: e.View, First: e.Rev, Last: e.Rev})
	}
	return rs
}
