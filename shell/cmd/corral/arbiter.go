package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/witness"
)

// runArbiter is `corral arbiter --listen ADDR --data DIR --key FILE`: the
// network quorum witness, a tie-breaking vote outside the cluster.
func runArbiter(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("arbiter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "TCP address to serve, e.g. 10.0.0.9:5421 (required)")
	data := fs.String("data", "", "directory for the arbiter's state (required)")
	keyFile := fs.String("key", "", "the cluster key file (required)")
	cluster := fs.String("cluster", "", "answer only this cluster's nodes (default: any node holding the key)")
	lease := fs.Duration("lease", witness.DefaultLease, "how long a granted vote holds without renewal")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: corral arbiter --listen ADDR --data DIR --key FILE\n"+
			"                      [--cluster NAME] [--lease 2s]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *listen == "" || *data == "" || *keyFile == "" {
		fmt.Fprintln(stderr, "corral arbiter: --listen, --data and --key are required; nodes point at it with [quorum.witness] arbiter = \"ADDR\"")
		return 2
	}
	raw, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "corral arbiter: %v: use the cluster's key file (corral keygen made it)\n", err)
		return 1
	}
	key, err := config.ParseKey(raw)
	if err != nil {
		fmt.Fprintf(stderr, "corral arbiter: %s: %v\n", *keyFile, err)
		return 1
	}
	log := newLogger(stderr, slog.LevelInfo).With("arbiter", *listen)
	a, err := witness.NewArbiter(witness.Config{Cluster: *cluster, Key: key, Dir: *data, Lease: *lease, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "corral arbiter: %v\n", err)
		return 1
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "corral arbiter: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	log.Info("arbiter serving", "cluster", *cluster, "lease", lease.String(), "data", *data)
	if err := a.Serve(l); err != nil {
		fmt.Fprintf(stderr, "corral arbiter: %v\n", err)
		return 1
	}
	log.Info("arbiter stopped")
	return 0
}
