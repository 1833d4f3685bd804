package testsuite

// The chaos suite's checkers (chaos_test.go runs the cluster): the config
// DB history against a linearizable register per key (porcupine), the
// service's start/stop file (no two incarnations at once), and the nodes'
// events (a service never stops on a node that stayed primary).

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// chaosIn is one config DB call of a client.
type chaosIn struct {
	Op     string // set, cas or get
	Key    string
	Value  string // set, cas: the value written (unique per call)
	Expect uint64 // cas: the if_revision
}

// chaosOut is its answer. Unknown: no definite answer (a timeout, an
// error, a node that died): the write may or may not have been applied.
type chaosOut struct {
	Unknown bool
	OK      bool   // set/cas applied; get found the key
	Rev     uint64 // set/cas: the revision the update got; get: the key's revision
	Value   string // get: the value read
}

// chaosReg is the model's state of one key: the last value and its
// revision. Exact is false after a write whose outcome is unknown was
// linearized: the revision is then only known to exceed Rev.
type chaosReg struct {
	Value string
	Rev   uint64
	Exact bool
}

// chaosModel is a register per key whose writes get growing revisions
// (the database's, shared by every key), with a set, a compare-and-set
// on the revision, and a get.
var chaosModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range h {
			k := op.Input.(chaosIn).Key
			if _, ok := by[k]; !ok {
				keys = append(keys, k)
			}
			by[k] = append(by[k], op)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, by[k])
		}
		return out
	},
	Init: func() any { return chaosReg{Exact: true} },
	Step: func(s, i, o any) (bool, any) {
		st, in, out := s.(chaosReg), i.(chaosIn), o.(chaosOut)
		exists := st.Rev > 0 || !st.Exact
		switch in.Op {
		case "get":
			if out.Unknown {
				return true, st
			}
			if !out.OK {
				return !exists, st
			}
			if out.Value != st.Value {
				return false, st
			}
			if st.Exact {
				return out.Rev == st.Rev, st
			}
			return out.Rev > st.Rev, chaosReg{Value: st.Value, Rev: out.Rev, Exact: true}
		case "set":
			if out.Unknown {
				// linearized here it was applied; not applied is the same
				// as linearized after everything (its return is never)
				return true, chaosReg{Value: in.Value, Rev: st.Rev, Exact: false}
			}
			return out.OK && out.Rev > st.Rev, chaosReg{Value: in.Value, Rev: out.Rev, Exact: true}
		case "cas":
			match := (st.Exact && st.Rev == in.Expect) || (!st.Exact && in.Expect > st.Rev)
			if out.Unknown {
				if !match {
					return true, st
				}
				return true, chaosReg{Value: in.Value, Rev: max(st.Rev, in.Expect), Exact: false}
			}
			if !out.OK {
				// refused: the revision differed (unknowable when inexact)
				return !st.Exact || st.Rev != in.Expect, st
			}
			return match && out.Rev > in.Expect, chaosReg{Value: in.Value, Rev: out.Rev, Exact: true}
		}
		return false, st
	},
	DescribeOperation: func(i, o any) string {
		in, out := i.(chaosIn), o.(chaosOut)
		var res string
		switch {
		case out.Unknown:
			res = "unknown"
		case in.Op == "get" && out.OK:
			res = fmt.Sprintf("%q@%d", out.Value, out.Rev)
		case in.Op == "get":
			res = "absent"
		case out.OK:
			res = fmt.Sprintf("ok@%d", out.Rev)
		default:
			res = "refused"
		}
		switch in.Op {
		case "cas":
			return fmt.Sprintf("cas(%s, if %d, %q) -> %s", in.Key, in.Expect, in.Value, res)
		case "set":
			return fmt.Sprintf("set(%s, %q) -> %s", in.Key, in.Value, res)
		}
		return fmt.Sprintf("get(%s) -> %s", in.Key, res)
	},
	DescribeState: func(s any) string {
		st := s.(chaosReg)
		if st.Exact {
			return fmt.Sprintf("%q@%d", st.Value, st.Rev)
		}
		return fmt.Sprintf("%q@>%d", st.Value, st.Rev)
	},
}

