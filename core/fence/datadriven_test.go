package fence

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
)

// TestDataDriven runs the fence scenarios in testdata/ on the harness
// (rewrite the expected output with -rewrite). A script whose text holds a
// line "# seeds: A-B" runs once for every seed from A to B, with the same
// expected output; any other runs with seed 1. Commands:
//
//	cluster nodes=N [two-node] [jitter] [reboot=D|off] [no-restart] [watchdog] [timeout=D]
//	                         a new cluster n1..nN (baseCfg; watchdog: the
//	                         harness's watchdog runs with W = WatchdogTimeout).
//	                         The input, if any, gives every node's target, one
//	                         line each: "n3: ipmi psu1+psu2 [delay=D] [watchdog]"
//	                         (levels in order, the devices of a level joined
//	                         by +); without input each node has one device,
//	                         pdu-<node>
//	device NAME [fail|hang|lie|ok] [dur=D]   a stand-in device's behaviour (ok: it works again)
//	run for=D                let D of virtual time pass
//	crash N | restart N | heal | freeze N for=D
//	partition A,B C,D        the components of the network
//	request on=N target=T [reason=R]   fence T, asked on N: ok or the error
//	confirm on=N target=T    the operator confirms T fenced on N: ok or the error
//	set-target on=N target=T [levels=none] [watchdog]   change T's target in N's config
//	wait WHAT within=D [min=D|watchdog-wait] [step=D]   run until WHAT holds
//	                         (checked every step, 10ms): ok, or why not.
//	                         WHAT: confirmed on=N[,M] target=T [count=K] (N has K
//	                         confirmations of T) | calls=K | new-call |
//	                         state on=N target=T state=S | fence-begun on=N
//	                         target=T (pending, in progress, confirmed, or T is
//	                         down) | not-primary N | lease N | self-fence N |
//	                         joined (every node up, in one view of all with
//	                         its lease, settled) | attempt on=N target=T (N
//	                         has sent its Attempt on T)
//	nodes                    every node: up or down, boot id, view
//	calls [target=T]         the device calls so far
//	confirmations on=N target=T   N's Confirmed outputs for T
//	fenced on=N target=T     whether N counts T fenced now
//	events on=N target=T     N's events about T (kind:device)
//	status on=N target=T     N's status of T
//	history N                the history records N emitted
//	self-fence N             why N stopped itself ("none")
//	persisted N              the ops in what N persisted last
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		text, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		from, to := uint64(1), uint64(1)
		if m := regexp.MustCompile(`(?m)^# seeds: (\d+)-(\d+)$`).FindSubmatch(text); m != nil {
			from, _ = strconv.ParseUint(string(m[1]), 10, 64)
			to, _ = strconv.ParseUint(string(m[2]), 10, 64)
		}
		for seed := from; seed <= to; seed++ {
			if from == to {
				runScript(t, path, seed)
				continue
			}
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runScript(t, path, seed) })
		}
	})
}

