package node

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
)

// TestCDBWatchSlowReader: a watch whose reader does not read is dropped
// with the reason and the revision to resume from, and the writes go on
// (the event loop never waits for it); a reading watch gets every change
// in order, a replay from the log first.
func TestCDBWatchSlowReader(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, writeCluster(t, dir, 84, 1)[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var first cdb.Result
	eventually(t, 20*time.Second, "a first write", func() bool {
		var err error
		first, err = n.CDBSet(ctx, "/w/first", []byte("0"))
		return err == nil
	})
	slow, err := n.CDBWatch("/w/", 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	reader, err := n.CDBWatch("/w/", first.Rev, 64) // replays /w/first
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []cdb.WatchEvent, 1)
	go func() {
		var evs []cdb.WatchEvent
		for ev := range reader.C {
			evs = append(evs, ev)
			if len(evs) == 7 {
				break
			}
		}
		got <- evs
	}()
	var revs []uint64
	for i := range 6 {
		r, err := n.CDBSet(ctx, fmt.Sprintf("/w/k%d", i), []byte{byte('a' + i)})
		if err != nil {
			t.Fatalf("set %d with a stuck watch: %v", i, err)
		}
		revs = append(revs, r.Rev)
	}
	evs := <-got
	if evs[0].Rev != first.Rev || evs[0].Key != "/w/first" {
		t.Fatalf("replay %+v", evs[0])
	}
	for i, ev := range evs[1:] {
		if ev.Rev != revs[i] || ev.Key != fmt.Sprintf("/w/k%d", i) || string(ev.Value) != string(rune('a'+i)) {
			t.Fatalf("change %d: %+v, want rev %d", i, ev, revs[i])
		}
	}
	reader.Stop()
	var n2 int
	for range slow.C {
		n2++
	}
	if n2 != 2 || !errors.Is(slow.Err(), ErrWatchBehind) || !strings.Contains(slow.Err().Error(), fmt.Sprintf("from revision %d", revs[2])) {
		t.Fatalf("slow watch: %d changes, err %v; want 2 and a drop naming revision %d", n2, slow.Err(), revs[2])
	}
	// Stop ends a watch: its channel closes, with no error
	w, err := n.CDBWatch("/", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	select {
	case _, open := <-w.C:
		if open || w.Err() != nil {
			t.Fatalf("after Stop: open %v err %v", open, w.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not close the watch")
	}
}
