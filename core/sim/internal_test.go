package sim

import (
	"testing"
	"time"
)

func TestClockConversionsAreInverse(t *testing.T) {
	r := newRand(1, 99)
	for _, num := range []uint64{rateDen, rateDen - 10_000_000, rateDen + 10_000_000, rateDen + 1, rateDen - 1, rateDen/2 + 12345} {
		for range 2000 {
			l := time.Duration(r.Int64N(int64(1000 * time.Hour)))
			e := globalElapsed(l, num)
			if got := localElapsed(e, num); got < l {
				t.Fatalf("num %d: local(global(%d)) = %d < %d", num, l, got, l)
			}
			if e > 0 {
				if got := localElapsed(e-1, num); got >= l {
					t.Fatalf("num %d: global(%d) = %d is not the smallest (local(e-1) = %d)", num, l, e, got)
				}
			}
		}
	}
	if got := localElapsed(100*time.Second, rateDen+rateDen/100); got != 101*time.Second {
		t.Fatalf("1%% fast clock after 100 s: %v", got)
	}
}

func TestQueueOrdersByTimeThenSeq(t *testing.T) {
	var q queue
	r := newRand(2, 99)
	for i := range 1000 {
		q.push(event{at: time.Duration(r.IntN(50)), node: i})
	}
	var last event
	for i := 0; q.len() > 0; i++ {
		e := q.pop()
		if i > 0 && (e.at < last.at || e.at == last.at && e.seq <= last.seq) {
			t.Fatalf("popped (%v, %d) after (%v, %d)", e.at, e.seq, last.at, last.seq)
		}
		if e.node != int(e.seq)-1 {
			t.Fatalf("seq %d carries node %d", e.seq, e.node)
		}
		last = e
	}
}

func TestDerivedStreamsDiffer(t *testing.T) {
	seen := map[uint64]bool{}
	for _, r := range []uint64{
		newRand(1, streamNet).Uint64(), newRand(2, streamNet).Uint64(), newRand(1, streamSetup).Uint64(),
		newRand(1, streamNode, 1, 1).Uint64(), newRand(1, streamNode, 1, 2).Uint64(), newRand(1, streamNode, 2, 1).Uint64(),
	} {
		if seen[r] {
			t.Fatal("two streams start alike")
		}
		seen[r] = true
	}
	if newRand(5, streamNode, 3, 4).Uint64() != newRand(5, streamNode, 3, 4).Uint64() {
		t.Fatal("a stream is not reproducible")
	}
}
