package testsuite

// The chaos suite (`make chaos`; a short run in `make test`): a real 3- or
// 5-node cluster on its own loopback block, a seeded random schedule of
// faults per round (kill -9, SIGSTOP shorter and longer than the lease,
// partitions, one-way cuts, flapping links, loss, delay, duplication,
// clean restarts, move, pause, leave, config writes) during a steady load
// of config DB clients and a prober of the service, and checks made from
// outside, as a user would (chaos_check_test.go):
//
//   - G3: the clients' set/CAS/get history is linearizable (porcupine;
//     gets are the API's default, linearizable reads; a get without an
//     answer is left out), and after healing every node answers the same
//     last value of every key, consistent with it.
//   - G4: the service (a process resource) writes its start, a heartbeat
//     and its stop with its incarnation (node:pid) to an append-only file;
//     two incarnations never run at once (the process fence device kills
//     a fenced node's service for real, so a fenced one writes nothing
//     after its fence).
//   - Continuity: the service never stops on a node whose own events show
//     it never left the primary component (no quorum_lost, no non-primary
//     view), unless the round moved, paused or took down that node.
//   - G7: after the faults stop, one quorate view of all nodes and the
//     service online (or blocked with a reason) within chaosHealBound.
//   - Availability: the fraction of probes (every 100 ms, every node's
//     address) the service answered, per fault kind.
//
// CHAOS_ROUNDS (default 3, the short run of `make test`), CHAOS_SEED (default: from the clock),
// CHAOS_NODES (3 or 5), CHAOS_FIRST (the first round's number, to replay
// one round: the schedule of round r depends only on the seed and r).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/config"
)

const (
	// chaosNet is the chaos suite's address block (CHAOS_NET overrides it,
	// to run two at once).
	chaosNet = "127.240"
	// chaosSvcPort is the service's (corral whoami) port on its owner.
	chaosSvcPort = 8080
	// chaosHealBound bounds the wait for one view of all nodes and the
	// service placed after the faults stop (G7).
	chaosHealBound = 90 * time.Second
	// chaosRetryFor is how long a client retries a write with its request
	// id before it records the outcome as unknown.
	chaosRetryFor = 30 * time.Second
	// chaosReadsLinearizable: gets join the linearizability check (they
	// are recorded either way); CHAOS_LINREAD=1 or 0 overrides it.
	chaosReadsLinearizable = true
	chaosKeys              = 3
	chaosClients           = 4
)

// chaosSettings are the run's parameters.
type chaosSettings struct {
	seed          uint64
	rounds, first int
	nodes         int
	service       string // the service's shape: exec or fork (chaosSvcScripts)
	net           string
}

func chaosEnvInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: give a number", name, v)
	}
	return n
}

func chaosSettingsFromEnv(t *testing.T) chaosSettings {
	s := chaosSettings{rounds: chaosEnvInt(t, "CHAOS_ROUNDS", 3), first: chaosEnvInt(t, "CHAOS_FIRST", 1), nodes: chaosEnvInt(t, "CHAOS_NODES", 3)}
	if s.nodes != 3 && s.nodes != 5 {
		t.Fatalf("CHAOS_NODES=%d: use 3 or 5", s.nodes)
	}
	s.net = chaosNet
	if v := os.Getenv("CHAOS_NET"); v != "" {
		s.net = v
	}
	s.service = os.Getenv("CHAOS_SERVICE")
	if s.service == "" {
		s.service = "fork" // what exec covers and a grandchild that outlives a killed node
	}
	if chaosSvcScripts[s.service] == "" {
		t.Fatalf("CHAOS_SERVICE=%s: use exec or fork", s.service)
	}
	s.seed = uint64(time.Now().UnixNano()) % 1_000_000_000
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: give a number", v)
		}
		s.seed = n
	}
	return s
}

func (s chaosSettings) replay(first, rounds int) string {
	return fmt.Sprintf("CHAOS_SEED=%d CHAOS_NODES=%d CHAOS_SERVICE=%s CHAOS_FIRST=%d CHAOS_ROUNDS=%d make chaos", s.seed, s.nodes, s.service, first, rounds)
}

// chaosCluster is the running cluster and what the run recorded.
type chaosCluster struct {
	t       *testing.T
	dir     string
	net     string
	names   []string
	bin     string
	svcFile string
	t0      time.Time // op timestamps are ns since t0
	hc      map[string]*http.Client
	mu      sync.Mutex
	logw    io.Writer // chaos.log
	stopped map[int]bool
	prober  *chaosProber
}

