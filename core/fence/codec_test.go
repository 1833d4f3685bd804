package fence

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

func sampleState() *state {
	s := newState()
	s.boots["n1"], s.boots["n3"] = 2, 5
	s.clean["n2"] = cleanRec{Boot: 1, View: wire.ViewID{Epoch: 6, Coord: 1}}
	s.member["n2"] = wire.ViewID{Epoch: 5, Coord: 2}
	s.confirms["n3"] = confRec{Boot: 4, By: "n1"}
	op := ID{View: wire.ViewID{Epoch: 7, Coord: 1}, N: 1}
	s.ops[op] = &opRec{ID: op, Target: "n3", Boot: 5, Reason: "left view 7/1 uncleanly", Watchdog: "n1", By: "n1", ByBoot: 2}
	at := ID{View: op.View, N: 2}
	s.atts[at] = &attRec{ID: at, Op: op, Target: "n3", Level: 1, LevelSize: 2, Dev: 1, Device: "pdu", Runner: "n1", RunnerBoot: 2, Result: resultFailed, Error: "no route"}
	s.reqs["n2.1.1"] = &reqRec{Key: "n2.1.1", Target: "n3", From: "n2", Reason: "by hand", Served: true}
	return s
}

func TestCodecRoundTrip(t *testing.T) {
	snap := sampleState().encode()
	back, err := decodeState(snap)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.encode(), snap) {
		t.Fatal("state does not round-trip")
	}
	msgs := []Message{
		{Kind: kindReport, From: "n1", Issued: wire.ViewID{Epoch: 3, Coord: 1}, Boot: 2, Running: []ID{{N: 4}}, Clean: []nodeBoot{{"n2", 1}}, State: snap},
		{Kind: kindAttempt, From: "n1", ID: ID{N: 9}, Op: ID{N: 8}, Target: "n3", Boot: 2, Round: 1, Level: 2, Dev: 1, LevelSize: 2, Device: "ipmi"},
		{Kind: kindDone, From: "n1", ID: ID{N: 9}, OK: true},
		{Kind: kindBegin, From: "n2", FromBoot: 3, Issued: wire.ViewID{Epoch: 4, Coord: 2}, ID: ID{N: 1}, Target: "n1", Boot: 1, Reason: "left"},
		{Kind: kindRequest, From: "n2", Req: "n2.1.1", Target: "n3", Reason: "by hand"},
	}
	for _, m := range msgs {
		got, err := Decode(Encode(m))
		if err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("%+v: got %+v, %v", m, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {9}, {1, 0}, {1, 200}, Encode(msgs[1])[:10]} {
		if _, err := Decode(bad); err == nil {
			t.Errorf("Decode(%v) accepted", bad)
		}
	}
}

// Version 1 (before the sender's boot id) still decodes, with FromBoot 0.
func TestCodecVersion1(t *testing.T) {
	m := Message{Kind: kindBegin, From: "n2", Issued: wire.ViewID{Epoch: 4, Coord: 2}, ID: ID{N: 1}, Target: "n1", Boot: 1, Reason: "left"}
	v2 := Encode(m)
	// version, kind, From ("n2": length 2, then the bytes), FromBoot (0)
	if v2[0] != 2 || v2[2] != 2 || v2[5] != 0 {
		t.Fatalf("unexpected version 2 layout % x", v2[:6])
	}
	v1 := append([]byte{1}, v2[1:5]...)
	v1 = append(v1, v2[6:]...)
	got, err := Decode(v1)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("version 1: got %+v, %v", got, err)
	}
}

// FuzzDecode: the decoder never panics, and what it accepts encodes back
// to the same bytes (one encoding per message).
func FuzzDecode(f *testing.F) {
	f.Add(Encode(Message{Kind: kindReport, From: "n1", Boot: 1, State: sampleState().encode()}))
	f.Add(Encode(Message{Kind: kindAttempt, From: "n1", Target: "n2", Device: "pdu", LevelSize: 1}))
	f.Add(Encode(Message{Kind: kindDone, ID: ID{N: 3}, OK: true}))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("decoded %+v does not round-trip: %+v %v", m, again, err)
		}
		if m.State != nil {
			s, err := decodeState(m.State)
			if err != nil {
				t.Fatalf("accepted a report with a bad state: %v", err)
			}
			if _, err := decodeState(s.encode()); err != nil {
				t.Fatal(err)
			}
		}
	})
}
