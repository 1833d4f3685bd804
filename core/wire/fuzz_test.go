package wire

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// fuzzPackets returns valid packets from node 1 (boot 1) to node 2: whole
// messages and the fragments of one message.
func fuzzPackets(t testing.TB) [][]byte {
	a := newEndpoint(t, testConfig(1, 1))
	pkts := [][]byte{seal1(t, a, nil), seal1(t, a, Encode(&Ping{Seq: 1, Payload: []byte("fuzz")}))}
	return append(pkts, seal(t, a, payload(3000, 9))...)
}

// FuzzOpen feeds Open random datagrams and mutations of valid packets. Open
// must not panic, must count every packet once, must accept a packet only
// if it is a genuine one, and forgeries must not keep the genuine packet
// from being accepted afterwards.
func FuzzOpen(f *testing.F) {
	valid := fuzzPackets(f)
	f.Add([]byte{}, uint8(0), []byte{})
	f.Add(valid[0], uint8(1), []byte{})
	f.Add([]byte{magic0, magic1, wireVersion, kindWhole}, uint8(2), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add(valid[3], uint8(3), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Add(valid[1][:Overhead], uint8(1), make([]byte, 2000))
	f.Fuzz(func(t *testing.T, raw []byte, which uint8, xor []byte) {
		b := newEndpoint(t, testConfig(2, 1))
		if _, err := b.Open(0, raw); err == nil && !isValid(valid, raw) {
			t.Fatalf("accepted a datagram that was never sealed: %x", raw)
		}
		checkStats(t, b)

		b = newEndpoint(t, testConfig(2, 1))
		orig := valid[int(which)%len(valid)]
		mut := bytes.Clone(orig)
		for i, x := range xor {
			if i < len(mut) {
				mut[i] ^= x
			} else {
				mut = append(mut, x)
			}
		}
		_, err := b.Open(time.Second, mut)
		if err == nil && !bytes.Equal(mut, orig) {
			t.Fatalf("accepted a modified packet: %x", mut)
		}
		if err != nil {
			if _, err := b.Open(time.Second, orig); err != nil {
				t.Fatalf("genuine packet refused after a forgery: %v", err)
			}
		}
		checkStats(t, b)
	})
}

func isValid(valid [][]byte, p []byte) bool {
	for _, v := range valid {
		if bytes.Equal(v, p) {
			return true
		}
	}
	return false
}

// FuzzReassemble runs a program of fragment deliveries, clock jumps,
// expiries and authentic fragments with arbitrary headers against a
// receiver with small limits, and checks reassembly's invariants after every
// step.
func FuzzReassemble(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 2, 0, 3, 0, 4})
	f.Add([]byte{0, 5, 0, 3, 1, 60, 2, 0, 0, 4, 0, 6})
	f.Add([]byte{3, 20, 0, 0, 0, 0, 0, 0, 0, 7, 0, 1, 0, 2, 0, 0, 0, 40, 1, 2, 3, 4, 5})
	f.Add(bytes.Repeat([]byte{0, 7, 0, 1, 0, 9, 0, 2}, 20))
	f.Fuzz(func(t *testing.T, prog []byte) {
		scfg := testConfig(1, 1)
		scfg.MaxPacket = minPacket // 70 bytes per fragment
		scfg.MaxMessage = 2000
		a := newEndpoint(t, scfg)
		rcfg := testConfig(2, 1)
		rcfg.MaxMessage = 2000
		rcfg.MaxReassembly = 3000
		b := newEndpoint(t, rcfg)

		// A pool of messages of 100 to 1000 bytes, fragmented.
		var msgs [][]byte
		var pool [][]byte // packets
		var owner []int   // message of each packet
		for i := range 4 {
			m := payload(100+300*i, uint64(i))
			msgs = append(msgs, m)
			for _, p := range seal(t, a, m) {
				pool = append(pool, p)
				owner = append(owner, i)
			}
		}
		delivered := make([]bool, len(msgs))
		var now time.Duration
		for len(prog) >= 2 {
			op, arg := prog[0], prog[1]
			prog = prog[2:]
			switch op % 4 {
			case 0:
				i := int(arg) % len(pool)
				d, err := b.Open(now, pool[i])
				if err == nil && d.Msg != nil {
					m := owner[i]
					if delivered[m] || !bytes.Equal(d.Msg, msgs[m]) {
						t.Fatalf("message %d delivered twice or corrupted", m)
					}
					delivered[m] = true
				}
			case 1:
				now += time.Duration(arg) * 100 * time.Millisecond
			case 2:
				b.Expire(now)
			case 3:
				// An authentic fragment with a header from the program.
				n := min(len(prog), fragLen+int(arg)%64)
				plain := bytes.Clone(prog[:n])
				prog = prog[n:]
				if len(plain) >= fragLen && arg&0x80 != 0 {
					// Make the id match so the later checks are reached.
					idx := uint64(binary.BigEndian.Uint16(plain[fragIndex:]))
					binary.BigEndian.PutUint64(plain[fragID:], a.next-min(a.next, idx))
				}
				if d, err := b.Open(now, sealRaw(a, kindFragment, plain)); err == nil && d.Msg != nil {
					if len(d.Msg) > rcfg.MaxMessage {
						t.Fatalf("delivered %d bytes > MaxMessage", len(d.Msg))
					}
				}
			}
			checkStats(t, b)
			checkReassembly(t, b)
		}
	})
}

