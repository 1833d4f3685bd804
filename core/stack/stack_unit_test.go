package stack

import (
	"reflect"
	"slices"
	"testing"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/wire"
)

func TestFlushFraming(t *testing.T) {
	h := cdb.Head{Rev: 7, View: wire.ViewID{Epoch: 3, Coord: 2}, Adopted: wire.ViewID{Epoch: 2, Coord: 1}}
	var w wire.Writer
	w.Uint8(flushVersion)
	w.Bytes([]byte("bcast state"))
	putHead(&w, h)
	st, got, err := splitState(w)
	if err != nil || string(st) != "bcast state" || got != h {
		t.Fatalf("state: %q %+v %v", st, got, err)
	}
	if _, _, err := splitState(append(w, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, _, err := splitState(w[:len(w)-1]); err == nil {
		t.Fatal("truncated state accepted")
	}
	var p wire.Writer
	p.Uint8(flushVersion)
	p.Bytes([]byte("plan"))
	p.Uvarint(2)
	putHead(&p, h)
	putHead(&p, cdb.Head{})
	plan, heads, err := splitPlan(p)
	if err != nil || string(plan) != "plan" || len(heads) != 2 || heads[0] != h || heads[1] != (cdb.Head{}) {
		t.Fatalf("plan: %q %+v %v", plan, heads, err)
	}
	if _, _, err := splitPlan(p[:len(p)-2]); err == nil {
		t.Fatal("truncated plan accepted")
	}
}

// TestBcastBatch: a batch of bcast messages decodes to the same messages
// in order; a single message is sent as bcast encodes it; bad batches are
// refused.
func TestBcastBatch(t *testing.T) {
	v := wire.ViewID{Epoch: 3, Coord: 1}
	msgs := []bcast.Message{&bcast.Ack{View: v, Contiguous: 4}, &bcast.Stable{View: v, Seq: 3}, &bcast.Ack{View: v, Contiguous: 5}}
	var enc [][]byte
	for _, m := range msgs {
		enc = append(enc, bcast.Encode(m))
	}
	got, err := decodeBcast(encodeBcast(enc))
	if err != nil || !reflect.DeepEqual(got, msgs) {
		t.Fatalf("batch decoded to %v, %v; want %v", got, err, msgs)
	}
	if one := encodeBcast(enc[:1]); string(one) != string(enc[0]) {
		t.Fatalf("a single message is %x, want bcast's encoding %x", one, enc[0])
	}
	got, err = decodeBcast(enc[1])
	if err != nil || !reflect.DeepEqual(got, msgs[1:2]) {
		t.Fatalf("single message decoded to %v, %v", got, err)
	}
	b := encodeBcast(enc)
	for _, bad := range [][]byte{b[:len(b)-1], append(slices.Clone(b), 0), {bcastBatch}, {bcastBatch, 0xff, 0xff, 0xff}} {
		if _, err := decodeBcast(bad); err == nil {
			t.Fatalf("bad batch %x accepted", bad)
		}
	}
}
