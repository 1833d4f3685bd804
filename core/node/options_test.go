package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/transport"
)

// TestInjectedTransportAndClock: nodes whose links are on an in-memory
// network (Options.Transport) and whose clock starts an hour in
// (Options.Clock) form a view and replicate a write. Their addresses are
// not this machine's: no UDP socket could bind them.
func TestInjectedTransportAndClock(t *testing.T) {
	mem := transport.NewMemNetwork()
	t0 := time.Now()
	clock := func() time.Duration { return time.Hour + time.Since(t0) }
	offHost := func(_ int, src string) string { return strings.ReplaceAll(src, `"127.41.`, `"10.41.`) }
	nodes := startNodes(t, writeCluster(t, t.TempDir(), 41, 3), nodeSetup{mem: mem, clock: clock, edit: offHost})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := nodes[0].n.CDBSet(ctx, "/app/k", []byte(`"v"`)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n3 has the write", func() bool {
		kv, found, _, err := nodes[2].n.CDBGet("/app/k")
		return err == nil && found && string(kv.Value) == `"v"`
	})
	_, ts, err := nodes[0].n.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if ts.Total().PacketsSent == 0 {
		t.Fatalf("n1's in-memory transport counted no packet: %+v", ts)
	}
	st, err := nodes[0].n.StatusDoc()
	if err != nil {
		t.Fatal(err)
	}
	if up, err := time.ParseDuration(st.Uptime); err != nil || up < time.Hour {
		t.Fatalf("uptime %q (%v): the node does not run on the injected clock", st.Uptime, err)
	}
}
