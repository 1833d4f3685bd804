package conn_test

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/wire"
)

// FuzzKeyHolder feeds a Conn what a peer WITH THE KEY can send (issue 22):
// a program of packets sealed under node 1's real key and addressed to the
// receiver, carrying heartbeats, circuit data and acknowledgements with
// fields from the fuzzer (sequence numbers, circuits, boot ids, sack bits,
// links), arbitrary message bytes, and ticks. The receiver must not panic,
// must deliver no message above its limit, and must keep answering. The
// seed corpus runs under go test.
func FuzzKeyHolder(f *testing.F) {
	f.Add([]byte{0, 0, 1, 1, 2, 5, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 9})
	f.Add([]byte{0, 1, 2, 200, 3, 7, 0, 0, 0, 0, 0, 0, 0, 0xFF, 4, byte(wire.TypeSetState), wire.EncodingVersion, 2, 0, 2})
	f.Add(bytes.Repeat([]byte{2, 3, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0}, 10))
	f.Fuzz(func(t *testing.T, prog []byte) {
		key := bytes.Repeat([]byte{9}, 32)
		rx, err := conn.New(conn.Config{Cluster: "fz", Key: key, Self: 2, Boot: 1, Links: 2,
			Peers: []conn.Peer{{ID: 1, Links: 2}, {ID: 3, Links: 2}}, MaxMessage: 4096}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := wire.New(wire.Config{Cluster: "fz", Key: key, Self: 1, Boot: 1})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Duration(0)
		send := func(link int, m []byte) {
			pkts, err := tx.Seal(wire.Dest{ID: 2, Boot: 1}, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range pkts {
				_ = rx.Step(now, conn.Received{Link: link, Data: p})
			}
		}
		u64 := func(b []byte) uint64 {
			var x [8]byte
			copy(x[:], b)
			return binary.BigEndian.Uint64(x[:])
		}
		for len(prog) >= 2 {
			op, n := prog[0], int(prog[1])%48
			prog = prog[2:]
			arg := prog[:min(n, len(prog))]
			prog = prog[len(arg):]
			link := int(op>>4) % 3 // 2 is a link the receiver does not have
			switch op % 5 {
			case 0:
				send(link, wire.Encode(&wire.Heartbeat{FromLink: uint8(link), ToLink: uint8(link), Hears: u64(arg), SentAt: int64(now) + 1}))
			case 1:
				now += time.Duration(len(arg)+1) * 20 * time.Millisecond
				rx.Tick(now)
			case 2:
				d := &wire.Data{DstBoot: 1, Circ: uint32(u64(arg) % 4), Seq: u64(arg[min(1, len(arg)):]) % 300, More: len(arg)%2 == 1,
					AckCirc: uint32(u64(arg[min(2, len(arg)):]) % 3), AckCum: u64(arg[min(3, len(arg)):]) % 50, Payload: arg}
				send(link, wire.Encode(d))
			case 3:
				send(link, wire.Encode(&wire.Ack{DstBoot: uint32(u64(arg) % 3), Circ: uint32(u64(arg[min(1, len(arg)):]) % 3),
					Cum: u64(arg[min(2, len(arg)):]), Sack: u64(arg[min(3, len(arg)):])}))
			case 4:
				send(link, arg) // any bytes as a message
			}
			if _, err := rx.Send(now, 1, []byte("reply")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			rd := take(rx)
			for _, m := range rd.Messages {
				if len(m.Data) > 4096 {
					t.Fatalf("delivered %d bytes, limit 4096", len(m.Data))
				}
			}
		}
	})
}
