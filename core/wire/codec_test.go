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
