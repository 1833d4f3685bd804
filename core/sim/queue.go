package sim

import "time"

// Kinds of scheduled events.
const (
	evTick    uint8 = iota + 1 // a node's periodic timer
	evDeliver                  // a packet reaches its destination
	evResume                   // a pause ends
	evCall                     // a function scheduled with After
)

// event is one entry of the queue. Events are ordered by (at, seq): seq grows
// with every push, so two events at the same instant run in the order they
// were scheduled, in every run.
type event struct {
	at   time.Duration
	seq  uint64
	kind uint8
	node int
	inc  uint64 // the node's incarnation when scheduled (ticks, resumes)
	pkt  *packet
	fn   func()
}

func (a *event) before(b *event) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	return a.seq < b.seq
}

// queue is a binary min-heap of events (a typed container/heap, without the
// interface boxing that would allocate on every push).
type queue struct {
	ev  []event
	seq uint64
}

func (q *queue) len() int { return len(q.ev) }

func (q *queue) peek() *event { return &q.ev[0] }

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	q.ev = append(q.ev, e)
	i := len(q.ev) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.ev[i].before(&q.ev[p]) {
			break
		}
		q.ev[i], q.ev[p] = q.ev[p], q.ev[i]
		i = p
	}
}

func (q *queue) pop() event {
	top := q.ev[0]
	last := len(q.ev) - 1
	q.ev[0] = q.ev[last]
	q.ev[last] = event{} // drop references
	q.ev = q.ev[:last]
	i, n := 0, last
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && q.ev[r].before(&q.ev[l]) {
			m = r
		}
		if !q.ev[m].before(&q.ev[i]) {
			break
		}
		q.ev[i], q.ev[m] = q.ev[m], q.ev[i]
		i = m
	}
	return top
}
