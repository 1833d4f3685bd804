package whatif

import (
	"fmt"
	"strings"
)

// Text renders the answer for people: the quorum of each side, the steps
// in order with their reasons, the fences, and every group after.
func (o Output) Text() string {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	if len(o.Underway) > 0 {
		line("Already under way before the change (the live cluster is not quiet):")
		for _, s := range o.Underway {
			line("  - %s", s.Text)
		}
	}
	switch {
	case len(o.Sides) > 1:
		line("Quorum, side by side:")
		for _, sd := range o.Sides {
			line("  - %s: %s", strings.Join(sd.Members, ", "), sd.Quorum)
		}
	case len(o.Sides) == 1:
		line("Quorum (%s): %s", strings.Join(o.Sides[0].Members, ", "), o.Sides[0].Quorum)
	}
	if o.Quorate {
		line("The cluster keeps quorum: the primary side is coordinated by %s.", o.Primary)
	} else {
		line("The cluster loses quorum: no side is primary, so every node stops what it runs and nothing starts until enough nodes are back (`explain quorum`).")
	}
	if len(o.Steps) == 0 {
		line("Nothing would change.")
	} else {
		line("What would happen, in order:")
		for i, s := range o.Steps {
			line("%3d. %s", i+1, s.Text)
			for _, w := range s.Why {
				line("       because %s", w)
			}
		}
	}
	if len(o.Fenced) > 0 {
		line("Fencing:")
		for _, f := range o.Fenced {
			switch {
			case f.Confirmed && f.Level > 0:
				line("  - %s: fenced by device %s (level %d), run by %s", f.Node, f.Device, f.Level, f.By)
			case f.Confirmed:
				line("  - %s: fenced by %s, confirmed by %s", f.Node, f.Device, f.By)
			default:
				line("  - %s: not fenced: %s", f.Node, f.Why)
			}
		}
	}
	if len(o.Groups) > 0 {
		line("Groups after:")
		for _, g := range o.Groups {
			s := fmt.Sprintf("  - %s: %s", g.Name, orDash(g.State))
			if g.Owner != "" {
				s += " on " + g.Owner
			}
			switch {
			case g.Moved:
				s += " (moved from " + g.BeforeOwner + ")"
			case g.BeforeState == g.State && g.BeforeOwner == g.Owner:
				s += " (unchanged)"
			default:
				was := orDash(g.BeforeState)
				if g.BeforeOwner != "" {
					was += " on " + g.BeforeOwner
				}
				s += " (was " + was + ")"
			}
			if g.Reason != "" {
				s += ": " + g.Reason
			}
			line("%s", s)
		}
	}
	for _, n := range o.Notes {
		line("Note: %s.", n)
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
