package bcast_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/bcast"
	"github.com/corral-ha/corral/core/wire"
)

func samples() []bcast.Message {
	v := wire.ViewID{Epoch: 300, Coord: 2}
	id := bcast.MsgID{Sender: 3, Boot: 7, N: 1 << 40}
	m := bcast.Msg{Seq: 12, ID: id, Payload: []byte("hello")}
	return []bcast.Message{
		&bcast.Submit{View: v, ID: id, Prev: 41, Payload: []byte("x")},
		&bcast.Submit{View: v, ID: id, Payload: []byte{}},
		&bcast.Order{View: v, Msg: m, Stable: 11},
		&bcast.Ack{View: v, Contiguous: 99},
		&bcast.Stable{View: v, Seq: 98},
		&bcast.FlushState{Node: 3, View: wire.ViewID{Epoch: 301, Coord: 1}, Old: v, Contiguous: 11,
			Held: []bcast.Msg{m, {Seq: 14, ID: id, Payload: []byte{}}}, Delivered: []bcast.Mark{{Sender: 1, Boot: 2, N: 3}, {Sender: 3, Boot: 7, N: 9}}},
		&bcast.FlushState{Node: 1, View: v},
		&bcast.Plan{View: v, Flush: []bcast.OldFlush{{Old: wire.ViewID{Epoch: 1, Coord: 1}, Cut: 12, Msgs: []bcast.Msg{m}}, {Old: wire.ViewID{Epoch: 2, Coord: 4}}},
			Delivered: []bcast.Mark{{Sender: 3, Boot: 7, N: 9}}},
		&bcast.Plan{View: v},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, m := range samples() {
		b := bcast.Encode(m)
		got, err := bcast.Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%T: round trip gave %+v, want %+v", m, got, m)
		}
		if !bytes.Equal(bcast.Encode(got), b) {
			t.Fatalf("%T: re-encoding differs", m)
		}
		for i := range b { // every strict prefix is an error
			if _, err := bcast.Decode(b[:i]); err == nil {
				t.Fatalf("%T: prefix of %d of %d bytes decoded", m, i, len(b))
			}
		}
		if _, err := bcast.Decode(append(b, 0)); err == nil {
			t.Fatalf("%T: trailing byte accepted", m)
		}
	}
	if _, err := bcast.Decode([]byte{0}); err == nil {
		t.Fatal("kind 0 accepted")
	}
	if _, err := bcast.Decode([]byte{200}); err == nil {
		t.Fatal("unknown kind accepted")
	}
	// A list length far beyond the input must not allocate it.
	if _, err := bcast.Decode([]byte{byte(bcast.KindPlan), 1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Fatal("huge list accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range samples() {
		f.Add(bcast.Encode(m))
	}
	f.Add([]byte{})
	f.Add([]byte{byte(bcast.KindFlushState), 0, 1, 1, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := bcast.Decode(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes to the same.
		m2, err := bcast.Decode(bcast.Encode(m))
		if err != nil {
			t.Fatalf("re-encoded %T does not decode: %v", m, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%T: %+v then %+v", m, m, m2)
		}
	})
}
