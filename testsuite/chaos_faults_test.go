package testsuite

// The chaos suite's faults and rounds (chaos_test.go).

import (
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

// chaosRound is one round: its faults, what it found, how long healing
// took and what the service's probes saw.
type chaosRound struct {
	n          int
	faults     []string // as done: "kill -9 n2 (owner)"
	kinds      []string // the fault kinds, for availability per kind
	disturbed  map[string]bool
	violations []string
	heal       time.Duration
	healed     bool
	probes     int
	answered   int
	dual       int
	fatal      bool   // the cluster did not heal: the run stops
	load       string // the machine's load average at the round's end
	mu         sync.Mutex
}

// disturb marks nodes a fault of the round touched (faults run at once).
func (rd *chaosRound) disturb(nodes ...string) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for _, n := range nodes {
		rd.disturbed[n] = true
	}
}

func (rd *chaosRound) healText() string {
	if !rd.healed {
		return "NOT HEALED"
	}
	return rd.heal.Round(100 * time.Millisecond).String()
}

func (rd *chaosRound) availText() string {
	return fmt.Sprintf("%.1f%% of %d", 100*float64(rd.answered)/float64(max(rd.probes, 1)), rd.probes)
}

func (rd *chaosRound) print(w io.Writer) {
	fmt.Fprintf(w, "chaos round %d: %s: %d violation(s), healed in %s, svc answered %s probes (load %s)\n",
		rd.n, strings.Join(rd.faults, "; "), len(rd.violations), rd.healText(), rd.availText(), rd.load)
	for _, v := range rd.violations {
		fmt.Fprintf(w, "  VIOLATION %s\n", v)
	}
}

