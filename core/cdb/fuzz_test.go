package cdb

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

// FuzzDecodeMessage feeds DecodeMessage what a peer can send as a catch-up
// message (Fetch/Chunk). What decodes re-encodes to bytes that decode to the
// same message (one canonical form); what does not decode fails with
// ErrCorrupt and no message.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []Message{
		{Fetch: &Fetch{View: v1, First: true, Base: 3, Runs: []Run{{View: v1, First: 4, Last: 9}}}},
		{Fetch: &Fetch{View: v1, After: 7}},
		{Chunk: &Chunk{View: v1, From: 2, Snapshot: []byte{1, 2}, SnapRev: 2, Head: 4, Last: true,
			Entries: []Entry{{Rev: 3, View: v1, Seq: 1, Update: Update{Origin: 1, Request: CAS("c", 1, "/k", 0, []byte("v"))}}}}},
	} {
		var w wire.Writer
		m.Append(&w)
		f.Add([]byte(w))
	}
	f.Add([]byte{})
	f.Add([]byte{msgVersion, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMessage(wire.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if m.Fetch != nil || m.Chunk != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		if (m.Fetch == nil) == (m.Chunk == nil) {
			t.Fatalf("decoded %+v: exactly one of Fetch and Chunk must be set", m)
		}
		var w wire.Writer
		m.Append(&w)
		m2, err := DecodeMessage(wire.NewReader(w))
		if err != nil {
			t.Fatalf("re-encoding of %x does not decode: %v", b, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%x decodes to %+v, its re-encoding to %+v", b, m, m2)
		}
		var w2 wire.Writer
		m2.Append(&w2)
		if !bytes.Equal(w, w2) {
			t.Fatalf("encoding not canonical: %x then %x", []byte(w), []byte(w2))
		}
	})
}

// FuzzDeliver feeds a one-node primary DB a broadcast payload from the
// fuzzer, as a peer's proposal reaches every member: it is held and
// committed. A payload that does not decode is refused with ErrCorrupt (the
// DB is unchanged); one that does is applied, and the DB's snapshot still
// restores to the same bytes.
func FuzzDeliver(f *testing.F) {
	f.Add(EncodeUpdate(Update{Origin: 2, Request: Set("c", 1, "/k", []byte("v"))}))
	f.Add(EncodeUpdate(Update{Origin: 1, Request: CAS("c", 2, "/k", 0, []byte("v"))}))
	f.Add(EncodeUpdate(Update{Origin: 3, Request: Request{Client: "x", Seq: 9, If: []Cond{{Key: "/a", ModRev: 1}},
		Then: []Op{{Kind: OpDelete, Key: "/a"}, {Kind: OpPut, Key: "/b", Value: []byte("w")}}}}))
	f.Add([]byte{msgVersion})
	f.Fuzz(func(t *testing.T, p []byte) {
		s := newSingle(t)
		s.do(Set("seed", 1, "/k", []byte("v0")))
		before := s.d.Snapshot()
		_, decErr := DecodeUpdate(wire.NewReader(p))
		s.seq++
		dl := Delivery{View: v1, Primary: true, Seq: s.seq, Payload: p}
		err := s.d.Step(0, Hold(dl))
		if decErr != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("hold of an undecodable payload: err %v, want ErrCorrupt", err)
			}
			if !bytes.Equal(s.d.Snapshot(), before) {
				t.Fatal("a refused payload changed the DB")
			}
			return
		}
		if err != nil {
			t.Fatalf("hold of a decodable payload: %v", err)
		}
		if err := s.d.Step(0, Commit(dl)); err != nil {
			t.Fatalf("commit: %v", err)
		}
		ready(s.d)
		x := s.d.Snapshot()
		d2 := mustNew(Config{Self: 1})
		if err := d2.Restore(x); err != nil {
			t.Fatalf("restore of the snapshot after applying %x: %v", p, err)
		}
		if !bytes.Equal(d2.Snapshot(), x) {
			t.Fatal("restore(snapshot) != snapshot")
		}
	})
}
