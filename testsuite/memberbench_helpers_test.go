package testsuite

// Helpers of the membership benchmarks (memberbench_test.go): the demo
// cluster driven from a *testing.B, and status read straight from each
// node's admin socket (GET /v1/status, the document `status --json`
// prints) instead of spawning `corral shell` for every poll.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// memberPIDs reads every node's pid file (0 when missing).
func memberPIDs(dir string, n int) []int {
	pids := make([]int, n)
	for k := 1; k <= n; k++ {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("n%d", k), "corral.pid"))
		if err != nil {
			continue
		}
		pids[k-1], _ = strconv.Atoi(string(bytes.TrimSpace(b)))
	}
	return pids
}

// memberCluster is a demo cluster of n nodes in dir with an admin client
// per node.
type memberCluster struct {
	tb      testing.TB
	dir     string
	names   []string
	clients map[string]*http.Client
}

// startMemberDemo runs `corral demo --detach` on netBlock (with args, by
// default --web=false) and registers a cleanup that stops the cluster and
// kills, by pid, whatever any run of the cluster left alive.
func startMemberDemo(tb testing.TB, dir, netBlock string, n int, args ...string) *memberCluster {
	tb.Helper()
	c := &memberCluster{tb: tb, dir: dir, clients: map[string]*http.Client{}}
	for k := 1; k <= n; k++ {
		name := fmt.Sprintf("n%d", k)
		c.names = append(c.names, name)
		c.clients[name] = memberUnixClient(filepath.Join(dir, name, "corral.sock"))
	}
	seen := map[int]bool{}
	c.remember(seen)
	tb.Cleanup(func() {
		c.remember(seen)
		if r := corral(tb, dir, "demo", "stop", "--dir", dir); r.code != 0 {
			tb.Errorf("cleanup: demo stop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for p := range seen {
			if alive(p) {
				tb.Errorf("cleanup: pid %d survived demo stop; killing it", p)
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	if len(args) == 0 {
		args = []string{"--web=false"}
	}
	r := corral(tb, dir, append([]string{"demo", "--detach", "--nodes", strconv.Itoa(n), "--dir", dir, "--net", netBlock}, args...)...)
	c.remember(seen)
	if r.code != 0 {
		tb.Fatalf("demo --detach: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// Nodes a later `demo --detach` restarts are in the pid files the
	// cleanup reads; the ones they replaced were killed already.
	return c
}

// remember adds the pids of the pid files to seen.
func (c *memberCluster) remember(seen map[int]bool) {
	for _, p := range memberPIDs(c.dir, len(c.names)) {
		if p > 0 {
			seen[p] = true
		}
	}
}

// restart runs `corral demo --detach` again: it starts the nodes whose
// process is not alive.
func (c *memberCluster) restart() {
	c.tb.Helper()
	if r := corral(c.tb, c.dir, "demo", "--detach", "--dir", c.dir); r.code != 0 {
		c.tb.Fatalf("demo --detach again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func memberUnixClient(sock string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 1,
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Second}
}

// status is GET /v1/status of node, the document of `status --json`.
func (c *memberCluster) status(node string) (viewStatus, error) {
	resp, err := c.clients[node].Get("http://corral/v1/status")
	if err != nil {
		return viewStatus{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return viewStatus{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return viewStatus{}, fmt.Errorf("%s: GET /v1/status: %s: %s", node, resp.Status, body)
	}
	var st viewStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return viewStatus{}, fmt.Errorf("%s: status is not JSON: %v", node, err)
	}
	return st, nil
}

// oneView checks that every node in nodes has installed one view with
// exactly members, quorate (sameView over the admin sockets).
func (c *memberCluster) oneView(nodes, members []string) error {
	var first string
	for _, n := range nodes {
		st, err := c.status(n)
		if err != nil {
			return err
		}
		if !slices.Equal(st.Members, members) || !st.Quorate {
			return fmt.Errorf("%s: view %s members %v quorate=%v, want %v quorate", n, st.View, st.Members, st.Quorate, members)
		}
		if first == "" {
			first = st.View
		} else if st.View != first {
			return fmt.Errorf("%s is in view %s, another node in %s", n, st.View, first)
		}
	}
	return nil
}

// waitFor polls cond every period until it returns nil, and fails tb with
// the last error and the nodes' log tails after within.
func (c *memberCluster) waitFor(within, period time.Duration, what string, cond func() error) {
	c.tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("%s: not within %v: %v%s", what, within, err, c.logTails(20))
		}
		time.Sleep(period)
	}
}

// logTails returns the last lines of every node's corral.log.
func (c *memberCluster) logTails(lines int) string {
	var b bytes.Buffer
	for _, n := range c.names {
		data, err := os.ReadFile(filepath.Join(c.dir, n, "corral.log"))
		if err != nil {
			continue
		}
		ls := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
		ls = ls[max(0, len(ls)-lines):]
		fmt.Fprintf(&b, "\n--- %s corral.log (last %d lines):\n%s", n, len(ls), bytes.Join(ls, []byte("\n")))
	}
	return b.String()
}
