package dlm

import (
	"fmt"
	"testing"
)

func dumpCluster(t *testing.T, h *harness) {
	for _, n := range h.sortedNodes() {
		d := h.nodes[n]
		fmt.Printf("n%d alive=%v view=%v running=%v rec=%v base=%v members=%v\n", n, h.alive[n], d.view, d.running, d.rec != nil, d.base, d.members)
		for _, p := range d.sortedLocks() {
			fmt.Printf("  lock %d %s gr=%v mgr=%v pend=%+v todo=%d sent=%d unl=%v\n", p.id, p.rn.name, p.gr, p.mgr, p.pend, len(p.todo), len(p.sent), p.unlocking)
			for _, o := range p.sent {
				fmt.Printf("     sent %+v\n", *o)
			}
			for _, o := range p.todo {
				fmt.Printf("     todo %+v\n", *o)
			}
		}
		for rn, pn := range d.names {
			fmt.Printf("  name %s master=%d known=%v looking=%v\n", rn.name, pn.master, pn.known, pn.looking)
		}
		for _, r := range d.masterInfos("") {
			fmt.Printf("  %s\n", infoString(r))
		}
		for rn, m := range d.dir {
			fmt.Printf("  dir %s -> %d\n", rn.name, m)
		}
	}
}