// checkReassembly checks the bookkeeping of every peer's partial messages.
func checkReassembly(t *testing.T, e *Endpoint) {
	t.Helper()
	for id, p := range e.peers {
		held := 0
		for _, m := range p.partials {
			held += m.cost
			got := 0
			for i := range m.count {
				if m.have[i/64]&(1<<(i%64)) != 0 {
					got++
				}
			}
			if m.missing != m.count-got || m.missing <= 0 {
				t.Fatalf("peer %d message %d: %d missing, %d of %d received", id, m.id, m.missing, got, m.count)
			}
		}
		if held != p.held {
			t.Fatalf("peer %d: held %d, partial messages cost %d", id, p.held, held)
		}
		if len(p.partials) > 1 && p.held > e.cfg.MaxReassembly {
			t.Fatalf("peer %d: %d bytes held > MaxReassembly %d", id, p.held, e.cfg.MaxReassembly)
		}
		if p.held > e.cfg.MaxReassembly+partialCost+e.cfg.MaxMessage/8+8 {
			t.Fatalf("peer %d: %d bytes held", id, p.held)
		}
	}
}

// FuzzKeyHolder is what a peer WITH THE KEY can send (issue 22): packets
// authentic under node 1's key for any incarnation (boot, start id) it
// picks, any packet kind and counter, addressed to node 2 or not, with any
// payload: a message of any type and any fields, or arbitrary bytes. The
// receiver must not panic, must count each packet once, must take only
// packets addressed to it, and what it delivers must be what was sealed;
// a message that decodes must encode back to bytes that decode. The seed
// corpus (every message type) runs under go test.
func FuzzKeyHolder(f *testing.F) {
	msgs := []Message{&Ping{Seq: 1, Payload: []byte("p")}, &Heartbeat{FromLink: 1, Hears: 3, SentAt: 9},
		&Data{DstBoot: 1, Circ: 1, Seq: 1, Payload: []byte("d")}, &Ack{DstBoot: 1, Circ: 1, Cum: 4, Sack: 5},
		&LeaseReq{ID: ViewID{Epoch: 2, Coord: 1}, Seq: 3, To: 2}, &LeaseAck{ID: ViewID{Epoch: 2, Coord: 1}, Seq: 3, To: 1},
		&SetState{State: 2, To: 2}, &Datagram{Payload: []byte("x")}, &Report{Reach: []NodeID{1, 2}}, &DLM{Payload: []byte("l")}, &Disk{Payload: []byte("d")}}
	for i, m := range msgs {
		f.Add(uint32(1), uint64(i), uint64(i), uint32(1), uint16(2), uint8(kindWhole), Encode(m))
	}
	f.Add(uint32(7), uint64(0), uint64(1<<47), uint32(0), uint16(2), uint8(kindFragment), make([]byte, 40))
	f.Add(uint32(1), uint64(0), uint64(3), uint32(2), uint16(3), uint8(kindWhole), []byte{byte(TypeSetState), EncodingVersion, 1, 0, 2})
	f.Fuzz(func(t *testing.T, boot uint32, start, counter uint64, toBoot uint32, to uint16, kind uint8, body []byte) {
		rcfg := testConfig(2, 1)
		rcfg.Peers = []NodeID{1, 3}
		b := newEndpoint(t, rcfg)
		scfg := testConfig(1, boot)
		scfg.Start = start
		a := newEndpoint(t, scfg)
		// A genuine packet of another incarnation first, so the fuzzed one
		// meets existing state.
		if _, err := b.Open(0, seal1(t, newEndpoint(t, testConfig(1, 5)), []byte("before"))); err != nil {
			t.Fatalf("genuine packet: %v", err)
		}
		if len(body) > 1000 {
			body = body[:1000]
		}
		p := make([]byte, headerLen+len(body), headerLen+len(body)+tagLen)
		copy(p[headerLen:], body)
		a.next = counter
		pkt := a.seal(p, kind, Dest{ID: NodeID(to), Boot: toBoot}, counter)
		d, err := b.Open(time.Second, pkt)
		checkStats(t, b)
		if err == nil {
			if NodeID(to) != 2 || toBoot != 0 && toBoot != 1 {
				t.Fatalf("accepted a packet for node %d boot %d", to, toBoot)
			}
			if kind == kindWhole && !bytes.Equal(d.Msg, body) {
				t.Fatalf("delivered %x, sealed %x", d.Msg, body)
			}
		}
		if d.Msg == nil {
			return
		}
		m, err := Decode(d.Msg)
		if err != nil {
			return
		}
		if _, err := Decode(Encode(m)); err != nil {
			t.Fatalf("%v decoded from %x does not decode once encoded again: %v", m.Type(), d.Msg, err)
		}
	})
}
