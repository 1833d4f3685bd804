package testsuite

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Bad input, end to end (issue 21): each case ends in a clear error that
// says what to do, and nothing is lost.

// TestWrongKeyAndQuorumSettings: a five-node demo in which n4 is
// restarted with another cluster key and n5 with another quorum policy.
//   - n4's packets fail authentication on n1: they are counted
//     (corral_wire_packets_total{result="auth_failed"} on /metrics) and
//     dropped, and n1's log names n4 (its address and "n4?") and why, with
//     the fix, once (not per packet, not per link);
//   - n5 is refused on n1 with the setting, both values and the fix in
//     the log, and a config_differs event naming it;
//   - n1..n3 keep one primary view of exactly themselves, and neither n4
//     nor n5 is ever quorate (never two primaries).
func TestWrongKeyAndQuorumSettings(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	const block = "127.236"
	dir := t.TempDir()
	startDemo(t, dir, block, 5, "--fence=false")
	all := []string{"n1", "n2", "n3", "n4", "n5"}
	eventually(t, 30*time.Second, "one primary view of five", func() error { return sameView(t, dir, all, all, true) })

	// n4 and n5 leave (SIGTERM: a clean leave), then start misconfigured
	pids := demoPIDs(t, dir, 5)
	for _, p := range pids[3:] {
		if err := syscall.Kill(p, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pids[3:] {
		for end := time.Now().Add(20 * time.Second); alive(p); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("pid %d did not stop within 20s of SIGTERM", p)
			}
		}
	}
	good := all[:3]
	eventually(t, 20*time.Second, "n1..n3 in a primary view of themselves", func() error { return sameView(t, dir, good, good, true) })
	if r := corral(t, dir, "keygen"); r.code != 0 {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	} else {
		writeFile(t, filepath.Join(dir, "other.key"), r.stdout)
	}
	edit := func(node string, f func(string) string) {
		p := filepath.Join(dir, node, "corral.toml")
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, f(string(b)))
	}
	edit("n4", func(s string) string {
		out := strings.Replace(s, `key_file = "../cluster.key"`, `key_file = "../other.key"`, 1)
		if out == s {
			t.Fatalf("n4's config has no key_file line to change:\n%s", s)
		}
		return out
	})
	edit("n5", func(s string) string { return s + "\n[quorum]\npolicy = \"last_man_standing\"\n" })
	logPath := filepath.Join(dir, "n1", "corral.log")
	before, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach with n4 and n5 misconfigured: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	newLog := func() string {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		return string(b[len(before):])
	}
	authLine := regexp.MustCompile(`packets from ` + regexp.QuoteMeta(block) + `\.[01]\.4 \(n4\?\) fail authentication: different cluster key\? Every node's key_file must hold the same key`)
	const refusal = "refusing a node whose quorum settings differ: make [quorum], [timers] lease/margin/drift and [[nodes]] the same on every node"
	const differs = `policy: ours \"majority\", theirs \"last_man_standing\"`
	start := time.Now()
	// while the misconfigured nodes run: never a primary outside n1..n3
	primaries := func() error {
		for _, n := range all[3:] {
			if st, err := viewOf(t, dir, n); err == nil && (st.Quorate || st.Primary) {
				t.Errorf("%s is primary (view %s, members %v) beside n1..n3: two primaries", n, st.View, st.Members)
			}
		}
		return sameView(t, dir, good, good, true)
	}
	eventually(t, 30*time.Second, "n1's log names n4 (wrong key) and n5 (quorum settings)", func() error {
		if err := primaries(); err != nil {
			return err
		}
		log := newLog()
		if !authLine.MatchString(log) {
			return fmt.Errorf("no line about n4's packets failing authentication")
		}
		if !strings.Contains(log, refusal) || !strings.Contains(log, "peer=n5") || !strings.Contains(log, differs) {
			return fmt.Errorf("no line refusing n5 for its policy")
		}
		return nil
	})
	// n4 sends on two links every heartbeat: by now hundreds of packets,
	// still one line
	for time.Since(start) < 3*time.Second {
		if err := primaries(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := len(authLine.FindAllString(newLog(), -1)); got != 1 {
		t.Errorf("n1 logged n4's authentication failures %d times, want once:\n%s", got, newLog())
	}
	metrics, err := unixGet(filepath.Join(dir, "n1", "corral.sock"), "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`corral_wire_packets_total\{result="auth_failed"\} (\d+)`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("n1's /metrics has no auth_failed count:\n%s", metrics)
	}
	if c, _ := strconv.Atoi(m[1]); c < 10 {
		t.Errorf("n1 counted %d packets failing authentication, want n4's (dozens)", c)
	}
	var evs []map[string]any
	if err := shellJSON(t, dir, "n1", "events --limit 1000", &evs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		if e["kind"] == "config_differs" && e["target"] == "n5" {
			d, _ := e["detail"].(string)
			found = strings.Contains(d, `policy: ours "majority", theirs "last_man_standing"`)
		}
	}
	if !found {
		t.Errorf("n1's events have no config_differs for n5 naming the policy: %v", evs)
	}
	// n5 says the same from its side
	b, _ := os.ReadFile(filepath.Join(dir, "n5", "corral.log"))
	if !strings.Contains(string(b), refusal) || !strings.Contains(string(b), `policy: ours \"last_man_standing\", theirs \"majority\"`) {
		t.Errorf("n5's log does not say why it is refused:\n%s", b)
	}
}

// TestCorruptedStoreRecoversFromPeers: n3's corral.db is damaged while it
// is stopped (its first 16 KiB, both bbolt meta pages, overwritten). n3
// refuses to start and its log says how to recover from the peers; done
// as it says (the data directory moved aside), n3 rejoins and takes the
// config DB from its peers: the write made before is applied on n3 again.
func TestCorruptedStoreRecoversFromPeers(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes")
	}
	const block = "127.237"
	dir := t.TempDir()
	startDemo(t, dir, block, 3, "--fence=false")
	all := []string{"n1", "n2", "n3"}
	eventually(t, 30*time.Second, "one primary view of three", func() error { return sameView(t, dir, all, all, true) })
	var set struct{ Revision uint64 }
	eventually(t, 15*time.Second, "cdb set on n1", func() error { return shellJSON(t, dir, "n1", "cdb set /app/precious v1", &set) })
	if set.Revision == 0 {
		t.Fatalf("cdb set answered no revision")
	}
	applied := func(node string) (int, error) {
		m, err := unixGet(filepath.Join(dir, node, "corral.sock"), "/metrics")
		if err != nil {
			return 0, err
		}
		r := regexp.MustCompile(`(?m)^corral_cdb_revision (\d+)`).FindStringSubmatch(m)
		if r == nil {
			return 0, fmt.Errorf("no corral_cdb_revision on %s", node)
		}
		return strconv.Atoi(r[1])
	}
	eventually(t, 15*time.Second, "n3 applies the write", func() error {
		if rev, err := applied("n3"); err != nil || rev < int(set.Revision) {
			return fmt.Errorf("n3 at revision %d (%v), want %d", rev, err, set.Revision)
		}
		return nil
	})
	pid := demoPIDs(t, dir, 3)[2]
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); alive(pid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("n3 (pid %d) did not stop within 20s of SIGTERM", pid)
		}
	}
	data := filepath.Join(dir, "n3", "data")
	f, err := os.OpenFile(filepath.Join(data, "corral.db"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 16<<10)
	for i := range junk {
		junk[i] = byte(i*7 + 13)
	}
	if _, err := f.WriteAt(junk, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r := corral(t, dir, "demo", "--detach", "--dir", dir)
	log, _ := os.ReadFile(filepath.Join(dir, "n3", "corral.log"))
	want := "the node refuses to start. To recover from the peers, move the data directory away (mv " + data + " " + data + ".damaged"
	if r.code == 0 || !strings.Contains(string(log), "the data store is damaged") || !strings.Contains(string(log), want) {
		t.Fatalf("n3 with a damaged corral.db: demo exit %d\n%s%s\nn3's log:\n%s\nwant it to refuse and say %q", r.code, r.stdout, r.stderr, log, want)
	}
	if p := demoPIDs(t, dir, 3)[2]; p != 0 && alive(p) {
		t.Fatalf("n3 runs (pid %d) on a damaged store", p)
	}
	// do what it says
	if err := os.Rename(data, data+".damaged"); err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("n3 with its data directory moved away: demo exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 30*time.Second, "n3 rejoins", func() error { return sameView(t, dir, all, all, true) })
	eventually(t, 15*time.Second, "n3 takes the config DB from its peers", func() error {
		if rev, err := applied("n3"); err != nil || rev < int(set.Revision) {
			return fmt.Errorf("n3 at revision %d (%v), want %d", rev, err, set.Revision)
		}
		return nil
	})
	var got struct{ Value string }
	if err := shellJSON(t, dir, "n3", "cdb get /app/precious", &got); err != nil || got.Value != "v1" {
		t.Fatalf("cdb get on n3 after the recovery: %+v %v", got, err)
	}
}
