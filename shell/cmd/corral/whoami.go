package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"syscall"
	"time"
)

// runWhoami is `corral whoami --listen ADDR --name NAME`: a tiny HTTP
// service that answers every request with NAME and a newline. The demo's
// group `web` runs it through the `process` agent on the group's address,
// so a failover is visible with curl.
func runWhoami(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("whoami", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "TCP address to serve, e.g. 127.0.0.1:8080 (required)")
	name := fs.String("name", "", "the text every request gets back, e.g. the node's name (required)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: corral whoami --listen ADDR --name NAME")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *listen == "" || *name == "" {
		fmt.Fprintln(stderr, "corral whoami: --listen and --name are required, e.g. corral whoami --listen 127.0.0.1:8080 --name n1")
		return 2
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "corral whoami: %v: is another process serving %s?\n", err, *listen)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintf(stdout, "corral whoami: serving %q on %s\n", *name, l.Addr())
	if err := serveWhoami(ctx, l, *name); err != nil {
		fmt.Fprintf(stderr, "corral whoami: %v\n", err)
		return 1
	}
	return 0
}

// serveWhoami answers every HTTP request on l with name until ctx ends.
func serveWhoami(ctx context.Context, l net.Listener, name string) error {
	body := []byte(name + "\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(body)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", l.Addr(), err)
	}
	return nil
}
