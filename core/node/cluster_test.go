package node

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/transport"
)

// clusterNode is one in-process node of a test cluster started by
// startNodes: the node, its stand-in executor (nil when the node runs its
// own Lua host) and how to stop it.
type clusterNode struct {
	n      *Node
	ex     *DummyExecutor
	cancel context.CancelFunc
	done   chan error
}

// stop ends the node's Run and waits for it; a second stop does nothing.
func (r *clusterNode) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	<-r.done
	r.cancel = nil
}

// kill stops a node the way a crash does: its resources die with it and
// it leaves uncleanly.
func (r *clusterNode) kill() {
	r.ex.KillAll()
	r.stop()
}

// nodeSetup says how startNodes builds each node.
type nodeSetup struct {
	// edit, when set, rewrites node k's config file (0-based) before it
	// is loaded, so the config is validated as a user's would be.
	edit func(k int, src string) string
	// lua: the node runs agents with its own Lua host instead of a
	// DummyExecutor.
	lua bool
	// mem, when set, is the network the nodes' links are on instead of
	// UDP sockets (Options.Transport); clock, when set, their clock.
	mem   *transport.MemNetwork
	clock func() time.Duration
}

// startNodes opens and runs one node per config file (writeCluster's),
// stops them in t.Cleanup, and waits until all are in one quorate view.
func startNodes(t *testing.T, paths []string, s nodeSetup) []*clusterNode {
	t.Helper()
	var nodes []*clusterNode
	for k, p := range paths {
		if s.edit != nil {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(s.edit(k, string(b))), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		opt := Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		r := &clusterNode{done: make(chan error, 1)}
		if !s.lua {
			r.ex = NewDummyExecutor()
			opt.Executor = r.ex
		}
		if s.mem != nil {
			opt.Transport = func(links []netip.AddrPort, h transport.Handler, o transport.Options) (Transport, error) {
				return s.mem.Listen(links, h, o)
			}
			opt.Seed = uint64(k + 1)
		}
		opt.Clock = s.clock
		if r.n, err = Open(cfg, opt); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.cancel = cancel
		go func() { r.done <- r.n.Run(ctx) }()
		t.Cleanup(r.stop)
		nodes = append(nodes, r)
	}
	eventually(t, 10*time.Second, "one quorate view of all", func() bool {
		for _, r := range nodes {
			st, err := r.n.StatusDoc()
			if err != nil || !st.Quorate || len(st.Members) != len(nodes) {
				return false
			}
		}
		return true
	})
	return nodes
}
