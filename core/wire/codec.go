package wire

import (
	"encoding/binary"
	"errors"
	"math"
)

// ErrTruncated is the Reader's error when a field runs past the end of its
// input, a length prefix exceeds what remains, or a varint is malformed.
var ErrTruncated = errors.New("wire: message truncated")

// Writer appends big-endian fields to a byte slice. The zero value is an
// empty buffer; convert an existing slice to append to it:
//
//	w := Writer(b)
//	w.Uint64(seq)
//	w.Bytes(payload)
//	return w
type Writer []byte

// Uint8 appends one byte.
func (w *Writer) Uint8(v uint8) { *w = append(*w, v) }

// Uint16 appends v in 2 bytes.
func (w *Writer) Uint16(v uint16) { *w = binary.BigEndian.AppendUint16(*w, v) }

// Uint32 appends v in 4 bytes.
func (w *Writer) Uint32(v uint32) { *w = binary.BigEndian.AppendUint32(*w, v) }

// Uint64 appends v in 8 bytes.
func (w *Writer) Uint64(v uint64) { *w = binary.BigEndian.AppendUint64(*w, v) }

// Uvarint appends v as an unsigned varint (1 to 10 bytes).
func (w *Writer) Uvarint(v uint64) { *w = binary.AppendUvarint(*w, v) }

// Bytes appends p prefixed by its length as a uvarint.
func (w *Writer) Bytes(p []byte) {
	w.Uvarint(uint64(len(p)))
	*w = append(*w, p...)
}

// String appends s prefixed by its length as a uvarint.
func (w *Writer) String(s string) {
	w.Uvarint(uint64(len(s)))
	*w = append(*w, s...)
}

// Reader reads the fields a Writer wrote. Errors are sticky: after the first
// failure every read returns a zero value and Err reports ErrTruncated. It
// never panics, whatever its input.
type Reader struct {
	b   []byte
	err error
	ver uint8
}

// NewReader returns a Reader over b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns the number of unread bytes.
func (r *Reader) Len() int { return len(r.b) }

// Version returns the message encoding version Decode found in front of the
// message, so a message's Decode can read older layouts; 0 for a Reader made
// by NewReader.
func (r *Reader) Version() uint8 { return r.ver }

func (r *Reader) next(n int) []byte {
	if r.err != nil || n < 0 || n > len(r.b) {
		r.Fail()
		return nil
	}
	p := r.b[:n:n]
	r.b = r.b[n:]
	return p
}

// Fail marks the input as malformed, for a decoder that finds a value no
// encoder writes (an unknown enum, an out-of-range number): Err reports
// ErrTruncated from now on and every read returns a zero value, as after a
// field cut short.
func (r *Reader) Fail() {
	if r.err == nil {
		r.err = ErrTruncated
	}
	r.b = nil
}

// Uint8 reads what Writer.Uint8 wrote.
func (r *Reader) Uint8() uint8 {
	if p := r.next(1); p != nil {
		return p[0]
	}
	return 0
}

// Uint16 reads what Writer.Uint16 wrote.
func (r *Reader) Uint16() uint16 {
	if p := r.next(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

// Uint32 reads what Writer.Uint32 wrote.
func (r *Reader) Uint32() uint32 {
	if p := r.next(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// Uint64 reads what Writer.Uint64 wrote.
func (r *Reader) Uint64() uint64 {
	if p := r.next(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// Uvarint reads an unsigned varint. A varint cut short, overflowing 64 bits
// or longer than needed is an error, so every value has one encoding.
func (r *Reader) Uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 || n > 1 && r.b[n-1] == 0 { // cut short, overflowing or not minimal
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Uvarint32 reads an unsigned varint that must fit in 32 bits; a larger
// value is an error rather than silently truncated.
func (r *Reader) Uvarint32() uint32 {
	v := r.Uvarint()
	if v > math.MaxUint32 {
		r.Fail()
		return 0
	}
	return uint32(v)
}

// Bytes reads a length-prefixed byte string. The result aliases the input
// (its capacity is clipped, so appending to it copies); it is nil only on
// error, empty but non-nil for a zero length.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.err != nil {
		return nil
	}
	if n > math.MaxInt32 || int(n) > len(r.b) {
		r.Fail()
		return nil
	}
	if n == 0 {
		return []byte{}
	}
	return r.next(int(n))
}

// String reads a length-prefixed string.
func (r *Reader) String() string { return string(r.Bytes()) }

// Count reads a list's length, written by Writer.Uvarint, for a list whose
// elements take at least minSize bytes each (minSize >= 1): a length above
// limit, or above what the unread bytes can hold, fails the Reader (so a
// few bytes never make a decoder allocate much) and Count returns 0.
func (r *Reader) Count(minSize, limit int) int {
	n := r.Uvarint()
	if n > uint64(limit) || n > uint64(r.Len()/max(minSize, 1)) {
		r.Fail()
		return 0
	}
	return int(n)
}

// ViewID appends v: its epoch as a uvarint, then its coordinator in 2 bytes.
func (w *Writer) ViewID(v ViewID) {
	w.Uvarint(v.Epoch)
	w.Uint16(uint16(v.Coord))
}

// ViewID reads what Writer.ViewID wrote.
func (r *Reader) ViewID() ViewID {
	return ViewID{Epoch: r.Uvarint(), Coord: NodeID(r.Uint16())}
}

// Bool appends b as one byte, 1 or 0.
func (w *Writer) Bool(b bool) {
	if b {
		w.Uint8(1)
	} else {
		w.Uint8(0)
	}
}

// Bool reads what Writer.Bool wrote; any byte but 0 or 1 fails the Reader.
func (r *Reader) Bool() bool {
	switch r.Uint8() {
	case 0:
		return false
	case 1:
		return true
	}
	r.Fail()
	return false
}

// Rest returns everything not read yet (aliasing the input) and consumes it.
func (r *Reader) Rest() []byte {
	if r.err != nil {
		return nil
	}
	b := r.b
	r.b = r.b[len(r.b):]
	return b
}
