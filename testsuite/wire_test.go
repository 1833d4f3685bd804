package testsuite

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/wire"
)

// wireMetric reads one sample of corral_wire_packets_total (result=label)
// from node's /metrics; a label the node does not export reads as an error.
func wireMetric(dir, node, family, label string) (float64, error) {
	body, err := unixGet(filepath.Join(dir, node, "corral.sock"), "/metrics")
	if err != nil {
		return 0, err
	}
	prefix := family + `{result="` + label + `"} `
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no sample %s", node, strings.TrimSpace(prefix))
}

// relay forwards the datagrams sent to its addresses to the real ones,
// recording them while on.
type relay struct {
	mu        sync.Mutex
	on        bool
	conns     []*net.UDPConn
	got       []relayed
	forwarded int
}

type relayed struct {
	link int // which of the relay's addresses, i.e. which link of the node behind it
	data []byte
}

// startRelay listens on listen[i] and forwards to to[i].
func startRelay(t *testing.T, listen, to []string) *relay {
	t.Helper()
	r := &relay{}
	for i := range listen {
		la, err := net.ResolveUDPAddr("udp", listen[i])
		if err != nil {
			t.Fatal(err)
		}
		ta, err := net.ResolveUDPAddr("udp", to[i])
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenUDP("udp", la)
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		r.conns = append(r.conns, c)
		t.Cleanup(func() { _ = c.Close() })
		go func(link int) {
			buf := make([]byte, 65536)
			for {
				n, _, err := c.ReadFromUDP(buf)
				if err != nil {
					return
				}
				r.mu.Lock()
				if r.on {
					r.got = append(r.got, relayed{link: link, data: bytes.Clone(buf[:n])})
				}
				r.forwarded++
				r.mu.Unlock()
				_, _ = c.WriteToUDP(buf[:n], ta)
			}
		}(i)
	}
	return r
}

func (r *relay) record(on bool) {
	r.mu.Lock()
	r.on = on
	r.mu.Unlock()
}

func (r *relay) recorded() []relayed {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]relayed(nil), r.got...)
}

// nodeStateOn is the state node `of` has in node on's status.
func nodeStateOn(t *testing.T, dir, on, of string) (string, error) {
	st, err := viewOf(t, dir, on)
	if err != nil {
		return "", err
	}
	for _, n := range st.Nodes {
		if n.Name == of {
			return n.State, nil
		}
	}
	return "", fmt.Errorf("%s does not list %s", on, of)
}

