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
