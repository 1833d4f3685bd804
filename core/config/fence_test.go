package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const twoNode = `cluster = "pair"
node = "n1"
key_file = "cluster.key"

[[nodes]]
name = "n1"
id = 1
addresses = ["10.0.0.1"]
fence_delay = "5s"

[[nodes]]
name = "n2"
id = 2
addresses = ["10.0.0.2"]

[quorum]
two_node = true
`

const ipmi = `
[[fence.devices]]
name = "ipmi-n1"
driver = "fence_agent"
targets = ["n1"]
params = { agent = "fence_ipmilan", ip = "10.0.9.1" }

[[fence.devices]]
name = "ipmi-n2"
driver = "fence_agent"
targets = ["n2"]
params = { agent = "fence_ipmilan", ip = "10.0.9.2" }
`

// problemAt fails unless err holds a problem at FILE:LINE: KEY: ...want...
func problemAt(t *testing.T, err error, line int, key, want string) Problem {
	t.Helper()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want problems, got %v", err)
	}
	for _, p := range ps {
		if p.Line == line && p.Key == key && strings.Contains(p.Msg, want) {
			return p
		}
	}
	t.Fatalf("want a problem at line %d key %q containing %q; got:\n%v", line, key, want, err)
	return Problem{}
}

func TestTwoNodeRejectsWatchdogOnly(t *testing.T) {
	_, err := Parse("pair.toml", []byte(twoNode+"\n[fence]\nwatchdog = \"/dev/watchdog\"\n"))
	p := problemAt(t, err, 17, "quorum.two_node", `node "n1" has only watchdog mode`)
	if s := p.Error(); !strings.HasPrefix(s, "pair.toml:17: quorum.two_node: ") || !strings.Contains(s, "add a [[fence.devices]]") {
		t.Errorf("message %q: want FILE:LINE: KEY: what; what to do", s)
	}
	problemAt(t, err, 17, "quorum.two_node", `node "n2" has only watchdog mode`)
}

func TestTwoNodeNeedsADeviceForEachNode(t *testing.T) {
	oneOnly := strings.SplitAfter(ipmi, "fence_ipmilan\", ip = \"10.0.9.1\" }\n")[0]
	_, err := Parse("pair.toml", []byte(twoNode+oneOnly))
	problemAt(t, err, 17, "quorum.two_node", `node "n2" has no fence device`)
	c, err := Parse("pair.toml", []byte(twoNode+ipmi))
	if err != nil {
		t.Fatal(err)
	}
	if c.Nodes[0].FenceDelay.D() != 5*time.Second || c.Nodes[1].FenceDelay != 0 {
		t.Errorf("fence_delay: %v %v", c.Nodes[0].FenceDelay, c.Nodes[1].FenceDelay)
	}
	if ls := c.FenceLevelsFor("n2"); len(ls) != 1 || ls[0][0].Name != "ipmi-n2" || ls[0][0].Params["ip"] != "10.0.9.2" {
		t.Errorf("levels of n2: %+v", ls)
	}
}

func TestTwoNodeSameDelayIsACoinToss(t *testing.T) {
	cfg := strings.Replace(twoNode, "addresses = [\"10.0.0.2\"]\n", "addresses = [\"10.0.0.2\"]\nfence_delay = \"5s\"\n", 1)
	_, err := Parse("pair.toml", []byte(cfg+ipmi))
	problemAt(t, err, 15, "nodes[1].fence_delay", "coin toss")
	_, err = Parse("pair.toml", []byte(strings.Replace(twoNode, `"5s"`, `"-1s"`, 1)+ipmi))
	problemAt(t, err, 9, "nodes[0].fence_delay", "use a duration from 0")
}

func TestWatchdogTimeoutAgainstLease(t *testing.T) {
	_, err := Parse("site.toml", []byte(good+"\n[fence]\nwatchdog = \"/dev/watchdog\"\nwatchdog_timeout = \"1s\"\n"))
	problemAt(t, err, 24, "fence.watchdog_timeout", "too short")
	if _, err := Parse("site.toml", []byte(good+"\n[fence]\nwatchdog = \"/dev/watchdog\"\n")); err != nil {
		t.Errorf("the default watchdog_timeout with the default lease: %v", err)
	}
	_, err = Parse("site.toml", []byte(good+"\n[fence]\nwatchdog = \"softdog\"\n"))
	problemAt(t, err, 23, "fence.watchdog", "path of a watchdog device")
}

func TestFenceLevels(t *testing.T) {
	cfg := good + `
[[fence.devices]]
name = "pdu"
driver = "process"

[[fence.devices]]
name = "ipmi-n1"
driver = "fence_agent"
targets = ["n1"]

[[fence.levels]]
node = "n1"
level = 2
devices = ["pdu"]

[[fence.levels]]
node = "n1"
level = 1
devices = ["ipmi-n1"]
`
	c, err := Parse("site.toml", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	ls := c.FenceLevelsFor("n1")
	if len(ls) != 2 || ls[0][0].Name != "ipmi-n1" || ls[1][0].Name != "pdu" {
		t.Errorf("n1 levels by level number: %+v", ls)
	}
	if ls := c.FenceLevelsFor("n2"); len(ls) != 1 || ls[0][0].Name != "pdu" {
		t.Errorf("n2 (no levels): every device that can fence it: %+v", ls)
	}
	bad := cfg + "\n[[fence.levels]]\nnode = \"n2\"\nlevel = 1\ndevices = [\"ipmi-n1\"]\n"
	_, err = Parse("site.toml", []byte(bad))
	problemAt(t, err, 44, "fence.levels[2].devices", `device "ipmi-n1" cannot fence "n2"`)
}

// TestFenceAgentParams: a fence_agent device's params become key=value
// lines on the agent's stdin; one that would add or override a line is a
// config error (issue 22: plug = "vm2\naction=status" made off a no-op).
func TestFenceAgentParams(t *testing.T) {
	dev := func(params string) string {
		return good + "\n[[fence.devices]]\nname = \"ipmi\"\ndriver = \"fence_agent\"\nparams = " + params + "\n"
	}
	if _, err := Parse("site.toml", []byte(dev(`{ agent = "fence_ipmilan", ip = "10.0.0.9", plug = "vm2", passwd = "a=b" }`))); err != nil {
		t.Fatalf("good params: %v", err)
	}
	for _, tc := range []struct{ params, want string }{
		{`{ agent = "fence_virsh", plug = "vm2\naction=status" }`, "line break"},
		{`{ agent = "fence_virsh", ip = "10.0.0.9\r" }`, "line break"},
		{`{ agent = "fence_virsh", ip = "10.0.0.9\u0000" }`, "NUL"},
		{`{ agent = "fence_virsh", action = "status" }`, `"action" is reserved`},
		{`{ agent = "fence_virsh", Port = "vm3" }`, `"Port" is reserved`},
		{`{ agent = "fence_virsh", nodename = "n1" }`, "reserved"},
		{`{ agent = "fence_virsh", "a=b" = "c" }`, "holds '='"},
		{`{ agent = "fence_virsh", "ip\naction" = "status" }`, "holds '='"},
	} {
		_, err := Parse("site.toml", []byte(dev(tc.params)))
		problemAt(t, err, 25, "fence.devices[0].params", tc.want)
	}
	// other drivers' params are theirs to check
	if _, err := Parse("site.toml", []byte(good+"\n[[fence.devices]]\nname = \"p\"\ndriver = \"process\"\nparams = { action = \"x\" }\n")); err != nil {
		t.Fatalf("process driver: %v", err)
	}
}
