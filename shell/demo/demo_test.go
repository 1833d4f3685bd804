package demo

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
)

func TestDemoConfigLoads(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nd := demoNodes(dir, "127.23", 3)[1]
	if err := os.MkdirAll(nd.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nd.config, []byte(demoConfig("127.23", 3, 2)), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(nd.config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadKey(); err != nil {
		t.Fatal(err)
	}
	self := c.Self()
	if c.Cluster != "demo" || c.Node != "n2" || len(c.Nodes) != 3 || self.ID != 2 ||
		strings.Join(self.Addresses, " ") != "127.23.0.2 127.23.1.2" || c.Port != 5420 ||
		c.AdminSocket != nd.socket || c.PIDFile != nd.pidFile || c.DataDir != filepath.Join(nd.dir, "data") ||
		strings.Join(c.DNS.Listen, " ") != "127.23.0.2:8053" || !c.Debug.FaultInjection ||
		c.NBD.Listen != "127.23.0.2:10809" || c.NBD.Socket != filepath.Join(nd.dir, "nbd.sock") {
		t.Fatalf("demo config: %+v", c)
	}
}

// TestDemoLinksAboveSixteen: a demo above demoTwoLinks nodes gives each
// node one address (one link), every node's entry included.
func TestDemoLinksAboveSixteen(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{demoTwoLinks, demoTwoLinks + 1, demoMaxNodes} {
		nd := demoNodes(dir, "127.23", n)[1]
		if err := os.MkdirAll(nd.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(nd.config, []byte(demoConfig("127.23", n, 2)), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := config.Load(nd.config)
		if err != nil {
			t.Fatalf("%d nodes: %v", n, err)
		}
		want := 2
		if n > demoTwoLinks {
			want = 1
		}
		for _, node := range c.Nodes {
			if len(node.Addresses) != want || node.Addresses[0] != fmt.Sprintf("127.23.0.%d", node.ID) {
				t.Fatalf("%d nodes: %s has addresses %v, want %d starting with 127.23.0.%d", n, node.Name, node.Addresses, want, node.ID)
			}
		}
		if len(nd.addrs) != want {
			t.Fatalf("%d nodes: demoNodes gives %v", n, nd.addrs)
		}
	}
}

func TestParseNet(t *testing.T) {
	for _, ok := range []string{"127.0", "127.23", "127.255"} {
		if _, err := parseNet(ok); err != nil {
			t.Errorf("parseNet(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"127", "127.0.0", "10.0", "127.256", "127.x", "127.01", ""} {
		if _, err := parseNet(bad); err == nil {
			t.Errorf("parseNet(%q): no error", bad)
		}
	}
}

func TestProcessIsAgent(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc")
	}
	// A process whose command line looks like an agent's.
	cfg := filepath.Join(t.TempDir(), "corral.toml")
	cmd := exec.Command("/bin/sh", "-c", "sleep 30; :", "agent", "--config", cfg)
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	// Right after exec the kernel may not have set up the new command line
	// yet (it reads as empty): wait until it has.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid)); len(b) > 0 {
			break
		}
	}
	if !processIsAgent(cmd.Process.Pid, cfg) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
		t.Fatalf("the agent-like process was not recognised: %q", b)
	}
	if processIsAgent(cmd.Process.Pid, cfg+".other") {
		t.Fatal("a process running another config was taken for this node's agent")
	}
	if processIsAgent(os.Getpid(), cfg) {
		t.Fatal("the test process was taken for an agent")
	}
}
