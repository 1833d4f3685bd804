package dlm

import (
	"fmt"
	"strings"
)

// DebugState describes a DLM's internal state (for the simulation's
// failure reports).
func (d *DLM) DebugState() string {
	var b strings.Builder
	fmt.Fprintf(&b, "view=%v running=%v recovered=%v rec=%v base=%v members=%v release=%v recView=%v\n", d.view, d.running, d.recovered, d.rec != nil, d.base, d.members, d.release, d.recView)
	if d.rec != nil {
		fmt.Fprintf(&b, "  rec stage=%d got=%v held=%d\n", d.rec.stage, d.rec.got, len(d.rec.held))
	}
	for _, p := range d.sortedLocks() {
		fmt.Fprintf(&b, "  lock %d %s/%s gr=%v mgr=%v pend=%+v todo=%d sent=%d unl=%v\n", p.id, p.rn.ls, p.rn.name, p.gr, p.mgr, p.pend, len(p.todo), len(p.sent), p.unlocking)
	}
	for _, rn := range sortedKeys(d.names) {
		pn := d.names[rn]
		fmt.Fprintf(&b, "  name %s/%s master=%d known=%v looking=%v locks=%d\n", rn.ls, rn.name, pn.master, pn.known, pn.looking, len(pn.locks))
	}
	for _, r := range d.masterInfos("") {
		fmt.Fprintf(&b, "  %s\n", infoString(r))
	}
	for _, rn := range sortedKeys(d.dir) {
		fmt.Fprintf(&b, "  dir %s/%s -> %d\n", rn.ls, rn.name, d.dir[rn])
	}
	fmt.Fprintf(&b, "  deferred=%d future=%d recMsgs=%d removing=%d\n", len(d.deferred), len(d.future), len(d.recMsgs), len(d.removing))
	return b.String()
}
