package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigReportsEverything: check-config prints every problem of a
// file in one run, each with file, line, key and the fix, including fence
// device parameters checked against the driver's meta().
func TestCheckConfigReportsEverything(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "corral.toml")
	src := `cluster = "test"
node = "n1"
key_file = "cluster.key"
port = "5420"

[[nodes]]
name = "n1"
id = 1
addresses = ["127.0.0.1"]

[timers]
drift = "x"

[[fence.devices]]
name = "power"
driver = "process"
params = { pidfile = "/x", wait = "soon" }

[[fence.devices]]
name = "pdu"
driver = "nosuch"
`
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if code := runCheckConfig([]string{file}, &out, &errs); code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out.String(), errs.String())
	}
	got := errs.String()
	for _, want := range []string{
		file + ":4: port: want an integer such as 5420",
		file + ":12: timers.drift: want a number such as 0.01",
		file + `:17: fence.devices[0].params.pidfile: driver process has no parameter "pidfile"`,
		file + `:17: fence.devices[0].params.wait: parameter wait: "soon" is not a duration`,
		file + ":17: fence.devices[0].params: driver process needs parameter dir",
		file + `:21: fence.devices[1].driver: no fence driver "nosuch"`,
		"corral help config", // the reference
	} {
		if !strings.Contains(got, want) {
			t.Errorf("check-config lacks %q:\n%s", want, got)
		}
	}
}