// chaosOp is one recorded call: when it was made and answered (ns since
// the run's start) and by which client on which node.
type chaosOp struct {
	Client int
	Node   string
	In     chaosIn
	Out    chaosOut
	Call   int64
	Return int64 // math.MaxInt64 when the outcome stayed unknown
}

func (o chaosOp) String() string {
	ret := "never"
	if o.Return != math.MaxInt64 {
		ret = fmt.Sprintf("%.3fs", float64(o.Return)/1e9)
	}
	return fmt.Sprintf("client %d on %s [%.3fs, %s] %s", o.Client, o.Node, float64(o.Call)/1e9, ret,
		chaosModel.DescribeOperation(o.In, o.Out))
}

// checkLinearizable runs porcupine on ops (gets only when withGets). It
// returns a description of the violation, or "" (also when the check
// timed out: then timedOut is set).
func checkLinearizable(ops []chaosOp, withGets bool, timeout time.Duration, visual string) (violation string, timedOut bool, n int) {
	var h []porcupine.Operation
	for _, o := range ops {
		if o.In.Op == "get" && !withGets {
			continue
		}
		h = append(h, porcupine.Operation{ClientId: o.Client, Input: o.In, Output: o.Out, Call: o.Call, Return: o.Return})
	}
	res, info := porcupine.CheckOperationsVerbose(chaosModel, h, timeout)
	switch res {
	case porcupine.Ok:
		return "", false, len(h)
	case porcupine.Unknown:
		return "", true, len(h)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "the config DB history (%d calls) is not linearizable", len(h))
	if visual != "" {
		if f, err := os.Create(visual); err == nil {
			if err := porcupine.Visualize(chaosModel, info, f); err == nil {
				fmt.Fprintf(&b, " (porcupine's view: %s)", visual)
			}
			f.Close()
		}
	}
	// the longest partial linearization of each key that failed
	for _, part := range info.PartialLinearizationsOperations() {
		longest := []porcupine.Operation{}
		for _, l := range part {
			if len(l) > len(longest) {
				longest = l
			}
		}
		if len(longest) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n  longest linearizable prefix of %s (%d calls), its end:", longest[0].Input.(chaosIn).Key, len(longest))
		for _, op := range longest[max(0, len(longest)-5):] {
			fmt.Fprintf(&b, "\n    %s", chaosModel.DescribeOperation(op.Input, op.Output))
		}
	}
	return b.String(), false, len(h)
}

// svcRun is one incarnation of the service in its file: the first and
// last records it wrote (ns, the host's clock).
type svcRun struct {
	Inc         string // node:pid
	First, Last int64
	Stopped     bool // wrote its stop record
}

// readSvcFile reads the service's append-only file: lines "start|alive|
// stop|exit NODE:PID UNIXNANO".
func readSvcFile(path string) ([]svcRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	runs := map[string]*svcRun{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 3 {
			continue // a line cut by a kill -9
		}
		ts, err := strconv.ParseInt(fs[2], 10, 64)
		if err != nil {
			continue
		}
		r := runs[fs[1]]
		if r == nil {
			r = &svcRun{Inc: fs[1], First: ts, Last: ts}
			runs[fs[1]] = r
			order = append(order, fs[1])
		}
		r.First, r.Last = min(r.First, ts), max(r.Last, ts)
		r.Stopped = r.Stopped || fs[0] == "stop" || fs[0] == "exit"
	}
	out := make([]svcRun, 0, len(order))
	for _, k := range order {
		out = append(out, *runs[k])
	}
	slices.SortFunc(out, func(a, b svcRun) int { return int(min(max(a.First-b.First, -1), 1)) })
	return out, sc.Err()
}

