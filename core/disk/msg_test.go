package disk

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

func sampleMsgs() []msg {
	v := wire.ViewID{Epoch: 7, Coord: 2}
	return []msg{
		{kind: mkRequest, disk: "d", epoch: 3, view: v, seq: 9, ackedBelow: 5, op: OpWrite, off: 4096, n: 4, data: []byte("abcd"), fua: true},
		{kind: mkRequest, disk: "drd1", epoch: 1 << 40, view: v, seq: 1, ackedBelow: 1, op: OpRead, off: 1 << 33, n: MaxPiece},
		{kind: mkRequest, disk: "d", epoch: 1, view: v, seq: 2, op: OpZero, off: 0, n: 100, noHole: true},
		{kind: mkRequest, disk: "d", epoch: 1, view: v, seq: 3, op: OpFlush},
		{kind: mkReply, disk: "d", epoch: 3, view: v, seq: 9, data: []byte("xyz")},
		{kind: mkReply, disk: "d", epoch: 3, view: v, seq: 9, errno: ENOSPC},
		{kind: mkReply, disk: "d", epoch: 3, view: v, seq: 9, refusal: rfStaleView},
		{kind: mkReply, disk: "d", epoch: 3, view: v, seq: 9, refusal: rfExcluded},
		{kind: mkAnnounce, disk: "d", epoch: 2, server: Inc{Node: 3, Boot: 1 << 31}, clients: []wire.NodeID{1, 2, 65535}},
		{kind: mkAnnounce, disk: "d", epoch: 2, server: Inc{Node: 1, Boot: 1}},
		{kind: mkStopped, disk: "d", epoch: 2},
	}
}

func TestMsgRoundTrip(t *testing.T) {
	for _, m := range sampleMsgs() {
		b := m.encode(nil)
		got, err := decodeMsg(b)
		if err != nil {
			t.Fatalf("%v: %v", m.kind, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
		}
		// Every strict prefix is malformed, and so is a trailing byte.
		for i := 0; i < len(b); i++ {
			if _, err := decodeMsg(b[:i]); !errors.Is(err, errMalformed) {
				t.Fatalf("%v: prefix %d decoded: %v", m.kind, i, err)
			}
		}
		if _, err := decodeMsg(append(b, 0)); !errors.Is(err, errMalformed) {
			t.Fatalf("%v: trailing byte decoded: %v", m.kind, err)
		}
	}
}

func TestMsgMalformed(t *testing.T) {
	v := wire.ViewID{Epoch: 1, Coord: 1}
	bad := []msg{
		{kind: mkLast, disk: "d"},
		{kind: 0, disk: "d"},
		{kind: mkStopped, disk: ""},
		{kind: mkRequest, disk: "d", view: v, op: 0},
		{kind: mkRequest, disk: "d", view: v, op: OpZero + 1},
		{kind: mkRequest, disk: "d", view: v, op: OpWrite, n: 5, data: []byte("abcd")},
		{kind: mkRequest, disk: "d", view: v, op: OpRead, n: 4, data: []byte("abcd")},
		{kind: mkRequest, disk: "d", view: v, op: OpRead, n: MaxPiece + 1},
		{kind: mkRequest, disk: "d", view: v, op: OpRead, off: ^uint64(0), n: 2},
		{kind: mkReply, disk: "d", view: v, refusal: rfLast},
		{kind: mkReply, disk: "d", view: v, errno: ESHUTDOWN + 1},
		{kind: mkReply, disk: "d", view: v, refusal: rfStaleEpoch, errno: EIO},
		{kind: mkReply, disk: "d", view: v, errno: EIO, data: []byte("x")},
		{kind: mkAnnounce, disk: "d", clients: []wire.NodeID{2, 2}},
		{kind: mkAnnounce, disk: "d", clients: []wire.NodeID{3, 1}},
	}
	for i, m := range bad {
		if _, err := decodeMsg(m.encode(nil)); !errors.Is(err, errMalformed) {
			t.Errorf("case %d (%v) decoded: %v", i, m.kind, err)
		}
	}
	// Unknown flag bits.
	b := (&msg{kind: mkRequest, disk: "d", view: v, op: OpRead}).encode(nil)
	b[len(b)-2] = 4
	if _, err := decodeMsg(b); !errors.Is(err, errMalformed) {
		t.Errorf("flag 4 decoded: %v", err)
	}
	// A disk name over the bound.
	long := (&msg{kind: mkStopped, disk: string(bytes.Repeat([]byte("n"), maxDiskName+1))}).encode(nil)
	if _, err := decodeMsg(long); !errors.Is(err, errMalformed) {
		t.Errorf("long name decoded: %v", err)
	}
}

// TestStepMalformed: Step returns the error, counts the message, and
// changes nothing.
func TestStepMalformed(t *testing.T) {
	c, err := New(Config{Self: Inc{Node: 1, Boot: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Step(0, Receive{From: Inc{Node: 2, Boot: 1}, Payload: []byte{1, 2, 3}}); !errors.Is(err, errMalformed) {
		t.Fatalf("Step: %v", err)
	}
	if err := c.Step(0, IODone{ID: 77}); err != nil {
		t.Fatal(err)
	}
	if m, u := c.Dropped(); m != 1 || u != 1 {
		t.Fatalf("Dropped = %d, %d; want 1, 1", m, u)
	}
	if c.HasReady() {
		t.Fatalf("Ready after malformed input: %+v", c.Ready())
	}
}

// FuzzDecode: decoding never panics; whatever decodes re-encodes to the
// same bytes (the encoding is canonical but for varints, so compare the
// decoded values).
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(m.encode(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMsg(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error not malformed: %v", err)
			}
			return
		}
		m2, err := decodeMsg(m.encode(nil))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding differs:\n%+v\n%+v", m, m2)
		}
		// And the core takes it without panicking.
		c, _ := New(Config{Self: Inc{Node: 1, Boot: 1}})
		_ = c.Step(0, Define{Disks: []Disk{{Name: m.disk, Size: 1 << 20}}})
		_ = c.Step(0, View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []Inc{{1, 1}, {2, 1}}, Primary: true})
		_ = c.Step(0, Serve{Disk: m.disk, Epoch: m.epoch})
		_ = c.Step(0, Receive{From: Inc{Node: 2, Boot: 1}, Payload: b})
		for _, io := range c.Ready().IO {
			_ = c.Step(0, IODone{ID: io.ID, Data: make([]byte, io.Len)})
		}
	})
}
