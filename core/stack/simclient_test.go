package stack_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// simClient writes through the config DB: one request at a time (a set, a
// compare-and-set on the revision it last saw, a delete, a transaction of
// two keys, or a read through the log: a condition, and a marker of its
// own written only if it holds), retried
// with the same (client, seq) on another node until it is answered. An
// "outcome unknown" answer, a refusal or no answer within 3 s is retried.
type simClient struct {
	w      *simWorld
	name   string
	seq    uint64
	op     *simOp
	on     *simNode      // the node the current attempt waits on (nil: none)
	giveUp time.Duration // abandon the attempt then
	next   time.Duration // when to try (again)
	done   []*simOp
}

type simOp struct {
	client  string
	seq     uint64
	ifs     []cdb.Cond
	then    []cdb.Op
	inv     time.Duration // the first attempt
	ret     time.Duration // the answer taken
	res     cdb.Result
	unknown int // "outcome unknown" answers before the final one
}

// simKeys are the clients' keys (few: conflicts and CAS failures).
var simKeys = []string{"/a", "/b", "/c"}

func (c *simClient) poll() {
	w := c.w
	now := w.s.Now()
	if c.on != nil {
		if now < c.giveUp && c.on.live() {
			return
		}
		// no answer: abandon the call (a cancelled context) and retry
		w.logf("%s seq %d: no answer from n%d", c.name, c.op.seq, c.on.h.ID())
		c.on.abandon(c.op.client, c.op.seq)
		c.on = nil
		w.stats.retries++
		c.next = now + time.Duration(50+w.rng.IntN(200))*time.Millisecond
	}
	if now < c.next {
		return
	}
	if c.op == nil {
		if !w.load {
			return
		}
		c.seq++
		c.op = w.newOp(c)
	}
	id := 1 + w.rng.IntN(w.n)
	nd := w.running(id)
	if nd == nil || w.s.Paused(id) {
		c.next = now + 20*time.Millisecond
		return
	}
	c.on, c.giveUp = nd, now+3*time.Second
	op := c.op
	nd.request(func() {
		if c.on != nd {
			return
		}
		if err := nd.propose(op); err != nil {
			w.logf("%s seq %d refused by n%d: %v", c.name, op.seq, nd.h.ID(), err)
			w.stats.refused++
			c.on = nil
			c.next = w.s.Now() + time.Duration(50+w.rng.IntN(200))*time.Millisecond
		}
	})
}

// answer takes the reply to the current attempt, which has left node nd
// (its round's writes are durable).
func (c *simClient) answer(nd *simNode, r cdb.Reply) {
	w := c.w
	if c.on != nd || c.op == nil || r.Client != c.op.client || r.Seq != c.op.seq {
		return
	}
	c.on = nil
	now := w.s.Now()
	if r.Err != nil {
		if errors.Is(r.Err, cdb.ErrOutcomeUnknown) {
			w.stats.unknown++
			c.op.unknown++
		}
		c.next = now + time.Duration(50+w.rng.IntN(200))*time.Millisecond
		return
	}
	if r.Result.Old {
		w.fatalf("%s seq %d answered Old: the client never goes back", c.name, c.op.seq)
	}
	c.op.ret, c.op.res = now, r.Result
	// (a revision may be folded into a snapshot before a check saw it)
	if got, seen := w.chk.committed[r.Result.Rev]; seen && (got.client != c.op.client || got.cseq != c.op.seq) {
		w.fatalf("G3: %s seq %d acknowledged at revision %d, which holds %+v", c.name, c.op.seq, r.Result.Rev, got)
	}
	w.acked(r.Result.Rev)
	w.writeReturned(c.op.client, c.op.seq, r.Result.Rev)
	w.logf("%s seq %d acknowledged by n%d: %+v", c.name, c.op.seq, nd.h.ID(), r.Result)
	w.stats.acked++
	for _, f := range w.onAnswer {
		f(nd.h.ID())
	}
	w.onAnswer = nil
	c.done = append(c.done, c.op)
	c.op = nil
	c.next = now + time.Duration(w.rng.IntN(50))*time.Millisecond
}