// chaosFault is one kind of fault: apply acts on the cluster for hold and
// undoes what it can itself (a SIGCONT, a resume); the round heals the rest.
type chaosFault struct {
	kind  string
	apply func(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string
}

// chaosFaults is the schedule's menu (the weights are the repeats).
var chaosFaults = []chaosFault{
	{"kill", faultKill},
	{"kill", faultKill},
	{"kill2", faultKill2},
	{"stop-short", faultStopShort},
	{"stop-long", faultStopLong},
	{"partition", faultPartition},
	{"partition", faultPartition},
	{"oneway", faultOneWay},
	{"flap", faultFlap},
	{"loss", faultLoss},
	{"delay", faultDelay},
	{"dup", faultDup},
	{"restart", faultRestart},
	{"move", faultMove},
	{"pause", faultPause},
	{"leave", faultLeave},
	{"config", faultConfig},
}

func pick[T any](rng *mrand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// role picks a node: the service's owner, the view's coordinator, or
// another one.
func (c *chaosCluster) role(rng *mrand.Rand) (string, string) {
	owner := c.svcOwner()
	switch rng.IntN(3) {
	case 0:
		if owner != "" {
			return owner, "owner"
		}
	case 1:
		if st, err := c.status(c.names[rng.IntN(len(c.names))]); err == nil && st.Coordinator != "" {
			return st.Coordinator, "coordinator"
		}
	}
	var others []string
	for _, n := range c.names {
		if n != owner {
			others = append(others, n)
		}
	}
	return pick(rng, others), "non-owner"
}

func faultKill(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n, role := c.role(rng)
	rd.disturb(n)
	c.signal(n, syscall.SIGKILL)
	time.Sleep(hold)
	return fmt.Sprintf("kill -9 %s (%s)", n, role)
}

func faultKill2(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	p := rng.Perm(len(c.names))
	a, b := c.names[p[0]], c.names[p[1]]
	rd.disturb(a, b)
	c.signal(a, syscall.SIGKILL)
	c.signal(b, syscall.SIGKILL)
	time.Sleep(hold)
	return fmt.Sprintf("kill -9 %s %s", a, b)
}

// faultStopShort: SIGSTOP for less than the lease (500 ms): the node
// stays in the view; it is not disturbed (continuity holds for it).
func faultStopShort(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n, role := c.role(rng)
	d := time.Duration(100+rng.IntN(150)) * time.Millisecond
	c.signal(n, syscall.SIGSTOP)
	time.Sleep(d)
	c.signal(n, syscall.SIGCONT)
	time.Sleep(hold)
	return fmt.Sprintf("SIGSTOP %s (%s) %v", n, role, d)
}

func faultStopLong(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n, role := c.role(rng)
	rd.disturb(n)
	d := time.Duration(1000+rng.IntN(3000)) * time.Millisecond
	c.signal(n, syscall.SIGSTOP)
	time.Sleep(d)
	c.signal(n, syscall.SIGCONT)
	time.Sleep(hold)
	return fmt.Sprintf("SIGSTOP %s (%s) %v", n, role, d)
}

// addFault posts a fault rule on node (POST /v1/debug/faults).
func (c *chaosCluster) addFault(node string, spec apitypes.FaultSpec) {
	var res apitypes.FaultAdded
	err := c.apiJSON(node, "POST", "/v1/debug/faults", spec, &res)
	c.logf("fault on %s: %+v: %v", node, spec, err)
}

func (c *chaosCluster) clearFaults(node string) {
	_ = c.apiJSON(node, "DELETE", "/v1/debug/faults", nil, nil)
}

// cut drops everything between a and b (both rules, both directions).
func (c *chaosCluster) cut(a, b string) {
	c.addFault(a, apitypes.FaultSpec{Peer: b, Drop: 1})
	c.addFault(b, apitypes.FaultSpec{Peer: a, Drop: 1})
}

func faultPartition(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	p := rng.Perm(len(c.names))
	k := 1 + rng.IntN((len(c.names)-1)/2) // the minority's size
	var minority, majority []string
	for i, j := range p {
		if i < k {
			minority = append(minority, c.names[j])
		} else {
			majority = append(majority, c.names[j])
		}
	}
	slices.Sort(minority)
	slices.Sort(majority)
	for _, a := range minority {
		rd.disturb(a)
		for _, b := range majority {
			c.cut(a, b)
		}
	}
	time.Sleep(hold)
	return fmt.Sprintf("partition %v | %v", minority, majority)
}

func faultOneWay(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	p := rng.Perm(len(c.names))
	a, b := c.names[p[0]], c.names[p[1]]
	rd.disturb(a, b)
	c.addFault(a, apitypes.FaultSpec{Peer: b, Dir: "out", Drop: 1})
	time.Sleep(hold)
	return fmt.Sprintf("one-way cut %s -> %s", a, b)
}

func faultFlap(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	p := rng.Perm(len(c.names))
	a, b := c.names[p[0]], c.names[p[1]]
	rd.disturb(a, b)
	period := time.Duration(200+rng.IntN(600)) * time.Millisecond
	end := time.Now().Add(hold)
	for on := true; time.Now().Before(end); on = !on {
		if on {
			c.cut(a, b)
		} else {
			c.clearFaults(a)
			c.clearFaults(b)
		}
		time.Sleep(period)
	}
	return fmt.Sprintf("flapping link %s <-> %s every %v", a, b, period)
}

func faultLoss(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n := pick(rng, c.names)
	rd.disturb(n)
	p := 0.2 + 0.3*rng.Float64()
	c.addFault(n, apitypes.FaultSpec{Drop: p})
	time.Sleep(hold)
	return fmt.Sprintf("loss %.0f%% on %s", 100*p, n)
}

func faultDelay(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n := pick(rng, c.names)
	rd.disturb(n)
	d := time.Duration(20+rng.IntN(130)) * time.Millisecond
	c.addFault(n, apitypes.FaultSpec{Delay: d.String()})
	time.Sleep(hold)
	return fmt.Sprintf("delay %v on %s", d, n)
}

// faultDup: duplicated packets must change nothing: not disturbed.
func faultDup(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n := pick(rng, c.names)
	p := 0.3 + 0.5*rng.Float64()
	c.addFault(n, apitypes.FaultSpec{Dup: p})
	time.Sleep(hold)
	return fmt.Sprintf("duplication %.0f%% on %s", 100*p, n)
}

// faultRestart: SIGTERM (a clean leave that moves the node's groups
// first), then the node is started again.
func faultRestart(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n, role := c.role(rng)
	rd.disturb(n)
	p := c.signal(n, syscall.SIGTERM)
	for end := time.Now().Add(45 * time.Second); p != 0 && alive(p) && time.Now().Before(end); {
		time.Sleep(50 * time.Millisecond)
	}
	c.restartDead()
	time.Sleep(hold)
	return fmt.Sprintf("restart %s (%s)", n, role)
}

func faultMove(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	owner := c.svcOwner()
	if owner != "" {
		rd.disturb(owner)
	} else {
		// not online where it was: the move stops it wherever it runs
		owner = "?"
		for _, n := range c.names {
			rd.disturb(n)
		}
	}
	err := c.shell(pick(rng, c.names), "move svc")
	time.Sleep(hold)
	return fmt.Sprintf("move svc from %s (%s)", owner, errText(err))
}

func faultPause(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n, role := c.role(rng)
	rd.disturb(n)
	err := c.shell(pick(rng, c.names), "pause "+n)
	time.Sleep(hold)
	err2 := c.shell(pick(rng, c.names), "resume "+n)
	return fmt.Sprintf("pause %s (%s; %s), resume (%s)", n, role, errText(err), errText(err2))
}

func faultLeave(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n, role := c.role(rng)
	rd.disturb(n)
	err := c.shell(n, "leave")
	time.Sleep(hold)
	var err2 error
	for _, o := range c.names {
		if o != n {
			if err2 = c.shell(o, "resume "+n); err2 == nil {
				break
			}
		}
	}
	return fmt.Sprintf("leave %s (%s; %s), resume (%s)", n, role, errText(err), errText(err2))
}

// faultConfig adds or removes the group aux (one dummy resource) in one
// transaction.
func faultConfig(c *chaosCluster, rng *mrand.Rand, rd *chaosRound, hold time.Duration) string {
	n := pick(rng, c.names)
	var cur apitypes.CDBGetResult
	exists := c.apiJSON(n, "GET", "/v1/cdb/groups/aux", nil, &cur) == nil
	txn := apitypes.CDBTxnRequest{Ops: []apitypes.CDBOp{
		{Op: "set", Key: "/resources/aux", Value: `{"agent": "dummy", "group": "aux", "monitor": "1s"}`},
		{Op: "set", Key: "/groups/aux", Value: `{"resources": ["aux"]}`}}}
	what := "add group aux"
	if exists {
		txn.Ops = []apitypes.CDBOp{{Op: "delete", Key: "/groups/aux"}, {Op: "delete", Key: "/resources/aux"}}
		what = "delete group aux"
	}
	err := c.apiJSON(n, "POST", "/v1/cdb-txn", txn, nil)
	c.logf("config on %s: %s: %v", n, what, err)
	time.Sleep(hold)
	return fmt.Sprintf("config write on %s: %s (%s)", n, what, errText(err))
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// round runs round r: its faults at once, then healing, then the checks
// of continuity and G7; G4 and G3 are the run's.
func (c *chaosCluster) round(s chaosSettings, r int) *chaosRound {
	rng := mrand.New(mrand.NewPCG(s.seed, uint64(r)))
	rd := &chaosRound{n: r, disturbed: map[string]bool{}}
	c.logf("=== round %d", r)
	since := map[string]int{}
	for _, n := range c.names {
		since[n] = c.lastSeq(n)
	}
	start := time.Now()
	nf := 1 + rng.IntN(2)
	var chosen []chaosFault
	for len(chosen) < nf {
		f := pick(rng, chaosFaults)
		if !slices.ContainsFunc(chosen, func(x chaosFault) bool { return x.kind == f.kind }) {
			chosen = append(chosen, f)
		}
	}
	hold := time.Duration(1500+rng.IntN(3500)) * time.Millisecond
	var wg sync.WaitGroup
	results := make([]string, len(chosen))
	for i, f := range chosen {
		rd.kinds = append(rd.kinds, f.kind)
		frng := mrand.New(mrand.NewPCG(s.seed, uint64(r)*100+uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = f.apply(c, frng, rd, hold)
			c.logf("fault done: %s", results[i])
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(hold + 3*time.Minute):
		// a fault that never returns is the harness's bug: stop the run
		rd.faults = []string{"(faults did not return)"}
		rd.violations = append(rd.violations, "harness: the round's faults did not return within 3 minutes (see chaos.log)")
		rd.fatal = true
		return rd
	}
	rd.faults = results

	// heal: lift every rule, wake stopped nodes, start dead ones, resume
	// paused ones, until one view of all and svc online (G7)
	healStart := time.Now()
	c.contAll()
	for _, n := range c.names {
		c.clearFaults(n)
	}
	var last error
	for deadline := healStart.Add(chaosHealBound); time.Now().Before(deadline); {
		c.restartDead()
		if last = c.healthy(); last == nil {
			break
		}
		// a node left or paused stays so until resumed
		for _, n := range c.names {
			st, err := c.status(n)
			if err != nil {
				continue
			}
			for _, x := range st.Nodes {
				if (x.State == "paused" || x.State == "left") && st.Quorate && slices.Contains(st.Members, n) {
					_ = c.shell(n, "resume "+x.Name)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	rd.heal = time.Since(healStart)
	rd.healed = last == nil
	if !rd.healed {
		rd.violations = append(rd.violations, fmt.Sprintf("G7: not healed within %v after the faults stopped: %v", chaosHealBound, last))
		rd.fatal = true
	}
	end := time.Now()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		rd.load = strings.Fields(string(b))[0]
	}
	rd.probes, rd.answered, rd.dual = c.prober.between(start, end)
	for _, d := range c.prober.doubles(start, end) {
		rd.violations = append(rd.violations, "G4: two incarnations of svc served at once: "+d)
	}

	// continuity: the service's stops on nodes that stayed primary
	for _, n := range c.names {
		if rd.disturbed[n] {
			continue
		}
		evs, err := c.events(n, max(since[n]-50, 0))
		if err != nil {
			continue
		}
		for _, v := range continuityViolations(n, "svc", evs, since[n]) {
			rd.violations = append(rd.violations, fmt.Sprintf("continuity: svc stopped on %s, which stayed in the primary component and no fault of the round touched: %s", n, v))
		}
	}
	c.logf("=== round %d: %s: %d violation(s), healed in %v", r, strings.Join(rd.faults, "; "), len(rd.violations), rd.heal)
	return rd
}