func runScript(t *testing.T, path string, seed uint64) {
	var h *harness
	datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
		has := func(k string) bool {
			for _, a := range d.CmdArgs {
				if a.Key == k {
					return true
				}
			}
			return false
		}
		arg := func(k string) string {
			for _, a := range d.CmdArgs {
				if a.Key == k && len(a.Vals) > 0 {
					return strings.Join(a.Vals, ",")
				}
			}
			return ""
		}
		must := func(k string) string {
			v := arg(k)
			if v == "" {
				d.Fatalf(t, "%s needs %s=", d.Cmd, k)
			}
			return v
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
		node := func(k string) *hnode {
			nd := h.nodes[must(k)]
			if nd == nil {
				d.Fatalf(t, "%s=%s: no such node", k, arg(k))
			}
			return nd
		}
		if h == nil && d.Cmd != "cluster" {
			d.Fatalf(t, "start with `cluster nodes=N`")
		}
		switch d.Cmd {
		case "cluster":
			var n int
			d.ScanArgs(t, "nodes", &n)
			cfg := baseCfg()
			if has("timeout") {
				cfg.Timeout = dur("timeout")
			}
			if in := strings.TrimSpace(d.Input); in != "" {
				cfg.Targets = map[string]Target{}
				for _, line := range strings.Split(in, "\n") {
					name, spec, ok := strings.Cut(line, ":")
					if !ok {
						d.Fatalf(t, "target line %q: want NODE: LEVELS...", line)
					}
					var tg Target
					for _, f := range strings.Fields(spec) {
						switch {
						case f == "watchdog":
							tg.Watchdog = true
						case strings.HasPrefix(f, "delay="):
							v, err := time.ParseDuration(strings.TrimPrefix(f, "delay="))
							if err != nil {
								d.Fatalf(t, "%s: %v", f, err)
							}
							tg.Delay = v
						default:
							tg.Levels = append(tg.Levels, levels(f)...)
						}
					}
					cfg.Targets[strings.TrimSpace(name)] = tg
				}
			}
			h = newHarness(t, n, seed, cfg)
			h.twoNode, h.jitter, h.noRestart = has("two-node"), has("jitter"), has("no-restart")
			if has("watchdog") {
				h.wd = cfg.WatchdogTimeout
			}
			switch r := arg("reboot"); r {
			case "":
			case "off":
				h.reboot = -1
			default:
				h.reboot = dur("reboot")
			}
		case "device":
			name := pos()
			for _, a := range d.CmdArgs[1:] {
				switch a.Key {
				case "fail":
					h.fail[name] = true
				case "hang":
					h.hang[name] = true
				case "lie":
					h.lie[name] = true
				case "ok":
					h.fail[name], h.hang[name], h.lie[name] = false, false, false
				case "dur":
					h.dur[name] = dur("dur")
				default:
					d.Fatalf(t, "device: unknown %s", a.Key)
				}
			}
		case "run":
			h.run(dur("for"))
		case "crash":
			h.crash(pos())
			h.regroup()
		case "restart":
			h.restart(pos())
		case "heal":
			h.heal()
		case "freeze":
			h.freeze(pos(), dur("for"))
		case "partition":
			var parts [][]string
			for _, a := range d.CmdArgs {
				parts = append(parts, strings.Split(a.Key, ","))
			}
			h.partition(parts...)
		case "request", "confirm":
			nd := node("on")
			var in Input = Request{Target: must("target"), Reason: arg("reason")}
			if d.Cmd == "confirm" {
				in = Confirm{Target: must("target")}
			}
			if err := nd.f.Step(h.now, in); err != nil {
				if errors.Is(err, ErrCannotFence) {
					return "error (ErrCannotFence): " + err.Error()
				}
				return "error: " + err.Error()
			}
			h.ready(nd)
		case "set-target":
			nd := node("on")
			tc := nd.f.cfg.Targets[must("target")]
			if arg("levels") == "none" {
				tc.Levels = nil
			}
			tc.Watchdog = has("watchdog")
			nd.f.cfg.Targets[must("target")] = tc
		case "wait":
			return scriptWait(t, d, h, pos(), arg, must, dur)
		case "nodes":
			var b strings.Builder
			for _, n := range h.names {
				nd := h.nodes[n]
				if !nd.up {
					fmt.Fprintf(&b, "%s: down (boot %d)\n", n, nd.boot)
					continue
				}
				fmt.Fprintf(&b, "%s: up (boot %d) view %v coordinator %s primary=%v lease=%v\n",
					n, nd.boot, nd.view.Members, nd.view.Coordinator, nd.view.Primary, nd.view.Lease)
			}
			return b.String()
		case "calls":
			var b strings.Builder
			for _, c := range h.calls {
				if tg := arg("target"); tg != "" && c.target != tg {
					continue
				}
				res := "open"
				if c.end > 0 {
					res = map[bool]string{true: "ok", false: "failed"}[c.ok]
				}
				fmt.Fprintf(&b, "%s with %s by %s: %s\n", c.target, c.device, c.runner, res)
			}
			return orNone(b.String())
		case "confirmations":
			var b strings.Builder
			for _, c := range node("on").conf[must("target")] {
				fmt.Fprintf(&b, "%s at boot %d with %s by %s\n", c.Target, c.Boot, c.Device, c.By)
			}
			return orNone(b.String())
		case "fenced":
			if c, ok := node("on").f.Confirmed(must("target")); ok {
				return fmt.Sprintf("fenced: %+v", c)
			}
			return "not fenced"
		case "events":
			return orNone(strings.Join(h.kinds(must("on"), must("target")), "\n"))
		case "status":
			s := h.status(must("on"), must("target"))
			return fmt.Sprintf("state=%q confirmed=%v boot=%d device=%q error=%q", s.State, s.Confirmed, s.Boot, s.Device, s.Error)
		case "history":
			var b strings.Builder
			for _, r := range h.nodes[pos()].history {
				fmt.Fprintf(&b, "%s %s\n", r.Key, r.Value)
			}
			return orNone(b.String())
		case "self-fence":
			return orNone(h.nodes[pos()].selfF)
		case "persisted":
			s, err := decodeState(h.persisted(pos()))
			if err != nil {
				return "error: " + err.Error()
			}
			var b strings.Builder
			for _, o := range s.sortedOps() {
				fmt.Fprintf(&b, "op against %s at boot %d by %s at boot %d\n", o.Target, o.Boot, o.By, o.ByBoot)
			}
			return orNone(b.String())
		default:
			d.Fatalf(t, "unknown command %s", d.Cmd)
		}
		return "ok"
	})
}