func (w *simWorld) newOp(c *simClient) *simOp {
	op := &simOp{client: "api:" + c.name, seq: c.seq, inv: w.s.Now()}
	key := simKeys[w.rng.IntN(len(simKeys))]
	lastRev := func(key string) uint64 {
		for i := len(c.done) - 1; i >= 0; i-- {
			if d := c.done[i]; len(d.then) == 1 && d.then[0].Key == key && d.res.OK {
				return d.res.Rev
			}
		}
		return 0
	}
	val := []byte(fmt.Sprintf("%q", fmt.Sprintf("%s-%d", c.name, c.seq)))
	switch k := w.rng.IntN(12); {
	case k < 5:
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: val}}
	case k < 7: // compare-and-set on the revision the client last saw for key
		op.ifs = []cdb.Cond{{Key: key, ModRev: lastRev(key)}}
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: val}}
	case k < 8:
		op.then = []cdb.Op{{Kind: cdb.OpDelete, Key: key}}
	case k < 10: // a read through the log: does key still hold what this client last wrote? (a marker of its own records the answer)
		op.ifs = []cdb.Cond{{Key: key, ModRev: lastRev(key)}}
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: "/read/" + c.name, Value: val}}
	default: // a transaction of two keys
		k2 := simKeys[(w.rng.IntN(len(simKeys)-1)+1+indexOf(key))%len(simKeys)]
		op.then = []cdb.Op{{Kind: cdb.OpPut, Key: key, Value: []byte(`"t"`)}, {Kind: cdb.OpPut, Key: k2, Value: val}}
	}
	return op
}

func indexOf(k string) int {
	for i, s := range simKeys {
		if s == k {
			return i
		}
	}
	return 0
}

func (w *simWorld) tickClients() {
	for _, c := range w.clients {
		c.poll()
	}
	w.s.After(5*time.Millisecond, w.tickClients)
}

func (w *simWorld) clientsBusy() bool {
	for _, c := range w.clients {
		if c.op != nil {
			return true
		}
	}
	return false
}

// checkHistory is G3 at the end (faults over, one view): every node holds
// the same history and state, and the clients' answers are linearizable:
// the revisions are a linearization that respects real time (an update
// answered before another began has a lower revision), and replaying the
// history in a sequential key-value model (with the DB's dedupe: the first
// copy of a (client, seq) applies, later ones answer its result) gives
// every acknowledged request exactly the result its client got; a request
// answered "outcome unknown" and never after may or may not be in it.
// Every acknowledged request is in it (nothing acknowledged is lost).
func (w *simWorld) checkHistory() {
	ref := w.nodes[1].db()
	for i := 2; i <= w.n; i++ {
		db := w.nodes[i].db()
		if db.Rev() != ref.Rev() || db.Head().Rev != ref.Head().Rev {
			w.fatalf("G3: n%d at revision %d head %+v, n1 at %d head %+v", i, db.Rev(), db.Head(), ref.Rev(), ref.Head())
		}
		if string(db.Snapshot()) != string(ref.Snapshot()) {
			w.fatalf("G3: n%d's state differs from n1's at revision %d", i, ref.Rev())
		}
	}
	type rec struct{ mod uint64 }
	kv := map[string]rec{}
	first := map[simID]cdb.Result{}
	last := map[string]uint64{}
	complete := true
	for r := uint64(1); r <= ref.Rev(); r++ {
		e, ok := ref.Entry(r)
		if !ok {
			complete = false // folded: the model starts later
			kv = map[string]rec{}
			continue
		}
		u := e.Update
		k := simID{client: u.Client, cseq: u.Seq}
		if u.Client != "" {
			if s, ok := last[u.Client]; ok && u.Seq <= s {
				continue // a retry or an old request: no change
			}
			last[u.Client] = u.Seq
		}
		res := cdb.Result{Rev: r, OK: true}
		for _, c := range u.If {
			if kv[c.Key].mod != c.ModRev {
				res.OK = false
			}
		}
		if res.OK {
			for _, o := range u.Then {
				if o.Kind == cdb.OpPut {
					kv[o.Key] = rec{mod: r}
				} else {
					delete(kv, o.Key)
				}
			}
		}
		if u.Client != "" {
			first[k] = res
		}
	}
	var ops []*simOp
	for _, c := range w.clients {
		ops = append(ops, c.done...)
	}
	for _, op := range ops {
		want, ok := first[simID{client: op.client, cseq: op.seq}]
		if !ok {
			if !complete {
				continue
			}
			w.fatalf("G3: %s seq %d was acknowledged at revision %d and is not in the final history", op.client, op.seq, op.res.Rev)
		}
		if complete && want != op.res || want.Rev != op.res.Rev {
			w.fatalf("G3 linearizability: %s seq %d got %+v, the history gives %+v", op.client, op.seq, op.res, want)
		}
	}
	for _, a := range ops {
		for _, b := range ops {
			if a.ret < b.inv && a.res.Rev >= b.res.Rev {
				w.fatalf("G3 linearizability: %s seq %d answered at %v (revision %d) before %s seq %d began at %v, which got revision %d",
					a.client, a.seq, a.ret, a.res.Rev, b.client, b.seq, b.inv, b.res.Rev)
			}
		}
	}
	if !complete {
		return
	}
	for k, rc := range kv {
		got, found, _ := ref.Get(k)
		if !found || got.ModRev != rc.mod {
			w.fatalf("G3: n1 has %s %+v (found %v), the model revision %d", k, got, found, rc.mod)
		}
	}
}
