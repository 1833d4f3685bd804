package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `cluster = "prod"
node = "n2"
key_file = "cluster.key"
data_dir = "data"

[[nodes]]
name = "n1"
id = 1
addresses = ["10.0.0.1", "10.0.1.1"]

[[nodes]]
name = "n2"
id = 2
addresses = ["10.0.0.2", "10.0.1.2"]
votes = 2

[[nodes]]
name = "n3"
id = 3
addresses = ["10.0.0.3", "10.0.1.3"]
`

func TestParseGood(t *testing.T) {
	c, err := Parse("/etc/corral/corral.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Self(); got == nil || got.ID != 2 || got.VotesOf() != 2 {
		t.Fatalf("Self() = %+v, want n2 with 2 votes", got)
	}
	if c.Nodes[0].VotesOf() != 1 {
		t.Errorf("default votes = %d, want 1", c.Nodes[0].VotesOf())
	}
	if c.Timers.Heartbeat.D() != 100*time.Millisecond || c.Timers.SuspectMin.D() != 400*time.Millisecond {
		t.Errorf("timer defaults not applied: %+v", c.Timers)
	}
	if c.KeyFile != "/etc/corral/cluster.key" || c.DataDir != "/etc/corral/data" {
		t.Errorf("relative paths not resolved against the file: key %q data %q", c.KeyFile, c.DataDir)
	}
	if c.AdminSocket != "/run/corral/corral.sock" {
		t.Errorf("admin socket default = %q", c.AdminSocket)
	}
	if c.DNS.Domain != "prod.corral." {
		t.Errorf("dns domain = %q, want prod.corral.", c.DNS.Domain)
	}
	if len(c.DNS.Listen) != 1 || c.DNS.Listen[0] != "10.0.0.2:53" {
		t.Errorf("dns listen = %q, want [10.0.0.2:53]", c.DNS.Listen)
	}
	if c.DLM.DeadlockTimeout.D() != 10*time.Second {
		t.Errorf("dlm deadlock_timeout default = %s, want 10s", c.DLM.DeadlockTimeout)
	}
	if c.Port != 5420 || c.Quorum.Policy != PolicyMajority || c.Fence.Watchdog != "off" {
		t.Errorf("defaults: port %d policy %q watchdog %q", c.Port, c.Quorum.Policy, c.Fence.Watchdog)
	}
}

