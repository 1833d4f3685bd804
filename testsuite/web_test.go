package testsuite

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// webClient asks whoami services; short timeouts, no keep-alive (a
// failover must be seen on a new connection).
var webClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// curl GETs http://ADDR:8080/ and returns the body without its newline.
func curl(addr string) (string, error) {
	resp, err := webClient.Get("http://" + net.JoinHostPort(addr, "8080") + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("http://%s:8080/: %s", addr, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// webGroup reads group name from a node's shell.
func webGroup(t *testing.T, dir, node, name string) (groupJSON, error) {
	t.Helper()
	var gs []groupJSON
	if err := shellJSON(t, dir, node, "groups", &gs); err != nil {
		return groupJSON{}, err
	}
	for _, g := range gs {
		if g.Name == name {
			return g, nil
		}
	}
	return groupJSON{}, fmt.Errorf("no group %s on %s: %+v", name, node, gs)
}

// webOnline waits until group name is online (on owner, unless "") as
// from sees it, and returns it.
func webOnline(t *testing.T, dir, from, name, owner string, within time.Duration) groupJSON {
	t.Helper()
	var g groupJSON
	eventually(t, within, fmt.Sprintf("%s online on %q seen from %s", name, owner, from), func() error {
		var err error
		g, err = webGroup(t, dir, from, name)
		if err == nil && (g.State != "online" || (owner != "" && g.Owner != owner)) {
			err = fmt.Errorf("%s is %s on %q (%s)", name, g.State, g.Owner, g.Reason)
		}
		return err
	})
	return g
}

// answers waits until curl of addr answers want.
func answers(t *testing.T, addr, want string, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("curl http://%s:8080/ answers %s", addr, want), func() error {
		got, err := curl(addr)
		if err == nil && got != want {
			err = fmt.Errorf("answered %q", got)
		}
		return err
	})
}

// dnsGives waits until server's DNS answers web.demo.corral. A with addr.
func dnsGives(t *testing.T, server, addr string, within time.Duration) {
	t.Helper()
	eventually(t, within, fmt.Sprintf("DNS %s: web.demo.corral. A %s", server, addr), func() error {
		r, err := askDNS(server, "web.demo.corral.", "A", false)
		if err == nil && (r.rcode != "NOERROR" || !slices.Equal(r.answer, []string{addr})) {
			err = fmt.Errorf("%+v", r)
		}
		return err
	})
}

// whoamiPIDs lists the live `corral whoami` processes serving name.
// whoamiPIDs lists the live `corral whoami` processes of node name of the
// cluster on block (its --listen address), not those of other clusters
// running beside the test.
func whoamiPIDs(block, name string) []int {
	listen := "--listen=" + nodeAddr(block, name) + ":"
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		ours := slices.ContainsFunc(args, func(a string) bool {
			return strings.HasPrefix(a, nodeAddr(block, name)+":") || strings.HasPrefix(a, listen)
		})
		if slices.Contains(args, "whoami") && slices.Contains(args, name) && slices.Contains(args, "--name") && ours && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

func nodeAddr(net string, node string) string { return net + ".0." + strings.TrimPrefix(node, "n") }

// TestDemoWebFailover: the demo's group web on real processes. curl of the
// owner's address answers the owner's name and the DNS gives that
// address; killing whoami (a monitor failure) restarts it in place; move
// --for sends it to another node and back when it expires; kill -9 of the
// owner brings it up on another node, curl and DNS follow, and no whoami
// of the killed node is left; demo stop leaves none at all.
func TestDemoWebFailover(t *testing.T) {
	const block = "127.95"
	dir := t.TempDir()
	r := startDemoArgs(t, dir, block, 3, "--web=true")
	if !strings.Contains(r.stdout, "curl http://") || !strings.Contains(r.stdout, "web.demo.corral.") {
		t.Errorf("demo's summary does not show curl and dig for web:\n%s", r.stdout)
	}
	g := webOnline(t, dir, "n1", "web", "", 30*time.Second)
	owner := g.Owner
	if g.Address != nodeAddr(block, owner) {
		t.Fatalf("web's address %q, want the owner %s's first address", g.Address, owner)
	}
	answers(t, nodeAddr(block, owner), owner, 10*time.Second)
	for _, n := range []string{"n1", "n2", "n3"} {
		dnsGives(t, nodeAddr(block, n)+":8053", nodeAddr(block, owner), 10*time.Second)
	}

	// a monitor failure: whoami killed behind the cluster's back comes
	// back on the same node
	pids := whoamiPIDs(block, owner)
	if len(pids) != 1 {
		t.Fatalf("whoami processes of %s: %v, want one", owner, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "whoami restarted in place", func() error {
		if p := whoamiPIDs(block, owner); len(p) != 1 || p[0] == pids[0] {
			return fmt.Errorf("whoami of %s: %v (killed %d)", owner, p, pids[0])
		}
		return nil
	})
	answers(t, nodeAddr(block, owner), owner, 10*time.Second)
	if g := webOnline(t, dir, "n2", "web", "", 10*time.Second); g.Owner != owner {
		t.Fatalf("web moved to %s after a monitor failure, want a restart on %s", g.Owner, owner)
	}
	var evs []map[string]any
	if err := shellJSON(t, dir, owner, "events", &evs); err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, e := range evs {
		failed = failed || (e["kind"] == "resource_failed" && e["resource"] == "whoami")
	}
	if !failed {
		t.Errorf("no resource_failed event for whoami on %s", owner)
	}

	// move --for: to another node, and back when it expires
	other := map[string]string{"n1": "n2", "n2": "n3", "n3": "n1"}[owner]
	var out map[string]any
	if err := shellJSON(t, dir, "n1", "move web "+other+" --for 5s", &out); err != nil {
		t.Fatal(err)
	}
	webOnline(t, dir, "n1", "web", other, 15*time.Second)
	answers(t, nodeAddr(block, other), other, 10*time.Second)
	if p := whoamiPIDs(block, owner); len(p) != 0 {
		t.Errorf("whoami of %s still runs after the move: %v", owner, p)
	}
	webOnline(t, dir, "n1", "web", owner, 20*time.Second)
	answers(t, nodeAddr(block, owner), owner, 10*time.Second)

	// kill -9 of the owner
	victim := owner
	k, _ := strconv.Atoi(strings.TrimPrefix(victim, "n"))
	pid := demoPIDs(t, dir, 3)[k-1]
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	survivor := other
	var newOwner, got string
	eventually(t, 15*time.Second, "web answering on another node after kill -9 of "+victim, func() error {
		for _, n := range []string{"n1", "n2", "n3"} {
			if n == victim {
				continue
			}
			if s, err := curl(nodeAddr(block, n)); err == nil {
				newOwner, got = n, s
				return nil
			}
		}
		return fmt.Errorf("no survivor answers")
	})
	t.Logf("kill -9 of %s -> web answering curl on %s: %v", victim, newOwner, time.Since(start).Round(time.Millisecond))
	if got != newOwner {
		t.Fatalf("curl of %s answered %q", newOwner, got)
	}
	webOnline(t, dir, survivor, "web", newOwner, 10*time.Second)
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != victim {
			dnsGives(t, nodeAddr(block, n)+":8053", nodeAddr(block, newOwner), 10*time.Second)
		}
	}
	eventually(t, 5*time.Second, "no whoami of the killed node", func() error {
		if p := whoamiPIDs(block, victim); len(p) != 0 {
			return fmt.Errorf("whoami of %s survives its node: %v", victim, p)
		}
		if _, err := curl(nodeAddr(block, victim)); err == nil {
			return fmt.Errorf("%s:8080 still answers", nodeAddr(block, victim))
		}
		return nil
	})

	// demo stop leaves no whoami
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 5*time.Second, "no whoami after demo stop", func() error {
		for _, n := range []string{"n1", "n2", "n3"} {
			if p := whoamiPIDs(block, n); len(p) != 0 {
				return fmt.Errorf("whoami of %s survives demo stop: %v", n, p)
			}
		}
		return nil
	})
}

// TestLuaPolicyHandlerFailingStart: scripts from [lua] paths on real
// processes: a policy that always picks n3 places a group there against
// its preferred owner; an event handler sees its group_online and
// resource_started events; a process resource whose start fails on its
// preferred owner (port 8080 taken there) fails over to the next one,
// whose whoami answers.
func TestLuaPolicyHandlerFailingStart(t *testing.T) {
	const block = "127.96"
	dir := t.TempDir()
	scripts := filepath.Join(dir, "scripts")
	for _, k := range []string{"policy", "handler"} {
		if err := os.MkdirAll(filepath.Join(scripts, k), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"policy/pick_n3.lua": `local M = {}
function M.meta() return { name = "pick_n3", description = "n3 whenever it can" } end
function M.choose_owner(group, candidates, cluster)
  for _, c in ipairs(candidates) do if c == "n3" then return c end end
  return nil
end
function M.on_failure(resource, failures) return "restart" end
return M
`,
		"handler/crmrec.lua": fmt.Sprintf(`local fs = require("fs")
local M = {}
function M.meta()
  return { name = "crmrec", description = "records resource manager events",
    events = { "group_online", "group_offline", "resource_started", "resource_failed" } }
end
function M.handle(e)
  local file = %q .. "/crm-" .. e.node .. ".txt"
  local old = fs.read(file) or ""
  return fs.write(file, old .. e.kind .. " " .. (e.group or "-") .. " " .. (e.resource or "-") .. " " .. (e.owner or e.on or "-") .. "\n")
end
return M
`, dir),
	}
	for f, src := range files {
		if err := os.WriteFile(filepath.Join(scripts, f), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	startDemo(t, dir, block, 3)
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	for k := 1; k <= 3; k++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("n%d", k), "corral.toml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(f, "\n[lua]\npaths = [%q]\ngrant = [%q]\n", scripts, scripts)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach again: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// n1's port 8080 is taken: whoami cannot start there
	l, err := net.Listen("tcp", block+".0.1:8080")
	if err != nil {
		t.Skipf("cannot take %s.0.1:8080: %v", block, err)
	}
	defer l.Close()
	bin, err := filepath.Abs(corralBin(t))
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	for _, kv := range [][2]string{
		{"/resources/pinned", `{"agent": "dummy", "group": "site", "monitor": "1s"}`},
		{"/groups/site", `{"resources": ["pinned"], "policy": "pick_n3", "preferred": ["n1"]}`},
		{"/resources/whoami", fmt.Sprintf(`{"agent": "process", "group": "web", "monitor": "1s", "params": {"command": "%s whoami --listen ${address}:8080 --name ${node}"}}`, bin)},
		{"/groups/web", `{"resources": ["whoami"], "preferred": ["n1", "n2"], "service": {"name": "http", "proto": "tcp", "port": 8080}}`},
	} {
		eventually(t, 20*time.Second, "cdb set "+kv[0], func() error {
			return shellJSON(t, dir, "n1", fmt.Sprintf("cdb set %s '%s'", kv[0], kv[1]), &out)
		})
	}
	webOnline(t, dir, "n2", "site", "n3", 20*time.Second)
	var ex struct{ Text string }
	if err := shellJSON(t, dir, "n1", "explain site", &ex); err != nil || !strings.Contains(ex.Text, "n3") {
		t.Errorf("explain site: %v\n%s", err, ex.Text)
	}
	g := webOnline(t, dir, "n3", "web", "n2", 30*time.Second)
	t.Logf("web after a failing start on n1: %+v", g)
	answers(t, block+".0.2", "n2", 10*time.Second)
	var evs []map[string]any
	if err := shellJSON(t, dir, "n1", "events", &evs); err != nil {
		t.Fatal(err)
	}
	failed := false
	for _, e := range evs {
		failed = failed || (e["kind"] == "resource_failed" && e["resource"] == "whoami" && e["on"] == "n1")
	}
	if !failed {
		t.Errorf("no resource_failed event for whoami on n1 in n1's events")
	}
	eventually(t, 10*time.Second, "the handler saw site's events", func() error {
		b, err := os.ReadFile(filepath.Join(dir, "crm-n1.txt"))
		if err != nil {
			return err
		}
		s := string(b)
		for _, want := range []string{"resource_started site pinned", "group_online site - n3", "resource_failed web whoami n1", "group_online web - n2"} {
			if !strings.Contains(s, want) {
				return fmt.Errorf("handler file lacks %q:\n%s", want, s)
			}
		}
		return nil
	})
}
