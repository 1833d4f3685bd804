package cdb

import (
	"errors"
	"reflect"
	"testing"
)

// TestStepAndReady (issue 17): Hold, Commit, BeginAdopt and a peer's
// Receive go through Step, which refuses what it cannot take; Ready
// changes nothing and Advance acknowledges it. Ready used to clear what it
// returned.
func TestStepAndReady(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New took a config without Self")
	}
	a, b := mustNew(Config{Self: 1}), mustNew(Config{Self: 2})
	if err := a.Step(0, nil); !errors.Is(err, ErrUnknownInput) {
		t.Fatalf("nil input: %v, want ErrUnknownInput", err)
	}
	for _, d := range []*DB{a, b} {
		if err := d.Step(0, BeginAdopt{View: v1, Source: 1}); err != nil {
			t.Fatal(err)
		}
	}
	rd := a.Ready()
	if again := a.Ready(); !reflect.DeepEqual(again, rd) || len(rd.Broadcast) != 1 {
		t.Fatalf("Ready %+v, then %+v: want the same barrier twice", rd, again)
	}
	a.Advance()
	if a.HasReady() {
		t.Fatalf("after Advance: %+v", a.Ready())
	}
	// b fetches from a: while it catches up it refuses a Hold of the view
	fetch := b.Ready()
	b.Advance()
	if len(fetch.Messages) != 1 || fetch.Messages[0].Fetch == nil {
		t.Fatalf("b sent %+v, want one Fetch", fetch.Messages)
	}
	if err := b.Step(0, Hold(Delivery{View: v1, Primary: true, Seq: 1, Payload: rd.Broadcast[0]})); err == nil {
		t.Fatal("a Hold during the adoption was taken")
	}
	if err := a.Step(0, Receive{From: 2, Msg: fetch.Messages[0]}); err != nil {
		t.Fatal(err)
	}
	chunk := a.Ready()
	a.Advance()
	if len(chunk.Messages) != 1 || chunk.Messages[0].Chunk == nil {
		t.Fatalf("a answered %+v, want one Chunk", chunk.Messages)
	}
	if err := b.Step(0, Receive{From: 1, Msg: chunk.Messages[0]}); err != nil {
		t.Fatal(err)
	}
	if b.CatchingUp() {
		t.Fatal("b still catching up after the chunk")
	}
	for _, d := range []*DB{a, b} {
		dl := Delivery{View: v1, Primary: true, Seq: 1, Payload: rd.Broadcast[0]}
		if err := d.Step(0, Hold(dl)); err != nil {
			t.Fatal(err)
		}
		if err := d.Step(0, Commit(dl)); err != nil {
			t.Fatal(err)
		}
		if err := d.Step(0, Commit(dl)); err == nil {
			t.Fatalf("n%d committed the same delivery twice", d.cfg.Self)
		}
	}
}
