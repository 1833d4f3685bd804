package testsuite

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/config"
)

func TestVersion(t *testing.T) {
	r := corral(t, t.TempDir(), "version")
	if r.code != 0 || !regexp.MustCompile(`^corral \S+ \(go1\.\d+`).MatchString(r.stdout) {
		t.Fatalf("corral version: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	a, b := corral(t, dir, "keygen"), corral(t, dir, "keygen")
	for _, r := range []result{a, b} {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.stdout))
		if r.code != 0 || err != nil || len(key) != 32 {
			t.Fatalf("keygen: exit %d, %d bytes, err %v, stderr %q", r.code, len(key), err, r.stderr)
		}
	}
	if a.stdout == b.stdout {
		t.Fatal("two keygen runs printed the same key")
	}
	// keygen FILE writes the key readable by its owner only, whatever the
	// umask, and never replaces a file.
	path := filepath.Join(dir, "cluster.key")
	if r := corral(t, dir, "keygen", path); r.code != 0 {
		t.Fatalf("keygen FILE: exit %d: %s", r.code, r.stderr)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if key, err := config.ParseKey(data); err != nil || len(key) != 32 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("keygen FILE: mode %04o, key %v", fi.Mode().Perm(), err)
	}
	if r := corral(t, dir, "keygen", path); r.code == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("keygen over an existing file: exit %d: %s", r.code, r.stderr)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Fatal("keygen replaced an existing key")
	}
}

func TestUnknownCommand(t *testing.T) {
	r := corral(t, t.TempDir(), "frobnicate")
	if r.code == 0 || !strings.Contains(r.stderr, "corral help") {
		t.Fatalf("unknown command: exit %d, stderr %q: want non-zero and advice", r.code, r.stderr)
	}
}

// TestCheckConfigExamples is what a user does first: check the shipped
// examples, then break one and read what corral says.
func TestCheckConfigExamples(t *testing.T) {
	files, _ := filepath.Glob("../examples/*/*.toml")
	if len(files) == 0 {
		t.Fatal("no example configs")
	}
	// No key ships with the examples: make one as their comments say, in
	// a copy of each example's directory.
	for _, f := range files {
		dir := t.TempDir()
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		if r := corral(t, dir, "check-config", path); r.code == 0 || !strings.Contains(r.stderr, "corral keygen") {
			t.Errorf("check-config %s without its key: exit %d, want the advice to run corral keygen\n%s", f, r.code, r.stderr)
		}
		if r := corral(t, dir, "keygen", filepath.Join(dir, "cluster.key")); r.code != 0 {
			t.Fatalf("keygen: %s", r.stderr)
		}
		if r := corral(t, dir, "check-config", path); r.code != 0 || !strings.Contains(r.stdout, "ok") {
			t.Errorf("check-config %s: exit %d\n%s%s", f, r.code, r.stdout, r.stderr)
		}
	}
	if keys, _ := filepath.Glob("../examples/*/cluster.key"); len(keys) > 0 {
		t.Logf("local keys (git-ignored, never committed): %v", keys)
	}
}

// TestCheckConfigSecretModes (issue 22): a key or token file its group or
// others can read is named by check-config with the fix, and the agent
// refuses to start with it.
func TestCheckConfigSecretModes(t *testing.T) {
	src, err := os.ReadFile("../examples/three-node/n1.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "n1.toml")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "cluster.key")
	if r := corral(t, dir, "keygen", key); r.code != 0 {
		t.Fatalf("keygen: %s", r.stderr)
	}
	if r := corral(t, dir, "check-config", path); r.code != 0 {
		t.Fatalf("check-config with a 0600 key: exit %d\n%s", r.code, r.stderr)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	r := corral(t, dir, "check-config", path)
	if r.code == 0 || !strings.Contains(r.stderr, "chmod 600 "+key) || !strings.Contains(r.stderr, "key_file") {
		t.Errorf("check-config with a 0644 key: exit %d, want key_file and 'chmod 600 %s'\n%s%s", r.code, key, r.stdout, r.stderr)
	}
	r = corral(t, dir, "agent", "--config", path)
	if r.code == 0 || !strings.Contains(r.stderr, "chmod 600 "+key) {
		t.Errorf("agent with a 0644 key: exit %d, want a refusal naming 'chmod 600 %s'\n%s", r.code, key, r.stderr)
	}
}

func TestCheckConfigProblems(t *testing.T) {
	src, err := os.ReadFile("../examples/three-node/n1.toml")
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n") // no key ships with the examples
	good := string(src)
	cases := []struct {
		name, old, new string
		want           string // regexp over stderr: file:line: key: message
	}{
		{"unknown key", `port = 5420`, `prot = 5420`, `n1\.toml:\d+: prot: unknown key`},
		{"duplicate id", "id = 3", "id = 2", `n1\.toml:\d+: nodes\[2\]\.id: duplicate node id 2`},
		{"bad duration", `heartbeat = "100ms"`, `heartbeat = "100"`, `n1\.toml:\d+: timers\.heartbeat: bad duration`},
		{"timer relation", `suspect_min = "400ms"`, `suspect_min = "250ms"`, `n1\.toml:\d+: timers\.suspect_min: suspect timeout 250ms must exceed 3 heartbeat intervals`},
		{"node not listed", `node = "n1"`, `node = "n7"`, `n1\.toml:\d+: node: "n7" is not in the node list`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.old) {
				t.Fatalf("example no longer contains %q", tc.old)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "cluster.key"), key, 0o600); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "n1.toml")
			if err := os.WriteFile(path, []byte(strings.Replace(good, tc.old, tc.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			r := corral(t, dir, "check-config", path)
			if r.code == 0 {
				t.Fatalf("check-config accepted a config with %s", tc.name)
			}
			if !regexp.MustCompile(tc.want).MatchString(r.stderr) {
				t.Fatalf("stderr does not match %q:\n%s", tc.want, r.stderr)
			}
		})
	}
	t.Run("missing key file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "n1.toml")
		if err := os.WriteFile(path, src, 0o600); err != nil {
			t.Fatal(err)
		}
		r := corral(t, dir, "check-config", path)
		if r.code == 0 || !strings.Contains(r.stderr, "key_file") || !strings.Contains(r.stderr, "corral keygen") {
			t.Fatalf("missing key: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
