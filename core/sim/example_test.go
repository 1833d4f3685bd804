package sim_test

import (
	"fmt"
	"time"

	"github.com/corral-ha/corral/core/sim"
)

// pinger sends its id to node 1 at every tick; node 1 counts.
type pinger struct {
	h    *sim.Host
	seen map[int]int
}

func (p *pinger) Tick(now time.Duration) {
	if p.h.ID() != 1 {
		p.h.Send(0, sim.Addr{Node: 1}, []byte{byte(p.h.ID())})
	}
}

func (p *pinger) Receive(now time.Duration, link int, from sim.Addr, data []byte) {
	p.seen[from.Node]++
}

func Example() {
	s := sim.New(sim.Config{Seed: 1, Nodes: 3}, func(h *sim.Host) sim.Process {
		return &pinger{h: h, seen: map[int]int{}}
	})
	s.Run(time.Second)
	s.Cut(3, 1) // n3 can no longer reach n1
	s.Run(time.Second)
	p := s.Process(1).(*pinger)
	fmt.Println(p.seen[2] > 190, p.seen[3] > 90 && p.seen[3] < 110)

	s.Crash(1)
	s.Restart(1)
	fmt.Println("boot", s.Process(1).(*pinger).h.Boot())
	// Output:
	// true true
	// boot 2
}
