package conn_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
)

// TestReadyIsPure (issue 17): Ready changes nothing; every input seals
// what the circuits owe, and Advance ends a round: the acknowledgement of
// a message delivered in a Ready waits one round for a reply to carry it,
// and goes out alone after that. Ready used to seal and clear.
func TestReadyIsPure(t *testing.T) {
	p := newPair(t)
	for p.now < time.Second {
		p.step()
	}
	a, b := p.a, p.b
	if err := a.Step(p.now, nil); !errors.Is(err, conn.ErrUnknownInput) {
		t.Fatalf("nil input: %v, want ErrUnknownInput", err)
	}
	carry := func(from, to *conn.Conn) conn.Ready {
		t.Helper()
		rd := from.Ready()
		if again := from.Ready(); !reflect.DeepEqual(again, rd) {
			t.Fatalf("a second Ready differs:\n%+v\n%+v", rd, again)
		}
		from.Advance()
		for _, pk := range rd.Packets {
			if err := to.Step(p.now, conn.Received{Link: pk.ToLink, Data: pk.Data}); err != nil {
				t.Fatal(err)
			}
		}
		return rd
	}
	acks := func() uint64 { return b.Stats().Acks }

	// no reply: the acknowledgement goes out alone, one round later
	if _, err := a.Send(p.now, 2, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if rd := carry(a, b); len(rd.Packets) != 1 {
		t.Fatalf("a sent %d packets, want the message", len(rd.Packets))
	}
	before := acks()
	if rd := carry(b, a); len(rd.Messages) != 1 || len(rd.Packets) != 0 || acks() != before {
		t.Fatalf("b's first round: %+v, %d acks: want the message and no acknowledgement yet", rd, acks()-before)
	}
	if rd := carry(b, a); len(rd.Packets) != 0 || acks() != before+1 || !b.HasReady() {
		t.Fatalf("b's second round: %+v, %d acks: want the acknowledgement sealed at its Advance", rd, acks()-before)
	}
	if rd := carry(b, a); len(rd.Packets) != 1 || b.HasReady() {
		t.Fatalf("b's third round: %+v: want the acknowledgement alone", rd)
	}

	// a reply in the next round carries it
	if _, err := a.Send(p.now, 2, []byte("two")); err != nil {
		t.Fatal(err)
	}
	carry(a, b)
	before = acks()
	if rd := carry(b, a); len(rd.Messages) != 1 {
		t.Fatalf("b got %+v", rd)
	}
	if _, err := b.Send(p.now, 1, []byte("reply")); err != nil {
		t.Fatal(err)
	}
	if rd := carry(b, a); len(rd.Packets) != 1 || acks() != before || b.HasReady() {
		t.Fatalf("b's reply round: %+v, %d acks: want the reply alone, carrying the acknowledgement", rd, acks()-before)
	}
}
