package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestEncodeDecode(t *testing.T) {
	for _, m := range []Message{
		&Ping{},
		&Ping{Seq: 1, Payload: []byte("x")},
		&Pong{Seq: 1 << 60, Payload: bytes.Repeat([]byte{7}, 5000)},
	} {
		b := Encode(m)
		if Type(b[0]) != m.Type() || b[1] != EncodingVersion {
			t.Fatalf("Encode(%#v) starts %x", m, b[:2])
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%T)): %v", m, err)
		}
		if got.Type() != m.Type() {
			t.Fatalf("type %v, want %v", got.Type(), m.Type())
		}
		// Normalize nil/empty payloads before comparing.
		want := Encode(m)
		if !bytes.Equal(Encode(got), want) {
			t.Fatalf("re-encoding differs: %x vs %x", Encode(got), want)
		}
	}
	got, _ := Decode(Encode(&Ping{Seq: 9, Payload: []byte("abc")}))
	if !reflect.DeepEqual(got, &Ping{Seq: 9, Payload: []byte("abc")}) {
		t.Fatalf("got %#v", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := Encode(&Ping{Seq: 3, Payload: []byte("hello")})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"type only", good[:1], ErrTruncated},
		{"unknown type", append([]byte{200}, good[1:]...), ErrUnknownType},
		{"invalid type", append([]byte{0}, good[1:]...), ErrUnknownType},
		{"version 0", append([]byte{good[0], 0}, good[2:]...), ErrMsgVersion},
		{"future version", append([]byte{good[0], EncodingVersion + 1}, good[2:]...), ErrMsgVersion},
		{"trailing", append(append([]byte{}, good...), 0), ErrTrailing},
	} {
		if _, err := Decode(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	for n := 2; n < len(good); n++ {
		if _, err := Decode(good[:n]); !errors.Is(err, ErrTruncated) {
			t.Errorf("prefix %d: err = %v, want ErrTruncated", n, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add(Encode(&Ping{Seq: 1, Payload: []byte("seed")}))
	f.Add(Encode(&Pong{Seq: 1 << 40}))
	f.Add([]byte{byte(TypePing), 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F})
	for t := range TypeDisk + 2 { // every type, known or not, with some fields
		f.Add(append([]byte{byte(t), EncodingVersion}, bytes.Repeat([]byte{0x81, 0x01, 0x00, 0x7F}, 12)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if m != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		// What decodes re-encodes to the same bytes: one encoding per message.
		if again := Encode(m); !bytes.Equal(again, b) {
			t.Fatalf("Decode(%x) re-encodes to %x", b, again)
		}
	})
}

// TestLineageRoundTrip: a lineage's Need and a proposal's reference view
// survive the encoding, and every truncation of them is an error.
func TestLineageRoundTrip(t *testing.T) {
	lin := Lineage{LP: View{ID: ViewID{6, 1}, Members: []NodeID{1, 2, 3, 4, 5}}, Prev: View{ID: ViewID{2, 1}, Members: []NodeID{1, 2}},
		LPAge: 5, Promised: true, Need: []View{{ID: ViewID{4, 1}, Members: []NodeID{1, 2, 3}}, {ID: ViewID{5, 3}, Members: []NodeID{3, 4, 5}}}}
	for _, m := range []Message{
		&Report{State: 2, Promise: ViewID{6, 1}, Installed: View{ID: ViewID{3, 1}, Members: []NodeID{1, 2}}, Reach: []NodeID{2}, Lineage: lin, Settings: "s"},
		&Promise{ID: ViewID{7, 1}, Lineage: lin, Flush: []byte("f")},
		&Propose{View: View{ID: ViewID{6, 1}, Members: []NodeID{1, 2, 3, 4, 5}}, States: []uint8{2, 2, 2, 2, 2}, Primary: true,
			Ref: ViewID{5, 3}, RefMembers: []NodeID{3, 4, 5}},
	} {
		b := Encode(m)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(%T)): %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%T: got %+v, want %+v", m, got, m)
		}
		for n := 2; n < len(b); n++ {
			if _, err := Decode(b[:n]); err == nil {
				t.Fatalf("%T: prefix %d of %d decoded", m, n, len(b))
			}
		}
	}
}

// TestDLMRoundTrip: a lock manager payload travels as is (any bytes, the
// empty one too) and decodes back with its type; the type number is
// fixed on the wire (append-only, type.go).
func TestDLMRoundTrip(t *testing.T) {
	if TypeDLM != 21 || TypeDLM.String() != "DLM" {
		t.Fatalf("TypeDLM = %d %q, want 21 \"DLM\"", uint8(TypeDLM), TypeDLM)
	}
	for _, p := range [][]byte{nil, {0}, []byte("lock request"), bytes.Repeat([]byte{0xff}, 3000)} {
		b := Encode(&DLM{Payload: p})
		if Type(b[0]) != TypeDLM || b[1] != EncodingVersion {
			t.Fatalf("Encode starts %x", b[:2])
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		d, ok := m.(*DLM)
		if !ok {
			t.Fatalf("Decode gave %T, want *DLM", m)
		}
		if !bytes.Equal(d.Payload, p) {
			t.Fatalf("payload %x, want %x", d.Payload, p)
		}
	}
	if _, err := Decode([]byte{byte(TypeDLM)}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("header cut short: err %v", err)
	}
}

// TestDiskRoundTrip: a served disk payload travels as is (any bytes, a
// whole piece too) and decodes back with its type; the type number is
// fixed on the wire (append-only, type.go: the next after TypeDLM).
func TestDiskRoundTrip(t *testing.T) {
	if TypeDisk != 22 || TypeDisk.String() != "Disk" {
		t.Fatalf("TypeDisk = %d %q, want 22 \"Disk\"", uint8(TypeDisk), TypeDisk)
	}
	for _, p := range [][]byte{nil, {0}, []byte("write"), bytes.Repeat([]byte{0xa5}, 256<<10+64)} {
		b := Encode(&Disk{Payload: p})
		if Type(b[0]) != TypeDisk || b[1] != EncodingVersion {
			t.Fatalf("Encode starts %x", b[:2])
		}
		m, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		d, ok := m.(*Disk)
		if !ok {
			t.Fatalf("Decode gave %T, want *Disk", m)
		}
		if !bytes.Equal(d.Payload, p) {
			t.Fatalf("payload of %d bytes differs", len(p))
		}
	}
	if _, err := Decode([]byte{byte(TypeDisk)}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("header cut short: err %v", err)
	}
}

// TestUnblockFlags: the unblock bits of a lineage and a proposal survive
// the encoding; without them the bytes are what a Bool writes (older
// releases read them); a byte with other bits is an error.
func TestUnblockFlags(t *testing.T) {
	lin := Lineage{LP: View{ID: ViewID{6, 1}, Members: []NodeID{1}}, AllSeen: true, Unblocked: true}
	for _, m := range []Message{
		&Promise{ID: ViewID{7, 1}, Lineage: lin, Flush: []byte{}},
		&Propose{View: View{ID: ViewID{7, 1}, Members: []NodeID{1}}, States: []uint8{2}, Primary: true, Unblocked: true},
		&Report{Lineage: Lineage{LP: View{ID: ViewID{8, 1}, Members: []NodeID{1, 2}}, Prev: lin.LP, Promised: true, PrevUnblocked: true}},
	} {
		got, err := Decode(Encode(m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Fatalf("%T: got %+v, %v; want %+v", m, got, err, m)
		}
	}
	plain := Encode(&Propose{View: View{ID: ViewID{7, 1}, Members: []NodeID{1}}, States: []uint8{2}, Primary: true})
	var w Writer
	w.view(View{ID: ViewID{7, 1}, Members: []NodeID{1}})
	w.Bytes([]uint8{2})
	if i := 2 + len(w); plain[i] != 1 {
		t.Fatalf("a primary proposal without unblock writes %d for its flags, want 1 (what Bool writes)", plain[i])
	}
	bad := Encode(&Propose{View: View{ID: ViewID{7, 1}, Members: []NodeID{1}}, States: []uint8{2}, Primary: true})
	bad[2+len(w)] = 4
	if _, err := Decode(bad); err == nil {
		t.Fatal("a flags byte with bit 2 decoded")
	}
}