func orNone(s string) string {
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return s
}

// scriptWait runs the harness until the condition named what holds, as
// the scenarios' waitFor did: checked every step (10ms) up to within.
func scriptWait(t *testing.T, d *datadriven.TestData, h *harness, what string,
	arg, must func(string) string, dur func(string) time.Duration) string {
	var cond func() bool
	switch what {
	case "confirmed":
		count := 1
		if c := arg("count"); c != "" {
			count, _ = strconv.Atoi(c)
		}
		on, target := strings.Split(must("on"), ","), must("target")
		cond = func() bool {
			for _, n := range on {
				if len(h.nodes[n].conf[target]) != count {
					return false
				}
			}
			return true
		}
	case "calls":
		want, _ := strconv.Atoi(must("calls"))
		cond = func() bool { return len(h.calls) == want }
	case "new-call":
		n := len(h.calls)
		cond = func() bool { return len(h.calls) > n }
	case "state":
		on, target, state := must("on"), must("target"), must("state")
		cond = func() bool { return h.status(on, target).State == state }
	case "fence-begun":
		on, target := must("on"), must("target")
		cond = func() bool {
			s := h.status(on, target)
			return s.State == StatePending || s.State == StateInProgress || s.Confirmed || !h.nodes[target].up
		}
	case "not-primary":
		nd := h.nodes[d.CmdArgs[1].Key]
		cond = func() bool { return !nd.view.Primary }
	case "lease":
		nd := h.nodes[d.CmdArgs[1].Key]
		cond = func() bool { return nd.up && nd.view.Lease }
	case "self-fence":
		nd := h.nodes[d.CmdArgs[1].Key]
		cond = func() bool { return nd.selfF != "" }
	case "joined":
		cond = func() bool {
			for _, n := range h.names {
				nd := h.nodes[n]
				if !nd.up || !nd.view.Lease || !slices.Equal(nd.view.Members, h.names) || !nd.f.Settled() {
					return false
				}
			}
			return true
		}
	case "attempt":
		nd, target := h.nodes[must("on")], must("target")
		cond = func() bool { return nd.f.issuing[target] && len(nd.f.st.ops) > 0 } // the Attempt, after the Begin
	default:
		d.Fatalf(t, "wait: unknown condition %s", what)
	}
	limit, step := dur("within"), 10*time.Millisecond
	if s := dur("step"); s > 0 {
		step = s
	}
	start := h.now
	ok := false
	for end := h.now + limit; h.now < end; h.run(step) {
		if ok = cond(); ok {
			break
		}
	}
	if !ok && !cond() {
		return fmt.Sprintf("no %s within %v", what, limit)
	}
	if m := arg("min"); m != "" {
		least := h.cfg.WatchdogWait()
		if m != "watchdog-wait" {
			least = dur("min")
		}
		if took := h.now - start; took < least {
			return fmt.Sprintf("%s after %v, before %v", what, took, least)
		}
	}
	return "ok"
}