func TestDNSListenEmptyDisables(t *testing.T) {
	c, err := Parse("c.toml", []byte(good+"\n[dns]\nlisten = []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.DNS.Listen) != 0 {
		t.Fatalf("explicit empty listen should stay empty, got %q", c.DNS.Listen)
	}
}

// TestProblems checks that each mistake is reported with the file, the line
// and the key, and says what to do.
func TestProblems(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		line int
		key  string
		want string
	}{
		{"unknown top-level key", func(s string) string { return strings.Replace(s, `data_dir = "data"`, `data_dri = "data"`, 1) },
			4, "data_dri", "unknown key"},
		{"unknown key in array table", func(s string) string { return strings.Replace(s, "votes = 2", "vote = 2", 1) },
			15, "nodes[1].vote", "unknown key"},
		{"unknown key in table", func(s string) string { return s + "\n[timers]\nheartbeet = \"1s\"\n" },
			23, "timers.heartbeet", "unknown key"},
		{"duplicate id", func(s string) string { return strings.Replace(s, "id = 3", "id = 2", 1) },
			19, "nodes[2].id", "duplicate node id 2"},
		{"duplicate name", func(s string) string { return strings.Replace(s, `name = "n3"`, `name = "n1"`, 1) },
			18, "nodes[2].name", "duplicate node name"},
		{"duplicate address", func(s string) string { return strings.Replace(s, `"10.0.1.3"`, `"10.0.1.1"`, 1) },
			20, "nodes[2].addresses", "used twice"},
		{"bad address", func(s string) string { return strings.Replace(s, `"10.0.1.3"`, `"10.0.1.3:99"`, 1) },
			20, "nodes[2].addresses", "not an IP address"},
		{"node not listed", func(s string) string { return strings.Replace(s, `node = "n2"`, `node = "n9"`, 1) },
			2, "node", "not in the node list"},
		{"bad duration", func(s string) string { return s + "\n[timers]\nheartbeat = \"10 parsecs\"\n" },
			23, "timers.heartbeat", "bad duration"},
		{"wrong type", func(s string) string { return strings.Replace(s, "id = 3", `id = "three"`, 1) },
			19, "nodes[2].id", "want an integer such as 1"},
		{"suspect vs heartbeat", func(s string) string { return s + "\n[timers]\nheartbeat = \"200ms\"\n" },
			22, "timers.suspect_min", "must exceed 3 heartbeat intervals"},
		{"lease vs heartbeat", func(s string) string { return s + "\n[timers]\nlease = \"150ms\"\n" },
			23, "timers.lease", "must exceed 2 heartbeat intervals"},
		{"ceiling below floor", func(s string) string { return s + "\n[timers]\nsuspect_max = \"300ms\"\n" },
			23, "timers.suspect_max", "ceiling"},
		{"policy", func(s string) string { return s + "\n[quorum]\npolicy = \"mostly\"\n" },
			23, "quorum.policy", "not a policy"},
		{"two_node with three nodes", func(s string) string { return s + "\n[quorum]\ntwo_node = true\n" },
			23, "quorum.two_node", "exactly 2 nodes"},
		{"level with unknown device", func(s string) string {
			return s + "\n[[fence.levels]]\nnode = \"n1\"\nlevel = 1\ndevices = [\"pdu\"]\n"
		}, 25, "fence.levels[0].devices", "not a [[fence.devices]] name"},
		{"lua pool size", func(s string) string { return s + "\n[lua]\npool_size = 0\n" },
			23, "lua.pool_size", "use 1..1024"},
		{"lua handler timeout", func(s string) string { return s + "\n[lua]\nhandler_timeout = \"1ms\"\n" },
			23, "lua.handler_timeout", "use 10ms..10m"},
		{"lua handler queue", func(s string) string { return s + "\n[lua]\nhandler_queue = -1\n" },
			23, "lua.handler_queue", "use 1..1048576"},
		{"dlm deadlock timeout", func(s string) string { return s + "\n[dlm]\ndeadlock_timeout = \"10ms\"\n" },
			23, "dlm.deadlock_timeout", "use 100ms..1h"},
		{"dlm deadlock timeout typo", func(s string) string { return s + "\n[dlm]\ndeadlock_timeout = \"10h\"\n" },
			23, "dlm.deadlock_timeout", "use 100ms..1h"},
		{"syntax error", func(s string) string { return s + "\n[timers\n" },
			23, "", "expected"},
		{"missing cluster", func(s string) string { return strings.Replace(s, `cluster = "prod"`, "", 1) },
			0, "cluster", "missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("site.toml", []byte(tc.edit(good)))
			if err == nil {
				t.Fatal("accepted a bad config")
			}
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is not Problems: %v", err)
			}
			for _, p := range ps {
				if p.File == "site.toml" && p.Line == tc.line && p.Key == tc.key && strings.Contains(p.Msg, tc.want) {
					if !strings.HasPrefix(p.Error(), "site.toml") {
						t.Errorf("message does not start with the file: %q", p.Error())
					}
					return
				}
			}
			t.Fatalf("want a problem at site.toml:%d key %q containing %q; got:\n%v", tc.line, tc.key, tc.want, err)
		})
	}
}

func TestSeveralProblemsReportedTogether(t *testing.T) {
	s := strings.Replace(good, "id = 3", "id = 1", 1)
	s += "\n[timers]\nheartbeat = \"1s\"\n"
	_, err := Parse("x.toml", []byte(s))
	var ps Problems
	if !errors.As(err, &ps) || len(ps) < 3 {
		t.Fatalf("want at least 3 problems (duplicate id, suspect_min, lease), got %v", err)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "corral.toml")
	if err := os.WriteFile(cfg, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadKey(); err == nil || !strings.Contains(err.Error(), "corral keygen") {
		t.Fatalf("missing key: want advice to run corral keygen, got %v", err)
	}
	if err := os.WriteFile(c.KeyFile, []byte("c2hvcnQ=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LoadKey(); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Fatalf("short key: got %v", err)
	}
	if err := os.WriteFile(c.KeyFile, []byte(strings.Repeat("QUFB", 11)[:43]+"=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := c.LoadKey()
	if err != nil || len(key) != KeySize {
		t.Fatalf("good key: %d bytes, %v", len(key), err)
	}
}

// TestExamples loads every configuration shipped in examples/, the way a
// user would check one before copying it.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no example configs found")
	}
	// No key ships with the examples (the user makes one with corral
	// keygen): load each from a copy of its directory with a key.
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		path := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if _, err := c.LoadKey(); err == nil || !strings.Contains(err.Error(), "corral keygen") {
			t.Errorf("%s without its key: %v, want the advice to run corral keygen", f, err)
		}
		if err := os.WriteFile(c.KeyFile, []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LoadKey(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if err := c.CheckSecretModes(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestKeyLines(t *testing.T) {
	src := `a = 1
[t]
b = 2
[[arr]]
c = 3
[[arr]]
c = 4
[arr.sub]
d = 5
[[fence.levels]]
node = "x"
`
	got := keyLines(src)
	want := map[string]int{"a": 1, "t": 2, "t.b": 3, "arr[0]": 4, "arr[0].c": 5, "arr[1]": 6, "arr[1].c": 7,
		"arr[1].sub": 8, "arr[1].sub.d": 9, "fence.levels[0]": 10, "fence.levels[0].node": 11}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("line of %q = %d, want %d", k, got[k], v)
		}
	}
}
