package dlm

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

// oneNode is a single-node DLM in a recovered primary view.
func oneNode(t *testing.T) *DLM {
	t.Helper()
	d, err := New(Config{Self: 1, Nodes: []wire.NodeID{1}}, rand.New(rand.NewPCG(1, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Step(time.Second, View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []wire.NodeID{1}, Primary: true}); err != nil {
		t.Fatal(err)
	}
	if rd := d.Ready(); len(rd.Events) != 1 || len(rd.Messages) != 0 {
		t.Fatalf("alone, recovery sends nothing and finishes at once: %+v", rd)
	}
	d.Advance()
	return d
}

func TestReadyAdvance(t *testing.T) {
	d := oneNode(t)
	o := Owner{Node: 1, ID: 1}
	a, err := d.Lock(time.Second, Request{Name: "R", Mode: EX, Owner: o})
	if err != nil {
		t.Fatal(err)
	}
	rd := d.Ready()
	if len(rd.Completions) != 1 || rd.Completions[0].ID != a || rd.Completions[0].Status != OK {
		t.Fatalf("ready: %+v", rd)
	}
	if again := d.Ready(); len(again.Completions) != 1 {
		t.Fatalf("Ready is the same until Advance: %+v", again)
	}
	d.Advance()
	if d.HasReady() {
		t.Fatalf("Advance dropped what Ready returned: %+v", d.Ready())
	}
	// A blocking notice queued, then the lock unlocked before the driver
	// took the Ready: the notice must not come after the EUNLOCK.
	if _, err := d.Lock(time.Second, Request{Name: "R", Mode: PR, Owner: Owner{Node: 1, ID: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Unlock(time.Second, a, 0, nil); err != nil {
		t.Fatal(err)
	}
	rd = d.Ready()
	if len(rd.Blocking) != 0 {
		t.Fatalf("blocking notice of an unlocked lock handed out: %+v", rd)
	}
	if len(rd.Completions) != 2 || rd.Completions[0].Status != EUNLOCK || rd.Completions[1].Status != OK {
		t.Fatalf("completions: %+v", rd.Completions)
	}
	d.Advance()
}

func TestSyncErrors(t *testing.T) {
	d := oneNode(t)
	o := Owner{Node: 1, ID: 1}
	long := string(make([]byte, MaxName+1))
	for _, r := range []Request{
		{Name: long, Mode: EX, Owner: o},
		{Lockspace: long, Name: "R", Mode: EX, Owner: o},
		{Name: "R", Mode: 9, Owner: o},
		{Name: "R", Mode: EX, Owner: o, Flags: ValBlk, LVB: make([]byte, 7)},
	} {
		if _, err := d.Lock(time.Second, r); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	if _, err := d.Lock(time.Second, Request{Name: "R", Mode: EX, Flags: Convert, ID: 99, Owner: o}); !errors.Is(err, ErrNotFound) {
		t.Errorf("convert of no lock: %v", err)
	}
	if err := d.Unlock(time.Second, 99, 0, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("unlock of no lock: %v", err)
	}
	if _, err := New(Config{Self: 1, LVB: map[string]int{"x": 12}}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("lvb length 12: %v", err)
	}
	if err := d.Step(time.Second, Receive{From: 2, Payload: []byte{0xff}}); !errors.Is(err, errMalformed) {
		t.Errorf("malformed message: %v", err)
	}
}

// BenchmarkLocalLockUnlock: a locally mastered lock and unlock through
// the DLM (no message), the Ready taken each time.
func BenchmarkLocalLockUnlock(b *testing.B) {
	d, _ := New(Config{Self: 1, Nodes: []wire.NodeID{1}}, nil)
	_ = d.Step(time.Second, View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: []wire.NodeID{1}, Primary: true})
	d.Ready()
	d.Advance()
	o := Owner{Node: 1, ID: 1}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		id, err := d.Lock(time.Second, Request{Name: "R", Mode: EX, Owner: o})
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Unlock(time.Second, id, 0, nil); err != nil {
			b.Fatal(err)
		}
		d.Ready()
		d.Advance()
	}
}

// BenchmarkRemoteLockUnlock: n2 locks and unlocks a resource n1 masters
// (a request and its reply, an unlock and its confirmation; encoding and
// decoding included, no network).
func BenchmarkRemoteLockUnlock(b *testing.B) {
	nodes := []wire.NodeID{1, 2}
	ds := map[wire.NodeID]*DLM{}
	for _, n := range nodes {
		ds[n], _ = New(Config{Self: n, Nodes: nodes}, nil)
	}
	pump := func() {
		for moved := true; moved; {
			moved = false
			for _, n := range nodes {
				rd := ds[n].Ready()
				ds[n].Advance()
				for _, m := range rd.Messages {
					moved = true
					_ = ds[m.To].Step(time.Second, Receive{From: n, Payload: m.Payload})
				}
			}
		}
	}
	v := View{ID: wire.ViewID{Epoch: 1, Coord: 1}, Members: nodes, Primary: true}
	for _, n := range nodes {
		_ = ds[n].Step(time.Second, v)
	}
	pump()
	if _, err := ds[1].Lock(time.Second, Request{Name: "R", Mode: NL, Owner: Owner{Node: 1, ID: 1}}); err != nil {
		b.Fatal(err)
	}
	pump()
	o := Owner{Node: 2, ID: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id, err := ds[2].Lock(time.Second, Request{Name: "R", Mode: EX, Owner: o})
		if err != nil {
			b.Fatal(err)
		}
		pump()
		if err := ds[2].Unlock(time.Second, id, 0, nil); err != nil {
			b.Fatal(err)
		}
		pump()
	}
}
