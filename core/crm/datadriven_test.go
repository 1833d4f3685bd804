package crm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the scripts in testdata/ (rewrite the expected
// output with -rewrite). Commands:
//
//	cluster nodes=N [fence=never|assume]   a new cluster of n1..nN
//	put KEY                                 the input is the JSON value ("" deletes)
//	run for=D                               let D of virtual time pass
//	groups                                  every group as the coordinator has it
//	events node=N                           N's new events since the last call
//	explain GROUP                           the coordinator's explanation
//	crash N | restart N | fence N | pause N | resume N
//	break node=N res=R                      R's next monitor on N fails
//	fail-start node=N res=R on=true|false   starts of R on N fail
//	move group=G [node=N] [for=D]
//	cleanup res=R
//	tod HH:MM                               the time of day on every node
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		var h *harness
		seen := map[string]int{}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			arg := func(k string) string {
				for _, a := range d.CmdArgs {
					if a.Key == k && len(a.Vals) > 0 {
						return a.Vals[0]
					}
				}
				return ""
			}
			pos := func() string {
				if len(d.CmdArgs) == 0 {
					d.Fatalf(t, "%s needs a name", d.Cmd)
				}
				return d.CmdArgs[0].Key
			}
			dur := func(k string) time.Duration {
				s := arg(k)
				if s == "" {
					return 0
				}
				v, err := time.ParseDuration(s)
				if err != nil {
					d.Fatalf(t, "%s=%s: %v", k, s, err)
				}
				return v
			}
			if h == nil && d.Cmd != "cluster" {
				d.Fatalf(t, "start with `cluster nodes=N`")
			}
			switch d.Cmd {
			case "cluster":
				var n int
				d.ScanArgs(t, "nodes", &n)
				h = newHarness(t, n, 1)
				switch arg("fence") {
				case "never":
					h.fence = -1
				case "assume":
					h.cfg = Config{AssumeFenced: true, FenceDelay: time.Second}
					for _, nm := range h.names {
						h.boot(nm)
					}
					h.regroup()
				}
				seen = map[string]int{}
				return "ok"
			case "put":
				v := strings.TrimSpace(d.Input)
				if v == "" {
					h.put(pos(), nil)
				} else {
					h.put(pos(), v)
				}
				return "ok"
			case "run":
				h.run(dur("for"))
				return "ok"
			case "groups":
				var b strings.Builder
				for _, g := range h.coordinator().crm.Groups() {
					fmt.Fprintf(&b, "%s: %s", g.Name, g.State)
					if g.Owner != "" {
						fmt.Fprintf(&b, " on %s", g.Owner)
					}
					if g.Reason != "" {
						fmt.Fprintf(&b, " (%s)", g.Reason)
					}
					b.WriteString("\n")
				}
				return b.String()
			case "events":
				n := arg("node")
				evs := h.events(n)
				out := evs[seen[n]:]
				seen[n] = len(evs)
				return strings.Join(out, "\n") + "\n"
			case "explain":
				return h.coordinator().crm.Explain(pos())
			case "crash":
				h.crash(pos())
			case "restart":
				h.restart(pos())
			case "fence":
				h.step(h.coordinator(), Fenced{Node: pos()})
			case "pause":
				h.pause(pos(), true)
			case "resume":
				h.pause(pos(), false)
			case "break":
				h.breakRes(arg("node"), arg("res"))
			case "fail-start":
				h.fails[arg("node")+"/"+arg("res")] = arg("on") != "false"
			case "move":
				if err := h.coordinator().crm.Step(h.now, Move{Group: arg("group"), Node: arg("node"), For: dur("for")}); err != nil {
					return "error: " + err.Error()
				}
				h.ready(h.coordinator())
			case "cleanup":
				h.step(h.coordinator(), Cleanup{Resource: arg("res")})
			case "tod":
				tod, ok := parseClock(pos())
				if !ok {
					d.Fatalf(t, "tod %s: HH:MM", pos())
				}
				h.tod = &tod
				for _, nm := range h.names {
					if h.nodes[nm].up {
						h.step(h.nodes[nm], TimeOfDay{D: tod})
					}
				}
			default:
				d.Fatalf(t, "unknown command %s", d.Cmd)
			}
			return "ok"
		})
	})
}