// TestCrossDestinationReplayLive (issue 22): real agents over real UDP. n3
// reaches n1 through a relay (n3's config gives n1 the relay's addresses),
// which records n3's packets to n1 while n3 asks n1 to pause. n1 is
// resumed on its own socket, and the recording is sent to n2's addresses.
// Every replayed packet is dropped by n2 as addressed to another node
// (counted in /metrics), and n2 does not pause; n2 keeps its place in the
// view. (Before packets were bound to their receiver, n2 took them as
// n3's messages to itself and paused within seconds.)
func TestCrossDestinationReplayLive(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.140", 3, "--fence=false")
	all := []string{"n1", "n2", "n3"}
	eventually(t, 15*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})

	// n3 again, with n1 behind the relay.
	pid3 := demoPIDs(t, dir, 3)[2]
	if err := syscall.Kill(pid3, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "n3 gone", func() error {
		if alive(pid3) {
			return errors.New("alive")
		}
		return nil
	})
	cfgPath := filepath.Join(dir, "n3", "corral.toml")
	cfg, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	real1 := `addresses = ["127.140.0.1", "127.140.1.1"]`
	if !bytes.Contains(cfg, []byte(real1)) {
		t.Fatalf("n3's config has no %s:\n%s", real1, cfg)
	}
	cfg = bytes.Replace(cfg, []byte(real1), []byte(`addresses = ["127.140.2.1", "127.140.3.1"]`), 1)
	writeFile(t, cfgPath, string(cfg))
	rl := startRelay(t, []string{"127.140.2.1:5420", "127.140.3.1:5420"}, []string{"127.140.0.1:5420", "127.140.1.1:5420"})
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 15*time.Second, "one quorate view of three with n3 behind the relay", func() error {
		return sameView(t, dir, all, all, true)
	})

	rl.record(true)
	if r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n3", "corral.sock"), "-c", "pause n1"); r.code != 0 {
		t.Fatalf("pause n1 on n3: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 10*time.Second, "n1 paused", func() error {
		if s, err := nodeStateOn(t, dir, "n1", "n1"); err != nil || s != "paused" {
			return fmt.Errorf("n1 is %q (%v)", s, err)
		}
		return nil
	})
	rl.record(false)
	if r := corral(t, dir, "shell", "--socket", filepath.Join(dir, "n1", "corral.sock"), "-c", "resume n1"); r.code != 0 {
		t.Fatalf("resume n1 on n1: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 10*time.Second, "n1 online again", func() error {
		if s, err := nodeStateOn(t, dir, "n2", "n1"); err != nil || s != "online" {
			return fmt.Errorf("n1 is %q on n2 (%v)", s, err)
		}
		return nil
	})

	rec := rl.recorded()
	if len(rec) < 10 {
		t.Fatalf("the relay recorded %d packets of n3 to n1: too few to test", len(rec))
	}
	before, _ := wireMetric(dir, "n2", "corral_wire_packets_total", "misaddressed")
	to := []string{"127.140.0.2:5420", "127.140.1.2:5420"}
	for _, p := range rec {
		c, err := net.Dial("udp", to[p.link])
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(p.data); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	eventually(t, 10*time.Second, "n2 counts every replayed packet as misaddressed", func() error {
		if s, err := nodeStateOn(t, dir, "n2", "n2"); err == nil && s == "paused" {
			t.Fatalf("n2 paused itself on n3's replayed request to n1")
		}
		n, err := wireMetric(dir, "n2", "corral_wire_packets_total", "misaddressed")
		if err != nil {
			return err
		}
		if got := n - before; got < float64(len(rec)) {
			return fmt.Errorf("n2 counted %v of %d replayed packets", got, len(rec))
		}
		return nil
	})
	// Everything replayed has been handled (counted); n2 took nothing from
	// it: it is online in a quorate view of three, as everyone sees it.
	eventually(t, 10*time.Second, "n2 online in one quorate view of three", func() error {
		if err := sameView(t, dir, all, all, true); err != nil {
			return err
		}
		for _, on := range all {
			if s, err := nodeStateOn(t, dir, on, "n2"); err != nil || s != "online" {
				return fmt.Errorf("n2 is %q on %s (%v)", s, on, err)
			}
		}
		return nil
	})
	var evs []struct {
		Kind   string `json:"kind"`
		Target string `json:"target"`
	}
	if err := shellJSON(t, dir, "n2", "events", &evs); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Kind == "node_paused" && e.Target == "n2" {
			t.Fatalf("n2 paused after the replay: %+v", e)
		}
	}
	t.Logf("%d packets of n3 to n1 replayed to n2, all dropped", len(rec))
}

