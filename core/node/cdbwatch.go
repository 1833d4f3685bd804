package node

import (
	"errors"
	"fmt"
	"sync"

	"github.com/corral-ha/corral/core/cdb"
)

// CDBWatch is a subscription to the changes under a prefix of the config
// database (CDBWatch). C gives every applied change in revision order; it
// is closed when the subscription ends: Stop was called, the reader fell
// too far behind (Err says so and from which revision to watch again), or
// the node stopped.
type CDBWatch struct {
	C <-chan cdb.WatchEvent
	// Err, once C is closed, says why (nil after Stop).
	Err func() error
	// Stop ends the subscription; C is closed.
	Stop func()
}

// ErrWatchBehind ends a watch whose reader did not keep up.
var ErrWatchBehind = errors.New("config database watch: the reader fell behind")

// cdbWatcher is one subscriber, owned by the event loop. err is written
// before ch is closed, so a reader that saw the close may read it.
type cdbWatcher struct {
	ch     chan cdb.WatchEvent
	prefix string
	start  uint64 // changes below it are not sent (a start in the future)
	last   uint64 // the last revision sent
	err    error
}

// CDBWatch subscribes to every change under prefix applied on this node,
// in revision order. start > 0 first replays the committed changes from
// revision start on (cdb.ErrCompacted when this node no longer holds
// them); 0 gives only what is applied from now. A reader that lets more
// than buf changes wait is dropped (C closes, Err is ErrWatchBehind
// naming the revision to resume from): the event loop never waits for
// it.
func (n *Node) CDBWatch(prefix string, start uint64, buf int) (*CDBWatch, error) {
	if buf < 1 {
		buf = 1
	}
	var (
		id  uint64
		w   *cdbWatcher
		err error
	)
	if e := n.do(func() {
		var replay []cdb.WatchEvent
		id, replay, err = n.st.WatchFrom(prefix, start)
		if err != nil {
			return
		}
		w = &cdbWatcher{ch: make(chan cdb.WatchEvent, len(replay)+buf), prefix: prefix, start: start}
		for _, ev := range replay {
			w.ch <- ev
			w.last = ev.Rev
		}
		if n.cdb.watchers == nil {
			n.cdb.watchers = map[uint64]*cdbWatcher{}
		}
		n.cdb.watchers[id] = w
	}); e != nil {
		return nil, e
	}
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	ch := w.ch // read before the goroutine below may clear it
	stop := func() {
		_ = n.do(func() { n.cdbUnwatch(id, nil) })
	}
	go func() { // the node stopping ends the subscription too
		select {
		case <-n.loopDone:
			// the loop is gone: nothing else touches w now
			if w.err == nil {
				w.err = ErrClosed
			}
			n.cdbCloseWatcher(w)
		case <-done:
		}
	}()
	var once sync.Once
	return &CDBWatch{C: ch, Err: func() error { return w.err }, Stop: func() {
		once.Do(func() {
			stop()
			close(done)
		})
	}}, nil
}

// cdbUnwatch ends watch id on the event loop, with err as its reason.
func (n *Node) cdbUnwatch(id uint64, err error) {
	w, ok := n.cdb.watchers[id]
	if !ok {
		return
	}
	delete(n.cdb.watchers, id)
	n.st.Unwatch(id)
	w.err = err
	n.cdbCloseWatcher(w)
}

func (n *Node) cdbCloseWatcher(w *cdbWatcher) {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// cdbFanout hands a Ready's watch events to their subscribers without
// waiting: a subscriber whose buffer is full is dropped, with the reason
// logged and kept for its reader.
func (n *Node) cdbFanout(evs []cdb.WatchEvent) {
	for _, ev := range evs {
		w, ok := n.cdb.watchers[ev.Watch]
		if !ok || ev.Rev < w.start {
			continue
		}
		select {
		case w.ch <- ev:
			w.last = ev.Rev
		default:
			err := fmt.Errorf("%w: %d changes were waiting for it; watch again from revision %d", ErrWatchBehind, cap(w.ch), w.last+1)
			n.log.Warn("config database watch dropped: its reader is too slow", "prefix", w.prefix, "waiting", cap(w.ch), "last_sent", w.last)
			n.cdbUnwatch(ev.Watch, err)
		}
	}
}