// svcOverlaps lists the incarnations that ran while a later one started:
// one wrote a record after the other's first (each earlier incarnation
// once, with the first later one it overlapped; done holds those already
// listed). An incarnation its node's fence killed wrote nothing after the
// fence was confirmed, so any overlap is two incarnations at once.
func svcOverlaps(runs []svcRun, done map[string]bool) []string {
	var out []string
	for i, a := range runs {
		if done[a.Inc] {
			continue
		}
		var with []string
		for _, b := range runs[i+1:] {
			if b.First <= a.Last {
				with = append(with, b.Inc)
			}
		}
		if len(with) == 0 {
			continue
		}
		done[a.Inc] = true
		b := runs[slices.IndexFunc(runs, func(r svcRun) bool { return r.Inc == with[0] })]
		out = append(out, fmt.Sprintf("%s ran %s..%s (records so far), while %s started at %s (%.3fs before the first's last record); %d incarnation(s) started during its run: %s",
			a.Inc, nsTime(a.First), nsTime(a.Last), b.Inc, nsTime(b.First), float64(a.Last-b.First)/1e9, len(with), strings.Join(with, " ")))
	}
	return out
}

func nsTime(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000") }

// chaosEvent is the part of an event the checks read.
type chaosEvent struct {
	Seq      int      `json:"seq"`
	Time     string   `json:"time"`
	Kind     string   `json:"kind"`
	Node     string   `json:"node"`
	View     string   `json:"view"`
	Members  []string `json:"members"`
	Primary  bool     `json:"primary"`
	Resource string   `json:"resource"`
	Group    string   `json:"group"`
	On       string   `json:"on"`
	Target   string   `json:"target"`
	Owner    string   `json:"owner"`
	From     string   `json:"from"`
	To       string   `json:"to"`
	Reason   string   `json:"reason"`
	Error    string   `json:"error"`
}

func (e chaosEvent) String() string {
	s := fmt.Sprintf("%s #%d %s %s", e.Node, e.Seq, e.Time, e.Kind)
	for _, kv := range [][2]string{{"resource", e.Resource}, {"group", e.Group}, {"on", e.On}, {"target", e.Target},
		{"owner", e.Owner}, {"from", e.From}, {"to", e.To}, {"reason", e.Reason}, {"error", e.Error}} {
		if kv[1] != "" {
			s += " " + kv[0] + "=" + kv[1]
		}
	}
	if e.Kind == "view_changed" {
		s += fmt.Sprintf(" members=%v primary=%v", e.Members, e.Primary)
	}
	return s
}

// continuityViolations: node's own events (evs) say the resource stopped
// on it, after event since, although it never left the primary component
// since the resource last started there (no quorum_lost, no view that is
// not primary). evs start before since, so that a node whose lease ran out
// while a stall delayed the reading of since is seen to have left. A start
// within chaosLeaseSettle of a lease loss does not count as a fresh start
// (the stop that follows may be that loss's). A stop that cleans up after
// a failure of the resource there (resource_failed: a start that failed,
// a monitor that found it dead) is not one.
func continuityViolations(node, resource string, evs []chaosEvent, since int) []string {
	var out []string
	left, failed := false, false
	var lost time.Time
	for _, e := range evs {
		mine := e.Resource == resource && e.On == node
		at, _ := time.Parse(time.RFC3339Nano, e.Time)
		switch {
		case e.Kind == "quorum_lost", e.Kind == "view_changed" && !e.Primary:
			left, lost = true, at
		case e.Kind == "resource_failed" && mine:
			failed = true
		case e.Kind == "resource_started" && mine:
			failed = false
			if at.Sub(lost) > chaosLeaseSettle {
				left = false
			}
		case e.Kind == "resource_stopped" && mine && !left && !failed && e.Seq > since:
			out = append(out, e.String())
		}
	}
	return out
}

// chaosLeaseSettle: a start this soon after a lease loss may still be
// undone because of it.
const chaosLeaseSettle = 2 * time.Second
