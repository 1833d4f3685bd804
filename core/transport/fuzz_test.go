package transport

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// FuzzFaults drives a transport's fault rules as the admin API does
// (POST/DELETE /v1/debug/faults, with fields a user typed) and judges
// packets against them. A rule is refused, with an error wrapping
// ErrInvalidFault, unless it is valid; a valid one is listed as given; a
// removal names a rule that exists or fails with ErrUnknownFault; a
// packet is dropped or duplicated only by a matching rule that can, and
// delayed by the largest delay of the matching rules.
func FuzzFaults(f *testing.F) {
	f.Add([]byte{0, 0, 3, 0x3F, 0xF0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 1})
	f.Add([]byte{0, 1, 1, 0x7F, 0xF8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 1, 2, 9, 4})
	f.Add([]byte{0, 0xFF, 2, 0x3F, 0xE0, 0, 0, 0, 0, 0, 0, 0x3F, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 1, 0, 3, 3, 3, 0, 1, 0})
	peers := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::ffff:10.0.0.2"), netip.MustParseAddr("fe80::1%eth0"), {}}
	f.Fuzz(func(t *testing.T, prog []byte) {
		s := &faultSet{}
		s.init(2, Options{FaultInjection: true, Seed: 1})
		next := func(n int) []byte {
			var b [8]byte
			k := copy(b[8-n:], prog)
			prog = prog[k:]
			return b[:]
		}
		ids := map[uint64]bool{}
		for len(prog) >= 2 {
			op := prog[0]
			prog = prog[1:]
			switch op % 4 {
			case 0: // add
				fl := Fault{Link: int(int8(next(1)[7])), Dir: Dir(next(1)[7]),
					Drop:  math.Float64frombits(binary.BigEndian.Uint64(next(8))),
					Dup:   math.Float64frombits(binary.BigEndian.Uint64(next(8))),
					Delay: time.Duration(binary.BigEndian.Uint64(next(8)))}
				pm := next(1)[7]
				for i, p := range peers {
					if pm&(1<<i) != 0 {
						fl.Peer = append(fl.Peer, p)
					}
				}
				before := s.list()
				id, err := s.add(fl)
				valid := fl.Link >= -1 && fl.Link < 2 && (fl.Dir == In || fl.Dir == Out || fl.Dir == Both) &&
					fl.Drop >= 0 && fl.Drop <= 1 && fl.Dup >= 0 && fl.Dup <= 1 && fl.Delay >= 0 && fl.Delay <= MaxFaultDelay &&
					(fl.Drop > 0 || fl.Dup > 0 || fl.Delay > 0) && pm&8 == 0
				if err != nil {
					if !errors.Is(err, ErrInvalidFault) || valid {
						t.Fatalf("%+v refused: %v", fl, err)
					}
					if len(s.list()) != len(before) {
						t.Fatal("a refused rule changed the rules")
					}
					continue
				}
				if !valid || ids[id] {
					t.Fatalf("%+v accepted as %d", fl, id)
				}
				ids[id] = true
				i := slices.IndexFunc(s.list(), func(g Fault) bool { return g.ID == id })
				if i < 0 {
					t.Fatalf("rule %d not listed", id)
				}
				if g := s.list()[i]; g.Link != fl.Link || g.Dir != fl.Dir || g.Drop != fl.Drop || g.Dup != fl.Dup || g.Delay != fl.Delay || len(g.Peer) != len(fl.Peer) {
					t.Fatalf("rule %+v listed as %+v", fl, g)
				}
			case 1: // remove
				id := uint64(next(1)[7] % 8)
				err := s.remove(id)
				if ids[id] != (err == nil) || err != nil && !errors.Is(err, ErrUnknownFault) {
					t.Fatalf("remove %d (known %v): %v", id, ids[id], err)
				}
				delete(ids, id)
			case 2:
				s.clear()
				clear(ids)
			case 3: // judge a packet
				b := next(1)[7]
				link, peer, dir := int(b&1), peers[int(b>>1)%3], Dir(1+(b>>3)%2)
				rs := s.active()
				if rs == nil {
					continue
				}
				v := s.judge(rs, link, peer, dir)
				var canDrop, canDup bool
				var delay time.Duration
				for _, r := range rs.rules {
					if r.matches(link, peer.Unmap().WithZone(""), dir) {
						canDrop = canDrop || r.Drop > 0
						canDup = canDup || r.Dup > 0
						delay = max(delay, r.Delay)
					}
				}
				if v.drop && !canDrop || v.dup && !canDup || v.delay != delay {
					t.Fatalf("packet (link %d, %v, %v) judged %+v; rules %+v", link, peer, dir, v, rs.rules)
				}
			}
		}
	})
}
