package wire

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func TestWriterReaderRoundTrip(t *testing.T) {
	var w Writer
	w.Uint8(0xAB)
	w.Uint16(0xBEEF)
	w.Uint32(0xDEADBEEF)
	w.Uint64(math.MaxUint64 - 1)
	w.Uvarint(0)
	w.Uvarint(300)
	w.Uvarint(math.MaxUint64)
	w.Bytes(nil)
	w.Bytes([]byte("payload"))
	w.String("héllo")

	r := NewReader(w)
	if got := r.Uint8(); got != 0xAB {
		t.Errorf("Uint8 = %#x", got)
	}
	if got := r.Uint16(); got != 0xBEEF {
		t.Errorf("Uint16 = %#x", got)
	}
	if got := r.Uint32(); got != 0xDEADBEEF {
		t.Errorf("Uint32 = %#x", got)
	}
	if got := r.Uint64(); got != math.MaxUint64-1 {
		t.Errorf("Uint64 = %#x", got)
	}
	for _, want := range []uint64{0, 300, math.MaxUint64} {
		if got := r.Uvarint(); got != want {
			t.Errorf("Uvarint = %d, want %d", got, want)
		}
	}
	if got := r.Bytes(); got == nil || len(got) != 0 {
		t.Errorf("empty Bytes = %#v, want empty non-nil", got)
	}
	if got := r.Bytes(); !bytes.Equal(got, []byte("payload")) {
		t.Errorf("Bytes = %q", got)
	}
	if got := r.String(); got != "héllo" {
		t.Errorf("String = %q", got)
	}
	if r.Err() != nil || r.Len() != 0 {
		t.Fatalf("after reading all: err %v, %d bytes left", r.Err(), r.Len())
	}
	if r.Uint8() != 0 || !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("read past the end: err %v", r.Err())
	}
}

func TestReaderErrorsAreSticky(t *testing.T) {
	r := NewReader([]byte{1, 2, 3})
	if r.Uint32() != 0 || r.Err() == nil {
		t.Fatal("Uint32 of 3 bytes succeeded")
	}
	// The next read would fit in the original input but must still fail.
	if r.Uint8() != 0 || r.Uint16() != 0 || r.Bytes() != nil || r.String() != "" || r.Uvarint() != 0 {
		t.Fatal("read after an error returned data")
	}
	if !errors.Is(r.Err(), ErrTruncated) {
		t.Fatalf("err = %v", r.Err())
	}
}

