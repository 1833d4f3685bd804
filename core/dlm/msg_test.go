package dlm

import (
	"errors"
	"reflect"
	"testing"

	"github.com/corral-ha/corral/core/wire"
)

// sampleMsgs has one message of every kind, with every field it carries set.
func sampleMsgs() []msg {
	v := wire.ViewID{Epoch: 7, Coord: 3}
	rn := rname{ls: "default", name: "R"}
	o := Owner{Node: 2, ID: 99}
	lvb := []byte("abcdefgh")
	ri := ResourceInfo{Lockspace: "default", Name: "R", Master: 1, Directory: 2, LVBValid: true, LVB: lvb,
		Granted:    []LockInfo{{Node: 1, ID: 4, Owner: o, Granted: EX, Wanted: IV, Flags: ValBlk, Orphan: true}},
		Converting: []LockInfo{{Node: 2, ID: 5, Owner: o, Granted: NL, Wanted: PR}},
		Waiting:    []LockInfo{{Node: 3, ID: 6, Owner: o, Granted: IV, Wanted: CW}}}
	return []msg{
		{kind: mkRequest, view: v, rname: rn, id: 5, seq: 1, owner: o, mode: EX, flags: ValBlk | NoQueue, lvb: lvb},
		{kind: mkConvert, view: v, rname: rn, id: 5, seq: 2, owner: o, mode: NL, flags: Convert, lvb: []byte{}},
		{kind: mkUnlock, view: v, rname: rn, id: 5, seq: 3, flags: ForceUnlock, lvb: lvb},
		{kind: mkCancel, view: v, rname: rn, id: 5, seq: 4},
		{kind: mkReply, view: v, rname: rn, id: 5, seq: 4, owner: o, status: ECANCEL, mode: IV, sb: ValNotValid, lvb: lvb, lvbSeq: 12},
		{kind: mkBast, view: v, rname: rn, id: 5, owner: o, mode: PR},
		{kind: mkNotMaster, view: v, rname: rn, id: 5, seq: 9},
		{kind: mkLookup, view: v, rname: rn},
		{kind: mkLookupReply, view: v, rname: rn, node: 4},
		{kind: mkRemove, view: v, rname: rn},
		{kind: mkRemoveReply, view: v, rname: rn},
		{kind: mkRecDir, view: v, names: []rname{rn, {ls: "x", name: ""}}, tag: 6, node: 2},
		{kind: mkRecLookup, view: v, names: []rname{rn}},
		{kind: mkRecMasters, view: v, names: []rname{rn}, masters: []wire.NodeID{3}},
		{kind: mkRecLocks, view: v, locks: []reclock{{rname: rn, id: 3, owner: o, gr: PR, flags: Persistent, orphan: true, lvb: lvb, lvbSeq: 3, lvbBad: true, lvbStale: true}, {rname: rn, gr: IV}}},
		{kind: mkRecDone, view: v},
		{kind: mkDlQuery, view: v, tag: 8},
		{kind: mkDlEdges, view: v, tag: 8, edges: []edge{{from: o, to: Owner{Node: 1, ID: 1}, rname: rn, lock: lkey{Node: 2, ID: 5}, master: 1, noDlckWt: true}}},
		{kind: mkDlVictim, view: v, rname: rn, node: 2, id: 5},
		{kind: mkAsk, view: v, tag: 1, rname: rname{ls: "other"}},
		{kind: mkAnswer, view: v, tag: 1, res: []ResourceInfo{ri}},
		{kind: mkOwner, view: v, rname: rn, id: 5, owner: o, flags: Orphan},
		{kind: mkPurge, view: v, owner: o},
		{kind: mkAck, view: v, rname: rn, id: 5},
	}
}

func TestMsgRoundTrip(t *testing.T) {
	seen := map[msgKind]bool{}
	for _, m := range sampleMsgs() {
		seen[m.kind] = true
		b := m.encode(nil)
		got, err := decodeMsg(b)
		if err != nil {
			t.Fatalf("%v: %v", m.kind, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%v: round trip\n got %+v\nwant %+v", m.kind, got, m)
		}
		// Every strict prefix is refused with a wrapped error, never a panic.
		for i := 0; i < len(b); i++ {
			if _, err := decodeMsg(b[:i]); !errors.Is(err, errMalformed) {
				t.Errorf("%v: prefix of %d bytes: %v", m.kind, i, err)
			}
		}
		if _, err := decodeMsg(append(b, 0)); !errors.Is(err, errMalformed) {
			t.Errorf("%v: trailing byte accepted: %v", m.kind, err)
		}
	}
	for k := mkRequest; k < mkLast; k++ {
		if !seen[k] {
			t.Errorf("no sample of %v", k)
		}
	}
}

func TestMsgBad(t *testing.T) {
	for _, b := range [][]byte{nil, {0}, {byte(mkLast), 0, 0}, {byte(mkBast), 1, 1, 0xff}, {byte(mkRecLocks), 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}} {
		if _, err := decodeMsg(b); !errors.Is(err, errMalformed) {
			t.Errorf("%x: %v", b, err)
		}
	}
}

func FuzzDecodeMsg(f *testing.F) {
	for _, m := range sampleMsgs() {
		f.Add(m.encode(nil))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMsg(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error not wrapping errMalformed: %v", err)
			}
			return
		}
		again, err := decodeMsg(m.encode(nil))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding differs:\n%+v\n%+v", again, m)
		}
	})
}

func TestDirNodeSpread(t *testing.T) {
	members := []wire.NodeID{1, 2, 3, 4}
	fewer := []wire.NodeID{1, 2, 4}
	count := map[wire.NodeID]int{}
	moved := 0
	const n = 4000
	for i := 0; i < n; i++ {
		name := "res" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676))
		a := dirNode(members, "default", name)
		count[a]++
		if b := dirNode(fewer, "default", name); b != a {
			moved++
			if a != 3 {
				t.Fatalf("%s moved from %d (a member still) to %d", name, a, b)
			}
		}
	}
	for _, m := range members {
		if count[m] < n/4*8/10 || count[m] > n/4*12/10 {
			t.Errorf("node %d directs %d of %d names", m, count[m], n)
		}
	}
	if moved != count[3] {
		t.Errorf("%d names moved, node 3 had %d", moved, count[3])
	}
}
