package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/membership"
)

// keepEvents is how many events the data store keeps (ARCHITECTURE
// section 7: the last 10,000, so a restart keeps them).
const keepEvents = 10000

var bucketEvents = []byte("events")

// Event is one entry of the node's event stream, as the API and the shell
// show it (ARCHITECTURE section 7).
type Event struct {
	Seq  uint64 `json:"seq"`  // this node's event number, never reused
	Time string `json:"time"` // RFC 3339 with milliseconds, for people
	Kind string `json:"kind"`
	Node string `json:"node"` // the node that recorded it
	View string `json:"view"` // "epoch/coordinator", "" before the first view

	Members []string `json:"members,omitempty"` // view_changed
	Primary *bool    `json:"primary,omitempty"` // view_changed
	Target  string   `json:"target,omitempty"`  // node_*
	Clean   *bool    `json:"clean,omitempty"`   // node_left
	Votes   *int     `json:"votes,omitempty"`   // quorum_*
	Needed  *int     `json:"needed,omitempty"`  // quorum_*
	Peer    string   `json:"peer,omitempty"`    // link_*, peer_*
	Link    *int     `json:"link,omitempty"`    // link_*: this node's link
	Remote  *int     `json:"remote_link,omitempty"`
	Detail  string   `json:"detail,omitempty"`
}

// eventLog numbers, stores and fans out events. Append runs on the event
// loop; Since and Subscribe may be called from any goroutine.
type eventLog struct {
	store *Store
	node  string

	mu   sync.Mutex
	next uint64
	subs map[chan Event]struct{}
}

func openEventLog(s *Store, node string) (*eventLog, error) {
	l := &eventLog{store: s, node: node, next: 1, subs: map[chan Event]struct{}{}}
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
	return l, nil
}

// append numbers and stores events (one fsync for the batch), then hands
// them to subscribers. A subscriber too slow to keep up loses events, and
// can read them back with Since.
func (l *eventLog) append(evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	for i := range evs {
		evs[i].Seq = l.next + uint64(i)
		evs[i].Time = now
		evs[i].Node = l.node
	}
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
	l.next += uint64(len(evs))
	for ch := range l.subs {
		for _, e := range evs {
			select {
			case ch <- e:
			default:
			}
		}
	}
	return nil
}

// since returns the stored events with seq > after, oldest first, at most
// limit (0: all).
func (l *eventLog) since(after uint64, limit int) ([]Event, error) {
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
	return out, err
}

// subscribe returns a channel of new events and a function that ends the
// subscription.
func (l *eventLog) subscribe(buf int) (<-chan Event, func()) {
	ch := make(chan Event, buf)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
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
func (n *Node) connEvent(e conn.Event) (Event, bool) {
	ev := Event{Kind: e.Kind.String(), Peer: n.names[e.Peer], View: n.viewName(n.mem.Status().View.ID)}
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
	default:
		return Event{}, false
	}
	return ev, true
}