func TestReaderBadLengths(t *testing.T) {
	for _, in := range [][]byte{
		{5, 'a', 'b'}, // prefix 5, 2 bytes left
		{0x80},        // varint cut short
		{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, // varint overflows uint64
		{0xFF, 0xFF, 0xFF, 0xFF, 0x0F},                               // prefix 2^32-1
		{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, // prefix 2^64-1
	} {
		r := NewReader(in)
		if b := r.Bytes(); b != nil || !errors.Is(r.Err(), ErrTruncated) {
			t.Errorf("Bytes(%x) = %q, %v; want nil, ErrTruncated", in, b, r.Err())
		}
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[Type]string{TypePing: "Ping", TypeAck: "Ack", TypeHelloAck: "HelloAck", 200: "Type(200)"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
	for i := range len(typeNames) {
		if typeNames[i] == "" {
			t.Errorf("type %d has no name", i)
		}
	}
}

func TestHelpersRoundTrip(t *testing.T) {
	views := []ViewID{{}, {Epoch: 1, Coord: 1}, {Epoch: 300, Coord: 0xFFFF}, {Epoch: math.MaxUint64, Coord: 7}}
	var w Writer
	for _, v := range views {
		w.ViewID(v)
	}
	w.Bool(true)
	w.Bool(false)
	w.Uvarint(3) // a count of 3 two-byte elements
	w.Uint16(1)
	w.Uint16(2)
	w.Uint16(3)
	// The encoding every core has used for a view id: epoch uvarint, coordinator 2 bytes.
	if want := []byte{0, 0, 0, 1, 0, 1, 0xAC, 0x02, 0xFF, 0xFF}; !bytes.Equal(w[:len(want)], want) {
		t.Fatalf("view id encoding %x, want %x", w[:len(want)], want)
	}
	r := NewReader(w)
	for _, want := range views {
		if got := r.ViewID(); got != want {
			t.Errorf("ViewID = %v, want %v", got, want)
		}
	}
	if !r.Bool() || r.Bool() {
		t.Errorf("Bool did not round-trip")
	}
	if n := r.Count(2, 3); n != 3 {
		t.Errorf("Count = %d, want 3", n)
	}
	for range 3 {
		r.Uint16()
	}
	if r.Err() != nil || r.Len() != 0 {
		t.Fatalf("after reading all: err %v, %d bytes left", r.Err(), r.Len())
	}
}

func TestCountBounds(t *testing.T) {
	for _, c := range []struct {
		in             []byte
		minSize, limit int
		want           int
		ok             bool
	}{
		{[]byte{0}, 1, 10, 0, true},
		{[]byte{2, 0, 0}, 1, 10, 2, true},
		{[]byte{3, 0, 0}, 1, 10, 0, false},    // more than the bytes left
		{[]byte{2, 0, 0, 0}, 2, 10, 0, false}, // two 2-byte elements need 4 bytes
		{[]byte{2, 0, 0, 0, 0}, 2, 10, 2, true},
		{[]byte{2, 0, 0}, 1, 1, 0, false},       // above the limit
		{[]byte{0xFF}, 1, 10, 0, false},         // varint cut short
		{[]byte{1, 0}, 0, math.MaxInt, 1, true}, // minSize 0 counts as 1
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 1, math.MaxInt, 0, false},
	} {
		r := NewReader(c.in)
		got := r.Count(c.minSize, c.limit)
		if got != c.want || (r.Err() == nil) != c.ok {
			t.Errorf("Count(%x, %d, %d) = %d, err %v; want %d, ok %v", c.in, c.minSize, c.limit, got, r.Err(), c.want, c.ok)
		}
		if !c.ok && (r.Len() != 0 || r.Uint8() != 0 || !errors.Is(r.Err(), ErrTruncated)) {
			t.Errorf("Count(%x): a failed Count must leave the Reader failed", c.in)
		}
	}
}

func TestFailAndBadBool(t *testing.T) {
	r := NewReader([]byte{1, 2, 3, 4})
	r.Fail()
	if !errors.Is(r.Err(), ErrTruncated) || r.Len() != 0 || r.Uint8() != 0 {
		t.Fatalf("after Fail: err %v, len %d", r.Err(), r.Len())
	}
	r = NewReader([]byte{2, 1})
	if r.Bool() || !errors.Is(r.Err(), ErrTruncated) || r.Len() != 0 {
		t.Fatalf("Bool of byte 2: err %v, len %d", r.Err(), r.Len())
	}
}

// FuzzHelpers reads arbitrary input with the helpers: they never panic, a
// count they accept fits the bytes left, and what they read re-encodes to
// the bytes consumed (one encoding per value).
func FuzzHelpers(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 0, 0, 0, 0})
	f.Add([]byte{0xAC, 0x02, 0xFF, 0xFF, 1, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		v := r.ViewID()
		flag := r.Bool()
		before := r.Len()
		n := r.Count(2, 1<<16)
		if r.Err() != nil {
			if n != 0 || r.Len() != 0 {
				t.Fatalf("failed read left n=%d, %d bytes", n, r.Len())
			}
			return
		}
		if 2*n > r.Len() {
			t.Fatalf("count %d accepted with %d bytes left", n, r.Len())
		}
		var w Writer
		w.ViewID(v)
		w.Bool(flag)
		w.Uvarint(uint64(n))
		if used := len(b) - r.Len(); !bytes.Equal(w, b[:used]) {
			t.Fatalf("re-encoded %x, read %x (count read from %d bytes)", []byte(w), b[:used], before)
		}
	})
}
