package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/conn"
	"github.com/corral-ha/corral/core/wire"
)

// TestDropLogRateLimited (issue 16): 500 packets failing authentication
// from one node, on both its links, make one log line naming an address,
// the node it seems to be and the fix (issue 21: once per peer, not per
// link); a stale boot id is logged once per (peer, boot).
func TestDropLogRateLimited(t *testing.T) {
	n, buf, _ := openLogged(t, 143, 0)
	defer n.Close()
	n3 := netip.MustParseAddr("127.143.0.3")
	n3b := netip.MustParseAddr("127.143.1.3")
	for range 250 {
		n.noteDrop("auth", n3, 3, authDropFormat)
		n.noteDrop("auth", n3b, 3, authDropFormat)
	}
	stale := &conn.DropError{From: 2, Boot: 7, Err: wire.ErrStaleBoot}
	n.noteStale(netip.MustParseAddr("127.143.1.2"), stale)
	n.noteStale(netip.MustParseAddr("127.143.1.2"), stale)
	log := buf.String()
	if got := strings.Count(log, "packets from 127.143.0.3 (n3?) fail authentication: different cluster key? Every node's key_file must hold the same key"); got != 1 {
		t.Errorf("auth failure logged %d times, want once:\n%s", got, log)
	}
	if got := strings.Count(log, "fail authentication"); got != 1 {
		t.Errorf("auth failures of one peer on two links logged %d times, want once:\n%s", got, log)
	}
	if got := strings.Count(log, "packets from 127.143.1.2 (n2?) carry boot id 7"); got != 1 {
		t.Errorf("stale boot logged %d times, want once:\n%s", got, log)
	}
}

// TestNewerSelfRestart (issue 22): a start that learns, from an authentic
// packet (wire.ErrNewerSelf), that its peers saw a boot id of this node at
// least its own persists that boot id and stops with ErrRestart, so the
// next start is above it; a start that has joined a view only logs an
// error, once per boot id, and goes on.
func TestNewerSelfRestart(t *testing.T) {
	n, buf, cfg := openLogged(t, 161, 1)
	seen := n.Boot() + 1000 // as after quick restarts, then a wipe
	newer := &conn.DropError{From: 1, Boot: 9, Err: wire.ErrNewerSelf, SelfBoot: seen}

	n.joined = true
	n.noteNewerSelf(newer)
	n.noteNewerSelf(newer)
	if n.fatalErr != nil {
		t.Fatalf("a joined node stopped: %v", n.fatalErr)
	}
	if got := strings.Count(buf.String(), fmt.Sprintf("n1 has seen boot %d of this node", seen)); got != 1 {
		t.Errorf("joined node logged the newer boot %d times, want once:\n%s", got, buf.String())
	}

	n.joined = false
	n.noteNewerSelf(newer)
	if !errors.Is(n.fatalErr, ErrRestart) {
		t.Fatalf("fatalErr = %v, want ErrRestart", n.fatalErr)
	}
	want := fmt.Sprintf("peers have seen boot %d of this node, not older than this start's boot %d: its data directory was wiped or restored; starting again at boot %d", seen, n.Boot(), seen+1)
	if !strings.Contains(buf.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, buf.String())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Boot() != seen+1 {
		t.Fatalf("next start at boot %d, want %d", again.Boot(), seen+1)
	}
}

// TestDropLogForgedSourcesBounded (review of issue 22): the fields the
// rate limits key on are not authenticated. A stranger without the key
// who forges packets claiming a peer's id and new boot ids below
// the one heard (dropped as stale before authentication), or who spoofs a
// new source address per packet failing authentication, got a log line
// per packet. Now each reason logs at most dropLogBurst (10) lines a minute.
func TestDropLogForgedSourcesBounded(t *testing.T) {
	n, buf, _ := openLogged(t, 143, 0)
	defer n.Close()
	for i := range 3000 {
		n.noteStale(netip.MustParseAddr("127.143.1.2"), &conn.DropError{From: 2, Boot: uint32(i + 1), Err: wire.ErrStaleBoot})
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		n.noteDrop("auth", addr, 3, "packets from %s (%s) fail authentication: different cluster key?")
	}
	log := buf.String()
	if got := strings.Count(log, "carry boot id"); got > 10 {
		t.Errorf("3000 forged stale boot ids made %d log lines, want at most 10", got)
	}
	if got := strings.Count(log, "fail authentication"); got > 10 {
		t.Errorf("3000 spoofed sources failing authentication made %d log lines, want at most 10", got)
	}
}

// openLogged opens (without running) node idx of a fresh 3-node cluster
// on netBlock, its log written to the buffer returned, with its config.
func openLogged(t *testing.T, netBlock, idx int) (*Node, *bytes.Buffer, *config.Config) {
	t.Helper()
	paths := writeCluster(t, t.TempDir(), netBlock, 3)
	cfg, err := config.Load(paths[idx])
	if err != nil {
		t.Fatal(err)
	}
	buf := new(bytes.Buffer)
	n, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return n, buf, cfg
}
