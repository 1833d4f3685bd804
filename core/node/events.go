package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/membership"
	"github.com/corral-ha/corral/core/wire"
)

// keepEvents is how many events the data store keeps (corral
// help events: the last 10,000, so a restart keeps them).
const keepEvents = 10000

var bucketEvents = []byte("events")

// Event is apitypes.Event (the API types are defined there, so the shell reads
// them without importing the driver).
type Event = apitypes.Event

// eventLog numbers, stores and fans out events. Append runs on the event
// loop and never waits for the disk: a writer goroutine stores batches
// (events are for people and clients, not for safety, so they need not
// be durable before the loop goes on). Since and Subscribe may be called
// from any goroutine.
type eventLog struct {
	store *Store
	node  string

	mu      sync.Mutex
	next    uint64
	pending []Event                       // numbered, not yet stored
	subs    map[chan Event]*atomic.Uint64 // a subscriber's drop count, or nil

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func openEventLog(s *Store, node string) (*eventLog, error) {
	l := &eventLog{store: s, node: node, next: 1, subs: map[chan Event]*atomic.Uint64{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().Last(); k != nil {
			l.next = binary.BigEndian.Uint64(k) + 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	go l.writer()
	return l, nil
}

// append numbers events and queues them for the writer, then hands them to
// subscribers. A subscriber too slow to keep up loses events, and can read
// them back with Since.
func (l *eventLog) append(evs []Event) {
	if len(evs) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().UTC().Format(TimeLayout)
	for i := range evs {
		evs[i].Seq = l.next
		evs[i].Time = now
		evs[i].Node = l.node
		l.next++
	}
	l.pending = append(l.pending, evs...)
	select {
	case l.kick <- struct{}{}:
	default:
	}
	for ch, dropped := range l.subs {
		for _, e := range evs {
			select {
			case ch <- e:
			default:
				if dropped != nil {
					dropped.Add(1)
				}
			}
		}
	}
}

// writer stores pending events in batches until close, then stores the
// rest.
func (l *eventLog) writer() {
	defer close(l.done)
	for {
		select {
		case <-l.kick:
			l.flush()
		case <-l.stop:
			l.flush()
			return
		}
	}
}

// flush writes what is pending (one fsync) and then forgets it.
func (l *eventLog) flush() {
	l.mu.Lock()
	batch := append([]Event(nil), l.pending...)
	l.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := l.write(batch); err != nil {
		// Keep them pending; the next event retries.
		return
	}
	l.mu.Lock()
	l.pending = l.pending[len(batch):]
	l.mu.Unlock()
}

func (l *eventLog) write(evs []Event) error {
	err := l.store.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, e := range evs {
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(binary.BigEndian.AppendUint64(nil, e.Seq), v); err != nil {
				return err
			}
		}
		// Keep the last keepEvents.
		c := b.Cursor()
		last := evs[len(evs)-1].Seq
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k)+keepEvents <= last; k, _ = c.Next() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: append events: %w", err)
	}
	return nil
}

// close stores what is pending and stops the writer.
func (l *eventLog) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

// since returns the events with seq > after, oldest first, at most limit
// (0: all): the stored ones, then those not stored yet.
func (l *eventLog) since(after uint64, limit int) ([]Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	err := l.store.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(binary.BigEndian.AppendUint64(nil, after+1)); k != nil; k, v = c.Next() {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			if limit > 0 && len(out) == limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	last := after
	if len(out) > 0 {
		last = out[len(out)-1].Seq
	}
	for _, e := range l.pending {
		if limit > 0 && len(out) >= limit {
			break
		}
		if e.Seq > last {
			out = append(out, e)
		}
	}
	return out, nil
}

// subscribe returns a channel of new events and a function that ends the
// subscription.
func (l *eventLog) subscribe(buf int) (<-chan Event, func()) {
	ch := make(chan Event, buf)
	l.mu.Lock()
	l.subs[ch] = nil
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}

// Events returns this node's stored events after seq (the last 10,000 at
// most), oldest first, at most limit (0: all).
func (n *Node) Events(after uint64, limit int) ([]Event, error) { return n.events.since(after, limit) }

// Subscribe streams new events; call the returned function to stop. A
// reader that falls more than buf events behind loses events: it can fill
// the gap with Events(lastSeq, 0).
func (n *Node) Subscribe(buf int) (<-chan Event, func()) { return n.events.subscribe(buf) }

// connEvent turns a connectivity event into a stream entry; events that
// are not part of the stream return false.
func (n *Node) connEvent(e conn.Event, view wire.ViewID) (Event, bool) {
	ev := Event{Kind: e.Kind.String(), Peer: n.names[e.Peer], View: n.viewName(view)}
	switch e.Kind {
	case conn.EventLinkUp, conn.EventLinkDown:
		l, r := e.Local, e.Remote
		ev.Link, ev.Remote = &l, &r
	case conn.EventPeerReachable, conn.EventPeerUnreachable:
	default:
		return Event{}, false
	}
	return ev, true
}

// memberEvent turns a membership event into a stream entry.
func (n *Node) memberEvent(e membership.Event) (Event, bool) {
	ev := Event{Kind: e.Kind.String(), View: n.viewName(e.View)}
	switch e.Kind {
	case membership.EventViewChanged:
		p := e.Primary
		ev.Members, ev.Primary = n.nameList(e.Members), &p
	case membership.EventNodeJoined, membership.EventNodePaused, membership.EventNodeResumed:
		ev.Target = n.names[e.Target]
	case membership.EventNodeLeft:
		c := e.Clean
		ev.Target, ev.Clean = n.names[e.Target], &c
	case membership.EventQuorumLost, membership.EventQuorumRegained:
		v, nd := e.Votes, e.Needed
		ev.Votes, ev.Needed = &v, &nd
	case membership.EventConfigDiffers:
		ev.Target, ev.Detail = n.names[e.Target], e.Detail
	case membership.EventQuorumUnblocked:
		x := e.Votes
		ev.Members, ev.WrittenOff, ev.Expected, ev.By = n.nameList(e.Members), n.nameList(e.WrittenOff), &x, n.names[e.Target]
	default:
		return Event{}, false
	}
	return ev, true
}
