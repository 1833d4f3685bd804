package crm

import (
	"reflect"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/wire"
)

func sampleMessages() []Message {
	v := wire.ViewID{Epoch: 7, Coord: 2}
	return []Message{
		&Report{Node: "n1", View: v, Full: true, Res: []ResReport{{Resource: "web", Group: "g", State: Started, Op: OpID{7, 3}, Action: ActStop,
			Done: OpID{7, 2}, Failure: true, Status: StatusTimeout, Error: "took too long"}},
			Known: Known{View: wire.ViewID{Epoch: 6, Coord: 1}, Owners: []Owner{{Node: "n3", Group: "g"}, {Node: "n4"}}}},
		&Actions{View: v, List: []Action{{Op: OpID{7, 1}, Node: "n2", Resource: "web", Group: "g", Agent: "dummy", Action: ActStart,
			Params: map[string]string{"a": "1", "b": ""}, Timeout: time.Second, Interval: 10 * time.Second, MonitorTimeout: time.Second}}},
		&State{View: v, Full: true, Groups: []GroupState{{Name: "g", State: "online", Owner: "n2", Reason: "r", Why: "w", Active: []string{"n2"},
			Restarts: []time.Duration{time.Second}, Failovers: []time.Duration{2 * time.Second}, Bans: []Ban{{Node: "n1", Left: time.Minute}},
			Move: &MoveState{Node: "n2", Away: "", Back: "n1", Left: 30 * time.Second}, Failed: "f", Stopped: true,
			Res: []ResStatus{{Resource: "web", Node: "n2", State: Started}}}},
			Removed: []string{"old"}, Unfenced: []string{"n3"}, Events: []Event{{Kind: EvGroupMoved, Group: "g", From: "n1", To: "n2"}}},
		&Command{From: "n1", Kind: CmdMove, Group: "g", Node: "n2", For: time.Minute},
		&Command{From: "n1", Kind: CmdCleanup, Resource: "web"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Encode(m)
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%T: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("%T: got %+v\nwant %+v", m, got, m)
		}
		for i := 0; i < len(b); i++ {
			if _, err := Decode(b[:i]); err == nil {
				t.Fatalf("%T cut at %d of %d decodes", m, i, len(b))
			}
		}
	}
	if _, err := Decode(append(Encode(sampleMessages()[3]), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(Encode(m))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		// what decodes re-encodes to something that decodes the same
		m2, err := Decode(Encode(m))
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoding %x: %v", b, err)
		}
	})
}
