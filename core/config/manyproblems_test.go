package config

import (
	"errors"
	"strings"
	"testing"
)

// TestEveryProblemInOneRun: type mistakes no longer stop the check at the
// first one: every wrong value, unknown key and rule broken is reported at
// once, each with its file, line, key and the fix.
func TestEveryProblemInOneRun(t *testing.T) {
	src := `cluster = "test"
node = "n1"
key_file = "cluster.key"
port = "5420"

[[nodes]]
name = "n1"
id = "one"
addresses = ["127.0.0.1"]

[[nodes]]
name = "n2"
id = 2
addresses = ["127.0.0.2"]

[timers]
lease = 5
heartbeat = "bogus"
drift = "x"

[quorum]
two_node = "yes"
polcy = "majority"

[lua]
pool_size = 0
`
	_, err := Parse("site.toml", []byte(src))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("want Problems, got %v", err)
	}
	want := []string{
		"site.toml:4: port: want an integer such as 5420",
		"site.toml:8: nodes[0].id: want an integer such as 1",
		"site.toml:17: timers.lease: ",
		"site.toml:18: timers.heartbeat: bad duration",
		"site.toml:19: timers.drift: want a number such as 0.01",
		"site.toml:22: quorum.two_node: want true or false",
		"site.toml:23: quorum.polcy: unknown key",
		"site.toml:26: lua.pool_size: 0: use 1..1024",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("no problem %q in:\n%s", w, got)
		}
	}
	// Each key once: a value that did not decode is not also reported by
	// the rules that then saw its default.
	seen := map[string]int{}
	for _, p := range ps {
		seen[p.Key]++
		if seen[p.Key] > 1 {
			t.Errorf("key %s reported twice:\n%s", p.Key, got)
		}
	}
	// In file order.
	for i := 1; i < len(ps); i++ {
		if ps[i].Line != 0 && ps[i].Line < ps[i-1].Line {
			t.Errorf("problems out of line order:\n%s", got)
			break
		}
	}
}
