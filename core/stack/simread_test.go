package stack_test

import (
	"flag"
	"math/rand/v2"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// The linearizable readers of TestSimulation (core/cdb "Linearizable
// reads"): simReaders readers, each one read at a time on a random
// running node (Stack.CDBRead, then CDBGet when the Ready says so; a read
// not served within 3 s is cancelled and forgotten). Checked at each
// read served: the node's committed revision is at least every revision
// acknowledged to a writer (simClient) and every revision a read
// returned, before this read began. With the stack's other checks (G3:
// every node applies one history) that makes reads and writes together
// linearizable. Their draws come from their own source (-readstream), so
// the writers' and the faults' are those of the world without them.

const simReaders = 2

// readStream is the second word of the readers' source.
var readStream = flag.Uint64("readstream", 43, "stack sim: the linearizable readers' random stream")

type simReadWorld struct {
	rng     *rand.Rand
	readers []*simReader
	nextID  uint64
	// done: (returned at, revision) of every acknowledged write and every
	// read served, in the order they returned
	done                  []simDone
	served, failed, aband int
}

type simDone struct {
	at   time.Duration
	rev  uint64
	what string
}

type simReader struct {
	name   string
	id     uint64 // the read in flight (0: none)
	on     *simNode
	inv    time.Duration
	key    string
	giveUp time.Duration
	next   time.Duration
}

func newSimReadWorld(seed int64) *simReadWorld {
	rw := &simReadWorld{rng: rand.New(rand.NewPCG(uint64(seed), *readStream))}
	for i := range simReaders {
		rw.readers = append(rw.readers, &simReader{name: "r" + string(rune('1'+i))})
	}
	return rw
}

func (w *simWorld) tickReaders() {
	rw := w.rd
	now := w.s.Now()
	for _, r := range rw.readers {
		if r.id != 0 {
			if now < r.giveUp && r.on.live() {
				continue
			}
			id, nd := r.id, r.on
			r.id, r.on = 0, nil
			rw.aband++
			if nd.live() {
				nd.request(func() { nd.st.CancelRead(id) })
			}
			r.next = now + time.Duration(rw.rng.IntN(50))*time.Millisecond
		}
		if now < r.next || !w.load {
			continue
		}
		id := 1 + rw.rng.IntN(w.n)
		nd := w.running(id)
		if nd == nil || w.s.Paused(id) {
			r.next = now + 20*time.Millisecond
			continue
		}
		rw.nextID++
		r.id, r.on, r.inv, r.giveUp = rw.nextID, nd, now, now+3*time.Second
		r.key = simKeys[rw.rng.IntN(len(simKeys))]
		rid := r.id
		nd.request(func() {
			if r.id != rid {
				return
			}
			if err := nd.st.CDBRead(nd.h.Now(), rid); err != nil {
				w.logf("%s read %d refused by n%d: %v", r.name, rid, nd.h.ID(), err)
				rw.failed++
				r.id, r.on = 0, nil
				r.next = w.s.Now() + time.Duration(20+rw.rng.IntN(100))*time.Millisecond
			}
		})
	}
	w.s.After(5*time.Millisecond, w.tickReaders)
}

// readsDone serves the reads a Ready let go on nd: the value is read now
// and the answer leaves when the round's writes so far are durable.
func (nd *simNode) readsDone(rs []cdb.ReadDone) {
	w := nd.w
	rw := w.rd
	if rw == nil {
		return
	}
	for _, rr := range rs {
		for _, r := range rw.readers {
			if r.id != rr.ID || r.on != nd {
				continue
			}
			if rr.Err != nil {
				w.logf("%s read %d failed on n%d: %v", r.name, rr.ID, nd.h.ID(), rr.Err)
				rw.failed++
				r.id, r.on = 0, nil
				r.next = w.s.Now() + time.Duration(20+rw.rng.IntN(100))*time.Millisecond
				continue
			}
			rev := nd.db().Rev()
			kv, _, _ := nd.st.CDBGet(r.key)
			if rev < rr.Index {
				w.fatalf("%s read %d served on n%d at revision %d, below its index %d", r.name, rr.ID, nd.h.ID(), rev, rr.Index)
			}
			for _, d := range rw.done {
				if d.at < r.inv && d.rev > rev {
					w.fatalf("linearizable read: %s read %d of %s began at %v on n%d and was served at revision %d (%s = revision %d), but %s returned revision %d at %v, before it began",
						r.name, rr.ID, r.key, r.inv, nd.h.ID(), rev, r.key, kv.ModRev, d.what, d.rev, d.at)
				}
			}
			w.logf("%s read %d of %s on n%d: revision %d (index %d)", r.name, rr.ID, r.key, nd.h.ID(), rev, rr.Index)
			rw.served++
			name, id := r.name, rr.ID
			r.id, r.on = 0, nil
			r.next = w.s.Now() + time.Duration(rw.rng.IntN(50))*time.Millisecond
			w.s.After(nd.wait, func() {
				rw.done = append(rw.done, simDone{at: w.s.Now(), rev: rev, what: name + " read " + itoa(id)})
			})
		}
	}
}

// writeReturned notes an acknowledged write for the readers' check.
func (w *simWorld) writeReturned(client string, seq, rev uint64) {
	if w.rd != nil {
		w.rd.done = append(w.rd.done, simDone{at: w.s.Now(), rev: rev, what: client + " seq " + itoa(seq)})
	}
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