// TestWipedNodeRejoins (issue 22): a node restarted twice and then started
// with its data directory wiped rejoins promptly. Its boot id used to
// start again at 1, below the 3 its peers had seen, so they dropped its
// packets as stale until it restarted twice more (and its nonces repeated
// the first incarnation's; core/wire TestNonces checks that no (key,
// nonce) pair repeats now). n1 logs nothing about stale boots for it.
func TestWipedNodeRejoins(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.141", 3, "--fence=false")
	all := []string{"n1", "n2", "n3"}
	eventually(t, 15*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
	restart := func(wipe bool) time.Time {
		t.Helper()
		pid := demoPIDs(t, dir, 3)[1]
		before, err := viewOf(t, dir, "n2")
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "n2 gone", func() error {
			if alive(pid) {
				return errors.New("alive")
			}
			return nil
		})
		if wipe {
			if err := os.RemoveAll(filepath.Join(dir, "n2", "data")); err != nil {
				t.Fatal(err)
			}
		}
		started := time.Now()
		if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
			t.Fatalf("demo again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		eventually(t, 10*time.Second, "n2 back in one quorate view of three", func() error {
			st, err := viewOf(t, dir, "n2")
			if err != nil {
				return err
			}
			if st.Boot == before.Boot {
				return fmt.Errorf("n2 still at boot %d", st.Boot)
			}
			return sameView(t, dir, all, all, true)
		})
		return started
	}
	restart(false)
	restart(false)
	started := restart(true)
	t.Logf("n2 rejoined %v after its start with a wiped data directory", time.Since(started).Round(time.Millisecond))
	log, err := os.ReadFile(filepath.Join(dir, "n1", "corral.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Quick restarts run the boot id ahead of the clock: then the wiped
	// start's boot id is below the one n1 saw, n1 drops its packets as
	// stale, and n2 must have started again by itself (TestWipedNodeBelowSeenBoot).
	n2log, err := os.ReadFile(filepath.Join(dir, "n2", "corral.log"))
	if err != nil {
		t.Fatal(err)
	}
	if self := bytes.Contains(n2log, []byte("starting again at boot")); bytes.Contains(log, []byte("not newer than boot")) && !self {
		t.Errorf("n1 dropped packets of n2 as stale, and n2 did not start again:\n%s", log)
	} else if self {
		t.Logf("n2's wiped start was below the boot id n1 saw; it started again by itself")
	}
}

// TestWipedNodeBelowSeenBoot (issue 22): a node whose data directory is
// wiped while its last boot id is ahead of the clock (quick restarts, or a
// clock set back) starts below the boot id its peers saw, and they drop
// its packets as stale. Their packets to its earlier incarnation tell it
// so (authentic: wire.ErrNewerSelf): it persists that boot id and starts
// again above it, same pid, and rejoins without an operator.
func TestWipedNodeBelowSeenBoot(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.160", 3, "--fence=false")
	all := []string{"n1", "n2", "n3"}
	eventually(t, 15*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
	kill2 := func() {
		t.Helper()
		pid := demoPIDs(t, dir, 3)[1]
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "n2 gone", func() error {
			if alive(pid) {
				return errors.New("alive")
			}
			return nil
		})
	}
	start2 := func() {
		t.Helper()
		if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
			t.Fatalf("demo again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	// n2's boot id far ahead of the clock, as after many quick restarts.
	kill2()
	st, err := node.OpenStore(filepath.Join(dir, "n2", "data"))
	if err != nil {
		t.Fatal(err)
	}
	ahead := uint32(time.Now().Unix()) + 1000
	_, err = st.NextBoot(ahead)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	start2()
	var seen uint32
	eventually(t, 10*time.Second, "n2 at a boot id ahead of the clock, in one quorate view of three", func() error {
		st, err := viewOf(t, dir, "n2")
		if err != nil {
			return err
		}
		if st.Boot <= ahead {
			return fmt.Errorf("n2 at boot %d", st.Boot)
		}
		seen = st.Boot
		return sameView(t, dir, all, all, true)
	})

	kill2()
	if err := os.RemoveAll(filepath.Join(dir, "n2", "data")); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	start2()
	pid := demoPIDs(t, dir, 3)[1]
	eventually(t, 10*time.Second, "n2 back in one quorate view of three", func() error {
		st, err := viewOf(t, dir, "n2")
		if err != nil {
			return err
		}
		if st.Boot != seen+1 {
			return fmt.Errorf("n2 at boot %d, want %d", st.Boot, seen+1)
		}
		return sameView(t, dir, all, all, true)
	})
	t.Logf("n2 rejoined %v after its start with a wiped data directory", time.Since(started).Round(time.Millisecond))
	if now := demoPIDs(t, dir, 3)[1]; now != pid || !alive(pid) {
		t.Errorf("n2 started again as pid %d (alive %v), want the pid of the wiped start, %d", now, alive(now), pid)
	}
	log, err := os.ReadFile(filepath.Join(dir, "n2", "corral.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("peers have seen boot %d of this node", seen)
	if !bytes.Contains(log, []byte(want)) || !bytes.Contains(log, []byte(fmt.Sprintf("starting again at boot %d", seen+1))) {
		t.Errorf("n2's log does not say %q and that it starts again at boot %d:\n%s", want, seen+1, log)
	}

	// Now that n2 has joined (it may run resources), an authentic packet
	// to a newer incarnation of it, as n1 would send, makes it log an
	// error, not start again.
	cfg, err := config.Load(filepath.Join(dir, "n1", "corral.toml"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := cfg.LoadKey()
	if err != nil {
		t.Fatal(err)
	}
	ep, err := wire.New(wire.Config{Cluster: cfg.Cluster, Key: key, Self: 1, Boot: uint32(time.Now().Unix()) + 5000, Start: 1})
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := ep.Seal(wire.Dest{ID: 2, Boot: seen + 7, Start: 1}, wire.Encode(&wire.Heartbeat{}))
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.160.0.1")}, &net.UDPAddr{IP: net.ParseIP("127.160.0.2"), Port: cfg.Port})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkts[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "n2 logs the newer boot id n1 claims to have seen", func() error {
		log, err := os.ReadFile(filepath.Join(dir, "n2", "corral.log"))
		if err != nil {
			return err
		}
		if !bytes.Contains(log, []byte(fmt.Sprintf("n1 has seen boot %d of this node", seen+7))) {
			return errors.New("not logged")
		}
		return nil
	})
	if st, err := viewOf(t, dir, "n2"); err != nil || st.Boot != seen+1 || !alive(pid) {
		t.Errorf("joined n2 after a packet to a newer incarnation: boot %d (want %d), alive %v, %v", st.Boot, seen+1, alive(pid), err)
	}
}

// TestAuthFailureLogged (issue 16): packets sealed under another cluster
// key, sent from n3's address, are counted one by one but named in n1's
// log once: "packets from 127.142.0.3 (n3?) fail authentication:
// different cluster key?".
func TestAuthFailureLogged(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.142", 3, "--fence=false")
	all := []string{"n1", "n2", "n3"}
	eventually(t, 15*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
	// As n3 restarted with another key: a boot id above its last one.
	boot := uint32(time.Now().Unix()) + 100
	ep, err := wire.New(wire.Config{Cluster: "demo", Key: bytes.Repeat([]byte{0x5A}, wire.KeySize), Self: 3, Boot: boot})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.142.0.3")}, &net.UDPAddr{IP: net.ParseIP("127.142.0.1"), Port: 5420})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := wireMetric(dir, "n1", "corral_wire_packets_total", "auth_failed")
	if err != nil {
		t.Fatal(err)
	}
	const sent = 200
	for i := range sent {
		pkts, err := ep.Seal(wire.Dest{ID: 1}, []byte(fmt.Sprintf("forged %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(pkts[0]); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "n1 counts the forged packets", func() error {
		n, err := wireMetric(dir, "n1", "corral_wire_packets_total", "auth_failed")
		if err != nil {
			return err
		}
		if n-before < sent {
			return fmt.Errorf("n1 counted %v of %d", n-before, sent)
		}
		return nil
	})
	log, err := os.ReadFile(filepath.Join(dir, "n1", "corral.log"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "packets from 127.142.0.3 (n3?) fail authentication: different cluster key?"
	if got := bytes.Count(log, []byte(want)); got != 1 {
		t.Fatalf("n1's log names the source %d times, want once: %q\n%s", got, want, log)
	}
}