func (c *chaosCluster) logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(c.logw, "%s %s\n", time.Now().UTC().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// writeChaosConfigs writes the demo's configuration for n nodes (as
// `corral demo` would) with the process fence device also killing each
// node's service (its process agent's pid file), as power fencing does.
func writeChaosConfigs(dir, netBlock, bin string, n int) error {
	key := make([]byte, config.KeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return err
	}
	addr := func(k, link int) string { return fmt.Sprintf("%s.%d.%d", netBlock, link, k) }
	for k := 1; k <= n; k++ {
		var b strings.Builder
		fmt.Fprintf(&b, "cluster = \"demo\"\nnode = \"n%d\"\nkey_file = \"../cluster.key\"\n", k)
		fmt.Fprintf(&b, "data_dir = \"data\"\nadmin_socket = \"corral.sock\"\npid_file = \"corral.pid\"\nport = 5420\n")
		for j := 1; j <= n; j++ {
			fmt.Fprintf(&b, "\n[[nodes]]\nname = \"n%d\"\nid = %d\naddresses = [%q, %q]\n", j, j, addr(j, 0), addr(j, 1))
		}
		fmt.Fprintf(&b, "\n[dns]\nlisten = [\"%s:8053\"]\n", addr(k, 0))
		fmt.Fprintf(&b, "\n[nbd]\nlisten = \"%s:10809\"\n", addr(k, 0))
		fmt.Fprintf(&b, "\n[debug]\nfault_injection = true\n")
		fmt.Fprintf(&b, "\n[fence]\naction = \"off\"\n\n[[fence.devices]]\nname = \"power\"\ndriver = \"process\"\n")
		fmt.Fprintf(&b, "params = { dir = %q, corral = %q, pidfiles = \"data/agents/process-svc.pid\" }\n", dir, bin)
		for j := 1; j <= n; j++ {
			fmt.Fprintf(&b, "\n[[fence.levels]]\nnode = \"n%d\"\nlevel = 1\ndevices = [\"power\"]\n", j)
		}
		nd := filepath.Join(dir, fmt.Sprintf("n%d", k))
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(nd, "corral.toml"), []byte(b.String()), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// chaosSvcScripts are the service, in two shapes: "exec" runs corral
// whoami as the process the agent started (as the demo's web does);
// "fork" runs it as a child of the script, as daemons that fork workers
// do. Both record their start, a heartbeat every 100 ms while whoami
// runs (written by a watcher beside it, so the records end when whoami
// does, whoever dies first), and their stop, with the incarnation
// (node:pid). Its records end when whoami ends (or becomes a zombie).
var chaosSvcScripts = map[string]string{
	"exec": `#!/bin/sh
# chaos service: $1 node, $2 record file, $3 corral, $4 address, $5 port
inc="$1:$$"
rec() { echo "$1 $inc $(date +%s%N)" >> "$2"; }
# running: the process exists and is not a zombie (a dead child its new
# parent has not reaped yet still answers kill -0)
running() { case "$(cat /proc/$1/stat 2>/dev/null)" in ""|*") Z "*) return 1;; esac; }
rec start "$2"
me=$$
( while running $me; do rec alive "$2"; sleep 0.1; done; rec exit "$2" ) &
exec "$3" whoami --listen "$4:$5" --name "$1"
`,
	"fork": `#!/bin/sh
# chaos service: $1 node, $2 record file, $3 corral, $4 address, $5 port
inc="$1:$$"
rec() { echo "$1 $inc $(date +%s%N)" >> "$2"; }
# running: the process exists and is not a zombie (a dead child its new
# parent has not reaped yet still answers kill -0)
running() { case "$(cat /proc/$1/stat 2>/dev/null)" in ""|*") Z "*) return 1;; esac; }
rec start "$2"
"$3" whoami --listen "$4:$5" --name "$1" &
w=$!
( while running $w; do rec alive "$2"; sleep 0.1; done; rec exit "$2" ) &
trap 'kill $w 2>/dev/null; rec stop "$2"; exit 0' TERM INT
wait $w
rec exit "$2"
`,
}

func chaosUnixClient(sock string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
}

// api calls the admin API of node: it returns the status and the body.
func (c *chaosCluster) api(node, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://corral"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc[node].Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (c *chaosCluster) apiJSON(node, method, path string, body, v any) error {
	code, out, err := c.api(node, method, path, body)
	if err != nil {
		return err
	}
	if code/100 != 2 {
		return fmt.Errorf("%s %s on %s: %d %s", method, path, node, code, bytes.TrimSpace(out))
	}
	if v != nil {
		return json.Unmarshal(out, v)
	}
	return nil
}

// shell runs `corral shell --socket <node's socket> -c CMD` as an operator
// would.
func (c *chaosCluster) shell(node, cmd string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	x := exec.CommandContext(ctx, c.bin, "shell", "--socket", filepath.Join(c.dir, node, "corral.sock"), "-c", cmd)
	out, err := x.CombinedOutput()
	c.logf("shell on %s: %s: %v %s", node, cmd, err, bytes.TrimSpace(out))
	if err != nil {
		return fmt.Errorf("%s on %s: %v: %s", cmd, node, err, bytes.TrimSpace(out))
	}
	return nil
}

func (c *chaosCluster) pid(node string) int {
	b, err := os.ReadFile(filepath.Join(c.dir, node, "corral.pid"))
	if err != nil {
		return 0
	}
	p, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if !alive(p) {
		return 0
	}
	return p
}

func (c *chaosCluster) signal(node string, sig syscall.Signal) int {
	p := c.pid(node)
	if p == 0 {
		return 0
	}
	c.mu.Lock()
	switch sig {
	case syscall.SIGSTOP:
		c.stopped[p] = true
	case syscall.SIGCONT:
		delete(c.stopped, p)
	}
	c.mu.Unlock()
	err := syscall.Kill(p, sig)
	c.logf("kill -%d %s (pid %d): %v", int(sig), node, p, err)
	return p
}

// contAll sends SIGCONT to every process the run stopped.
func (c *chaosCluster) contAll() {
	c.mu.Lock()
	ps := make([]int, 0, len(c.stopped))
	for p := range c.stopped {
		ps = append(ps, p)
	}
	c.stopped = map[int]bool{}
	c.mu.Unlock()
	for _, p := range ps {
		_ = syscall.Kill(p, syscall.SIGCONT)
	}
}

func (c *chaosCluster) status(node string) (apitypes.Status, error) {
	var st apitypes.Status
	err := c.apiJSON(node, "GET", "/v1/status", nil, &st)
	return st, err
}

func (c *chaosCluster) groups(node string) ([]apitypes.GroupStatus, error) {
	var gs []apitypes.GroupStatus
	err := c.apiJSON(node, "GET", "/v1/groups", nil, &gs)
	return gs, err
}

// svcOwner is the service's owner as some node sees it ("" if none).
func (c *chaosCluster) svcOwner() string {
	for _, n := range c.names {
		gs, err := c.groups(n)
		if err != nil {
			continue
		}
		for _, g := range gs {
			if g.Name == "svc" && g.State == "online" {
				return g.Owner
			}
		}
	}
	return ""
}

// write sets keys until every one is written (a view change refuses
// writes for a moment).
func (c *chaosCluster) write(within time.Duration, kv ...[2]string) error {
	deadline := time.Now().Add(within)
	for _, p := range kv {
		for {
			err := c.apiJSON(c.names[0], "PUT", "/v1/cdb"+p[0], map[string]string{"value": p[1]}, nil)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("writing %s: %w", p[0], err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

// healthy is G7: one quorate view of every node, and the service online
// (or not online with a reason), as every node sees it.
func (c *chaosCluster) healthy() error {
	var view string
	for _, n := range c.names {
		st, err := c.status(n)
		if err != nil {
			return err
		}
		if !st.Quorate || !slices.Equal(st.Members, c.names) {
			return fmt.Errorf("%s: view %s members %v quorate=%v", n, st.View, st.Members, st.Quorate)
		}
		if view == "" {
			view = st.View
		} else if st.View != view {
			return fmt.Errorf("%s is in view %s, another node in %s", n, st.View, view)
		}
		for _, x := range st.Nodes {
			if x.State != "online" {
				return fmt.Errorf("%s sees %s %s", n, x.Name, x.State)
			}
		}
	}
	for _, n := range c.names {
		gs, err := c.groups(n)
		if err != nil {
			return err
		}
		for _, g := range gs {
			if g.State != "online" && g.Reason == "" {
				return fmt.Errorf("%s: group %s is %s without a reason", n, g.Name, g.State)
			}
			if g.Name == "svc" && g.State != "online" {
				return fmt.Errorf("%s: svc is %s (%s)", n, g.State, g.Reason)
			}
		}
	}
	return nil
}

// restartDead starts the nodes whose process is gone (`corral demo
// --detach` starts those).
func (c *chaosCluster) restartDead() {
	dead := []string{}
	for _, n := range c.names {
		if c.pid(n) == 0 {
			dead = append(dead, n)
		}
	}
	if len(dead) == 0 {
		return
	}
	x := exec.Command(c.bin, "demo", "--detach", "--dir", c.dir)
	x.Dir = c.dir
	out, err := x.CombinedOutput()
	c.logf("restart %v: demo --detach: %v %s", dead, err, firstLine(out))
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// events returns node's events after since (`events --json --since N`).
func (c *chaosCluster) events(node string, since int) ([]chaosEvent, error) {
	var evs []chaosEvent
	err := c.apiJSON(node, "GET", fmt.Sprintf("/v1/events?since=%d", since), nil, &evs)
	return evs, err
}

func (c *chaosCluster) lastSeq(node string) int {
	evs, err := c.events(node, 0)
	if err != nil || len(evs) == 0 {
		return 0
	}
	return evs[len(evs)-1].Seq
}

// ---- the load: config DB clients ----

type chaosClient struct {
	c     *chaosCluster
	id    int
	name  string
	rng   *mrand.Rand
	seq   uint64
	rev   map[string]uint64
	node  int
	ops   []chaosOp
	keys  []string
	n     int // values written
	hc    map[string]*http.Client
	stopc <-chan struct{}
}

func (cl *chaosClient) now() int64 { return int64(time.Since(cl.c.t0)) }

func (cl *chaosClient) do(node, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://corral"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	resp, err := cl.hc[node].Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (cl *chaosClient) run(done chan<- struct{}) {
	defer close(done)
	for {
		select {
		case <-cl.stopc:
			return
		case <-time.After(time.Duration(30+cl.rng.IntN(40)) * time.Millisecond):
		}
		key := cl.keys[cl.rng.IntN(len(cl.keys))]
		switch r := cl.rng.IntN(10); {
		case r < 3:
			cl.get(key)
		case r < 6:
			cl.write(key, "set")
		default:
			cl.write(key, "cas")
		}
	}
}

func (cl *chaosClient) nodeName() string { return cl.c.names[cl.node%len(cl.c.names)] }

func (cl *chaosClient) get(key string) {
	node := cl.nodeName()
	op := chaosOp{Client: cl.id, Node: node, In: chaosIn{Op: "get", Key: key}, Call: cl.now()}
	code, body, err := cl.do(node, "GET", "/v1/cdb"+key, nil)
	op.Return = cl.now()
	var res apitypes.CDBGetResult
	switch {
	case err == nil && code == 200 && json.Unmarshal(body, &res) == nil && !res.Stale:
		op.Out = chaosOut{OK: true, Value: res.Value, Rev: res.Revision}
		cl.rev[key] = res.Revision
	case err == nil && code == 404 && !bytes.Contains(body, []byte("not quorate")):
		op.Out = chaosOut{}
		cl.rev[key] = 0
	default:
		op.Out = chaosOut{Unknown: true}
		op.Return = math.MaxInt64
		cl.node++
	}
	cl.ops = append(cl.ops, op)
}

// write is a set or a CAS with a request id: without a definite answer it
// is sent again, same id, to the next node, until chaosRetryFor passed.
func (cl *chaosClient) write(key, kind string) {
	cl.seq++
	cl.n++
	val := fmt.Sprintf("%s-%d", cl.name, cl.n)
	req := apitypes.CDBSetRequest{Value: val, Client: cl.name, Seq: cl.seq}
	in := chaosIn{Op: kind, Key: key, Value: val}
	if kind == "cas" {
		r := cl.rev[key]
		req.IfRevision = &r
		in.Expect = r
	}
	op := chaosOp{Client: cl.id, Node: cl.nodeName(), In: in, Call: cl.now()}
	deadline := time.Now().Add(chaosRetryFor)
	for {
		node := cl.nodeName()
		code, body, err := cl.do(node, "PUT", "/v1/cdb"+key, req)
		var res struct {
			Error string `json:"error"`
			apitypes.CDBWriteResult
		}
		if err == nil && json.Unmarshal(body, &res) == nil {
			switch {
			case code == 200 && res.OK:
				op.Out, op.Return = chaosOut{OK: true, Rev: res.Revision}, cl.now()
				cl.rev[key] = res.Revision
				cl.ops = append(cl.ops, op)
				return
			case code == 409 && strings.HasPrefix(res.Error, "revision mismatch"):
				op.Out, op.Return = chaosOut{}, cl.now()
				cl.ops = append(cl.ops, op)
				return
			}
		}
		cl.node++
		if time.Now().After(deadline) {
			op.Out, op.Return = chaosOut{Unknown: true}, math.MaxInt64
			cl.ops = append(cl.ops, op)
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ---- the prober ----

type chaosProbe struct {
	at    time.Time
	who   []string // the nodes whose address answered
	dual  bool
	alive bool
}

type chaosProber struct {
	mu     sync.Mutex
	probes []chaosProbe
}

func (p *chaosProber) run(c *chaosCluster, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	hc := &http.Client{Timeout: 300 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case <-stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
		at := time.Now()
		var wg sync.WaitGroup
		ans := make([]string, len(c.names))
		for i, n := range c.names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := hc.Get(fmt.Sprintf("http://%s:%d/", nodeAddr(c.net, n), chaosSvcPort))
				if err != nil {
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.TrimSpace(string(b)) == n {
					ans[i] = n
				}
			}()
		}
		wg.Wait()
		pr := chaosProbe{at: at}
		for _, a := range ans {
			if a != "" {
				pr.who = append(pr.who, a)
			}
		}
		pr.alive, pr.dual = len(pr.who) > 0, len(pr.who) > 1
		p.mu.Lock()
		p.probes = append(p.probes, pr)
		p.mu.Unlock()
	}
}

// doubles lists the stretches of two or more consecutive probes in
// [from, to) that two nodes answered as the service: the second probe
// began after the first had its answers, so both incarnations served at
// one moment (G4; one probe alone may straddle a switchover).
func (p *chaosProber) doubles(from, to time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	runStart, runLen, who := time.Time{}, 0, ""
	flush := func(end time.Time) {
		if runLen >= 2 {
			out = append(out, fmt.Sprintf("%s answered at once in %d consecutive probes from %s to %s",
				who, runLen, runStart.UTC().Format("15:04:05.000"), end.UTC().Format("15:04:05.000")))
		}
		runLen = 0
	}
	var last time.Time
	for _, pr := range p.probes {
		if pr.at.Before(from) || !pr.at.Before(to) {
			continue
		}
		if pr.dual {
			if runLen == 0 {
				runStart, who = pr.at, strings.Join(pr.who, " and ")
			}
			runLen++
		} else {
			flush(last)
		}
		last = pr.at
	}
	flush(last)
	return out
}

// between counts the probes in [from, to) and those answered.
func (p *chaosProber) between(from, to time.Time) (n, ok, dual int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.probes {
		if pr.at.Before(from) || !pr.at.Before(to) {
			continue
		}
		n++
		if pr.alive {
			ok++
		}
		if pr.dual {
			dual++
		}
	}
	return
}

// ---- the lock clients (G5) ----

// chaosLockScript holds the lock for about 300 ms and records a heartbeat
// meanwhile: $1 the record file, $2 the holder's name.
const chaosLockScript = `for i in 1 2 3 4 5 6; do echo "hold $2 $(date +%s%N)" >> "$1"; sleep 0.05; done`

// chaosLocker runs `corral lock --timeout 3s chaos -- ...` in a loop
// through the nodes' sockets; a holder killed when its lock is lost
// writes nothing after.
type chaosLocker struct {
	c        *chaosCluster
	id       int
	file     string
	granted  int
	refused  int
	attempts int
}

func (l *chaosLocker) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		node := l.c.names[(l.id+n)%len(l.c.names)]
		holder := fmt.Sprintf("lock%d.%d@%s", l.id, n, node)
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		x := exec.CommandContext(ctx, l.c.bin, "lock", "--socket", filepath.Join(l.c.dir, node, "corral.sock"), "--timeout", "3s", "chaos",
			"--", "/bin/sh", "-c", chaosLockScript, "sh", l.file, holder)
		out, err := x.CombinedOutput()
		cancel()
		l.attempts++
		if err == nil {
			l.granted++
		} else {
			l.refused++
			l.c.logf("lock %s: %v %s", holder, err, firstLine(out))
		}
	}
}

// ---- the test ----

// TestChaos runs the chaos rounds (see the top of this file).
func TestChaos(t *testing.T) {
	s := chaosSettingsFromEnv(t)
	keep := false
	dir, err := os.MkdirTemp("", "corral-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs last: after the cluster stopped
		if left := killChaosLeftovers(dir, s.net); len(left) > 0 {
			fmt.Printf("chaos: %d process(es) of the service outlived the cluster (killed now):\n  %s\n", len(left), strings.Join(left, "\n  "))
		}
		if keep || t.Failed() {
			fmt.Printf("chaos: the nodes' logs, events, schedule and history are in %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	})
	logf, err := os.Create(filepath.Join(dir, "chaos.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	bin, err := filepath.Abs(corralBin(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &chaosCluster{t: t, dir: dir, net: s.net, bin: bin, hc: map[string]*http.Client{},
		svcFile: filepath.Join(dir, "svc.records"), logw: logf, stopped: map[int]bool{}, t0: time.Now()}
	for k := 1; k <= s.nodes; k++ {
		n := fmt.Sprintf("n%d", k)
		c.names = append(c.names, n)
		c.hc[n] = chaosUnixClient(filepath.Join(dir, n, "corral.sock"), 3*time.Second)
	}
	if err := writeChaosConfigs(dir, s.net, bin, s.nodes); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "svc.sh")
	if err := os.WriteFile(script, []byte(chaosSvcScripts[s.service]), 0o755); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("chaos: seed %d, %d nodes, service %s, rounds %d..%d, files in %s\n", s.seed, s.nodes, s.service, s.first, s.first+s.rounds-1, dir)
	startMemberDemo(t, dir, s.net, s.nodes, "--web=false")
	t.Cleanup(func() { c.contAll() }) // before demo stop
	waitUntil := func(within time.Duration, what string, cond func() error) error {
		deadline := time.Now().Add(within)
		for {
			err := cond()
			if err == nil {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: not within %v: %w", what, within, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if err := waitUntil(60*time.Second, "one quorate view of all nodes", func() error {
		for _, n := range c.names {
			st, err := c.status(n)
			if err != nil {
				return err
			}
			if !st.Quorate || len(st.Members) != len(c.names) {
				return fmt.Errorf("%s: %v quorate=%v", n, st.Members, st.Quorate)
			}
		}
		return nil
	}); err != nil {
		keep = true
		t.Fatal(err)
	}
	cmd := fmt.Sprintf("/bin/sh %s ${node} %s %s ${address} %d", script, c.svcFile, bin, chaosSvcPort)
	res := fmt.Sprintf(`{"agent": "process", "group": "svc", "monitor": "1s", "params": {"command": %q, "stop_timeout": "3s", "log": %q}}`, cmd, filepath.Join(dir, "svc.out"))
	if err := c.write(30*time.Second, [2]string{"/resources/svc", res}, [2]string{"/groups/svc", `{"resources": ["svc"]}`}); err != nil {
		keep = true
		t.Fatal(err)
	}
	if err := waitUntil(60*time.Second, "svc online", c.healthy); err != nil {
		keep = true
		t.Fatal(err)
	}

	// whoami answers before the first round (online is its agent's word)
	if err := waitUntil(30*time.Second, "svc answering", func() error {
		o := c.svcOwner()
		resp, err := http.Get(fmt.Sprintf("http://%s:%d/", nodeAddr(c.net, o), chaosSvcPort))
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}); err != nil {
		keep = true
		t.Fatal(err)
	}

	// the load
	stopLoad := make(chan struct{})
	var keys []string
	for k := range chaosKeys {
		keys = append(keys, fmt.Sprintf("/chaos/k%d", k))
	}
	var clients []*chaosClient
	var loadDone []chan struct{}
	for i := range chaosClients {
		cl := &chaosClient{c: c, id: i, name: fmt.Sprintf("chaos-%d-%d", s.seed, i), rng: mrand.New(mrand.NewPCG(s.seed, uint64(1000+i))),
			rev: map[string]uint64{}, node: i, keys: keys, stopc: stopLoad, hc: map[string]*http.Client{}}
		for _, n := range c.names {
			cl.hc[n] = chaosUnixClient(filepath.Join(dir, n, "corral.sock"), 3*time.Second)
		}
		clients = append(clients, cl)
		done := make(chan struct{})
		loadDone = append(loadDone, done)
		go cl.run(done)
	}
	prober := &chaosProber{}
	c.prober = prober
	proberDone := make(chan struct{})
	go prober.run(c, stopLoad, proberDone)
	lockFile := filepath.Join(dir, "lock.records")
	var lockers []*chaosLocker
	for i := range 2 {
		l := &chaosLocker{c: c, id: i, file: lockFile}
		lockers = append(lockers, l)
		done := make(chan struct{})
		loadDone = append(loadDone, done)
		go l.run(stopLoad, done)
	}
	loadStopped := false
	stopTheLoad := func() {
		if loadStopped {
			return
		}
		loadStopped = true
		close(stopLoad)
		for _, d := range loadDone {
			<-d
		}
		<-proberDone
	}
	t.Cleanup(stopTheLoad)

	// the rounds
	var rounds []*chaosRound
	reported := map[string]bool{} // svc overlaps already reported
	lockReported := map[string]bool{}
	for r := s.first; r < s.first+s.rounds; r++ {
		rd := c.round(s, r)
		rounds = append(rounds, rd)
		// G4: the service's records so far
		if runs, err := readSvcFile(c.svcFile); err == nil {
			for _, o := range svcOverlaps(runs, reported) {
				rd.violations = append(rd.violations, "G4: two incarnations of svc at once: "+o)
			}
		}
		// G5: the lock's holders
		if runs, err := readSvcFile(lockFile); err == nil {
			for _, o := range svcOverlaps(runs, lockReported) {
				rd.violations = append(rd.violations, "G5: two holders of the lock chaos at once: "+o)
			}
		}
		rd.print(os.Stdout)
		if rd.fatal {
			break
		}
	}

	// G3: stop the load, read every key on every node, check the history
	stopTheLoad()
	var ops []chaosOp
	for _, cl := range clients {
		ops = append(ops, cl.ops...)
	}
	var final []string
	readers := &chaosClient{c: c, id: chaosClients, hc: c.hc}
	if err := waitUntil(chaosHealBound, "every node answers the same value of every key", func() error {
		final = final[:0]
		for _, k := range keys {
			var first string
			for _, n := range c.names {
				code, body, err := readers.do(n, "GET", "/v1/cdb"+k, nil)
				var res apitypes.CDBGetResult
				if err != nil || (code != 200 && code != 404) || (code == 200 && (json.Unmarshal(body, &res) != nil || res.Stale)) {
					return fmt.Errorf("%s on %s: %d %v %s", k, n, code, err, body)
				}
				got := fmt.Sprintf("%q@%d", res.Value, res.Revision)
				if code == 404 {
					got = "absent"
				}
				if first == "" {
					first = got
				} else if got != first {
					return fmt.Errorf("%s: %s on %s, %s on %s", k, first, c.names[0], got, n)
				}
			}
			final = append(final, k+"="+first)
		}
		return nil
	}); err != nil {
		rounds[len(rounds)-1].violations = append(rounds[len(rounds)-1].violations, "G3: "+err.Error())
	} else {
		// the final reads join the history, after every call returned
		at := int64(time.Since(c.t0))
		for _, k := range keys {
			for _, n := range c.names {
				code, body, _ := readers.do(n, "GET", "/v1/cdb"+k, nil)
				var res apitypes.CDBGetResult
				out := chaosOut{}
				if code == 200 && json.Unmarshal(body, &res) == nil {
					out = chaosOut{OK: true, Value: res.Value, Rev: res.Revision}
				}
				ops = append(ops, chaosOp{Client: chaosClients, Node: n, In: chaosIn{Op: "get", Key: k}, Out: out, Call: at, Return: at + 1})
			}
		}
	}
	// only the final reads when the others are not linearizable yet
	withGets := chaosReadsLinearizable
	if v := os.Getenv("CHAOS_LINREAD"); v != "" {
		withGets = v == "1"
	}
	// a get without an answer says nothing: left out
	var checked []chaosOp
	for _, o := range ops {
		if o.In.Op != "get" || o.Client == chaosClients || (withGets && !o.Out.Unknown) {
			checked = append(checked, o)
		}
	}
	writeHistory(filepath.Join(dir, "history.txt"), ops)
	unknown := 0
	for _, o := range checked {
		if o.Out.Unknown {
			unknown++
		}
	}
	start := time.Now()
	viol, timedOut, nops := checkLinearizable(checked, true, 2*time.Minute, filepath.Join(dir, "history.html"))
	g3 := fmt.Sprintf("G3: %d config DB calls checked (%d outcome unknown, %d gets recorded%s) in %v: ", nops, unknown, countGets(ops),
		map[bool]string{true: "", false: ", only the final reads checked until reads are linearizable"}[withGets], time.Since(start).Round(time.Millisecond))
	switch {
	case viol != "":
		g3 += "NOT LINEARIZABLE"
		rounds[len(rounds)-1].violations = append(rounds[len(rounds)-1].violations, "G3: "+viol)
	case timedOut:
		g3 += "porcupine timed out (no verdict)"
	default:
		g3 += "linearizable; final values " + strings.Join(final, " ")
	}

	// the verdict
	var b strings.Builder
	total := 0
	failed := []int{}
	for _, rd := range rounds {
		total += len(rd.violations)
		if len(rd.violations) > 0 {
			failed = append(failed, rd.n)
		}
	}
	fmt.Fprintf(&b, "\nchaos: seed %d, %d nodes, service %s, %d rounds\n", s.seed, s.nodes, s.service, len(rounds))
	chaosTable(&b, rounds)
	fmt.Fprintf(&b, "%s\n", g3)
	chaosAvailability(&b, rounds)
	granted, attempts := 0, 0
	for _, l := range lockers {
		granted, attempts = granted+l.granted, attempts+l.attempts
	}
	fmt.Fprintf(&b, "G5: corral lock chaos: %d of %d runs held the lock (the others timed out or lost it); holders never overlapped unless a violation says so\n", granted, attempts)
	if total == 0 {
		fmt.Fprintf(&b, "VERDICT: PASS (%d rounds, no violation)\n", len(rounds))
	} else {
		keep = true
		fmt.Fprintf(&b, "VERDICT: FAIL: %d violation(s) in rounds %v\n", total, failed)
		for _, rd := range rounds {
			for _, v := range rd.violations {
				fmt.Fprintf(&b, "  round %d: %s\n", rd.n, v)
			}
		}
		fmt.Fprintf(&b, "replay the whole run: %s\n", s.replay(s.first, s.rounds))
		if len(failed) > 0 {
			fmt.Fprintf(&b, "replay round %d alone: %s\n", failed[0], s.replay(failed[0], 1))
		}
		fmt.Fprintf(&b, "evidence (nodes' logs nK/corral.log, events-nK.json, chaos.log, svc.records, history.txt): %s\n", dir)
		c.dumpEvents()
	}
	os.WriteFile(filepath.Join(dir, "report.txt"), []byte(b.String()), 0o644)
	fmt.Print(b.String())
	if total > 0 {
		t.Errorf("chaos: %d violation(s); seed %d; replay: %s; evidence in %s", total, s.seed, s.replay(s.first, s.rounds), dir)
	}
}

// killChaosLeftovers kills, by pid, what the run's service left behind
// once its nodes stopped: the service's scripts (their command line names
// the run's directory) and corral whoami on the run's address block.
func killChaosLeftovers(dir, netBlock string) []string {
	time.Sleep(300 * time.Millisecond) // a watcher notices its whoami is gone
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cmd, filepath.Join(dir, "svc.sh")) || strings.Contains(cmd, "whoami --listen "+netBlock+".") {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				out = append(out, fmt.Sprintf("pid %d: %s", pid, cmd))
			}
		}
	}
	return out
}

func countGets(ops []chaosOp) int {
	n := 0
	for _, o := range ops {
		if o.In.Op == "get" {
			n++
		}
	}
	return n
}

func writeHistory(path string, ops []chaosOp) {
	sorted := slices.Clone(ops)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Call < sorted[j].Call })
	var b strings.Builder
	for _, o := range sorted {
		b.WriteString(o.String())
		b.WriteByte('\n')
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
}

// dumpEvents writes every node's events to DIR/events-nK.json.
func (c *chaosCluster) dumpEvents() {
	for _, n := range c.names {
		code, body, err := c.api(n, "GET", "/v1/events?since=0", nil)
		if err != nil || code != 200 {
			continue
		}
		os.WriteFile(filepath.Join(c.dir, "events-"+n+".json"), body, 0o644)
	}
}

func chaosTable(w io.Writer, rounds []*chaosRound) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUND\tFAULTS\tVIOLATIONS\tHEALED IN\tAVAILABILITY\tDUAL ANSWERS\tLOAD")
	for _, rd := range rounds {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%d\t%s\n", rd.n, strings.Join(rd.faults, ", "), len(rd.violations), rd.healText(), rd.availText(), rd.dual, rd.load)
	}
	tw.Flush()
}

func chaosAvailability(w io.Writer, rounds []*chaosRound) {
	type agg struct{ n, ok int }
	by := map[string]*agg{}
	for _, rd := range rounds {
		for _, k := range rd.kinds {
			a := by[k]
			if a == nil {
				a = &agg{}
				by[k] = a
			}
			a.n += rd.probes
			a.ok += rd.answered
		}
	}
	var ks []string
	for k := range by {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	fmt.Fprintf(w, "availability of svc per fault kind (probes answered, fault to healed):")
	for _, k := range ks {
		a := by[k]
		fmt.Fprintf(w, " %s %.1f%%", k, 100*float64(a.ok)/float64(max(a.n, 1)))
	}
	fmt.Fprintln(w)
}
