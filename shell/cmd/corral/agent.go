package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/corral-ha/corral/core/api"
	"github.com/corral-ha/corral/core/config"
	"github.com/corral-ha/corral/core/netlimit"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/lua"
	"github.com/corral-ha/corral/shell/pidfile"
)

// leaver is the clean-leave hook the membership work adds to *node.Node;
// the agent calls it on SIGTERM/SIGINT when it is there.
type leaver interface {
	Leave(ctx context.Context) error
}

// leaveTimeout bounds the clean leave at shutdown: the groups moving away
// (config.DrainTimeout), then the view without this node.
const leaveTimeout = config.DrainTimeout + 5*time.Second

// runAgent is `corral agent --config FILE`: one node in the foreground
// until SIGTERM or SIGINT.
func runAgent(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "the node's configuration file (required)")
	level := fs.String("log-level", "info", "log level: debug, info or warn")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: corral agent --config FILE [--log-level debug|info|warn]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "corral agent: unexpected argument %q: corral agent --config FILE\n", fs.Arg(0))
		return 2
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "corral agent: --config FILE is required (check it first with 'corral check-config FILE')")
		return 2
	}
	var lv slog.Level
	switch strings.ToLower(*level) {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	default:
		fmt.Fprintf(stderr, "corral agent: --log-level %q: use debug, info or warn\n", *level)
		return 2
	}
	log := newLogger(stderr, lv)

	cfg, err := config.Load(*cfgPath)
	if err == nil {
		_, err = cfg.LoadKey()
	}
	if err == nil {
		err = cfg.CheckSecretModes()
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stderr, "corral agent: %s has problems: fix them (corral check-config %s) and start again\n", *cfgPath, *cfgPath)
		return 1
	}
	if err := runNode(log, cfg); err != nil {
		if errors.Is(err, node.ErrRestart) {
			return restartAgent(log)
		}
		if errors.Is(err, syscall.EADDRINUSE) {
			log.Error("agent failed", "err", err, "hint", "another process uses this link address and port (another agent, or a demo on the same --net?): stop it or change addresses/port")
		} else {
			log.Error("agent failed", "err", err)
		}
		return 1
	}
	return 0
}

// runNode is the agent's life once its configuration is valid.
func runNode(log *slog.Logger, cfg *config.Config) (failure error) {
	ln, err := listenAdmin(cfg.AdminSocket)
	if err != nil {
		return err
	}
	defer ln.Close() // removes the socket file
	var tcp net.Listener
	var token string
	var tlsCfg *tls.Config
	// The TCP listeners' connection caps leave three quarters of the
	// descriptors to the node's own work (netlimit.Budget).
	caps := netlimit.Budget(netlimit.NoFile(), config.APIMaxConns, config.DNSMaxTCPConns)
	if cfg.API.Listen != "" {
		if token, err = cfg.LoadAPIToken(); err != nil {
			return err
		}
		if cfg.API.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.API.TLSCert, cfg.API.TLSKey)
			if err != nil {
				return fmt.Errorf("api.tls_cert, api.tls_key: %w (both PEM: the certificate chain and its private key)", err)
			}
			tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		l, err := net.Listen("tcp", cfg.API.Listen)
		if err != nil {
			return fmt.Errorf("api.listen: %w", err)
		}
		tcp = netlimit.Listen(l, caps[0])
		defer tcp.Close()
	}
	n, err := node.Open(cfg, node.Options{Logger: log, DNSMaxTCPConns: caps[1]})
	if err != nil {
		return fmt.Errorf("opening the node: %w", err)
	}
	if cfg.PIDFile != "" {
		if err := writePIDFile(cfg.PIDFile); err != nil {
			n.Close()
			return err
		}
		defer func() {
			if !errors.Is(failure, node.ErrRestart) { // the same pid starts again
				removePIDFile(log, cfg.PIDFile)
			}
		}()
	}

	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	runCtx, stopNode := context.WithCancel(context.Background())
	defer stopNode()
	runDone := make(chan error, 1)
	go func() { runDone <- n.Run(runCtx) }()

	h := api.New(n)
	defer h.Close()
	// The Unix socket is the operator's (mode 0600): no read timeout, so
	// event streams last; idle keep-alive connections are closed.
	srv := &http.Server{Handler: h, ReadHeaderTimeout: config.APIHeaderTimeout,
		IdleTimeout: config.APIIdleTimeout,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ln) }()
	if tcp != nil {
		tsrv := &http.Server{Handler: h.RequireToken(token), ReadHeaderTimeout: config.APIHeaderTimeout,
			ReadTimeout: config.APIReadTimeout, IdleTimeout: config.APIIdleTimeout,
			TLSConfig: tlsCfg,
			ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		if tlsCfg != nil {
			go func() { srvDone <- tsrv.ServeTLS(tcp, "", "") }()
		} else {
			go func() { srvDone <- tsrv.Serve(tcp) }()
		}
		defer tsrv.Close()
		log.Info("admin API on TCP with a bearer token", "listen", tcp.Addr().String(),
			"tls", tlsCfg != nil, "max_conns", caps[0])
	}
	log.Info("agent ready", "cluster", cfg.Cluster, "node", cfg.Node, "pid", os.Getpid(),
		"admin_socket", cfg.AdminSocket, "boot", n.Boot())
	if err := notifySystemd("READY=1"); err != nil {
		log.Warn("telling systemd the node is ready", "err", err)
	}

	select {
	case <-sigCtx.Done():
		log.Info("shutting down: signal received")
	case err := <-runDone:
		runDone <- err
		failure = fmt.Errorf("the node stopped by itself: %w", err)
	case err := <-srvDone:
		failure = fmt.Errorf("admin API: %w", err)
	}
	stopSignals() // a second signal kills the agent at once
	h.Close()     // ends open event streams, so Shutdown need not wait for them
	_ = notifySystemd("STOPPING=1")

	if l, ok := any(n).(leaver); ok && failure == nil {
		ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
		if err := l.Leave(ctx); err != nil {
			log.Warn("clean leave failed; the others will see this node fail instead", "err", err)
		}
		cancel()
	}
	stopNode()
	if err := <-runDone; err != nil && failure == nil {
		failure = fmt.Errorf("stopping the node: %w", err)
	}
	if err := n.Close(); err != nil && failure == nil {
		failure = fmt.Errorf("closing the node: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	if failure == nil {
		log.Info("agent stopped")
	}
	return failure
}

// restartAgent starts the agent again in this process, with the same
// arguments and environment (node.ErrRestart: the node stopped, its
// sockets, store and admin socket closed, to take a boot id above one its
// peers have seen). The pid stays, so the pid file stays true.
func restartAgent(log *slog.Logger) int {
	log.Info("agent starting again", "pid", os.Getpid())
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	log.Error("agent failed to start again: start it by hand", "err", err)
	return 1
}

// listenAdmin opens the admin socket with mode 0600 (the permissions are
// the API's authentication). A socket file nobody answers on is stale and
// is replaced; a live agent on it makes this one refuse to start.
func listenAdmin(path string) (*net.UnixListener, error) {
	if len(path) > 104 {
		return nil, fmt.Errorf("admin_socket %s is %d bytes long; Unix sockets allow about 104: choose a shorter path", path, len(path))
	}
	// A missing directory is made (0700: the socket's permissions are
	// its authentication); one that cannot be made is named with the fix.
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("admin_socket %s: cannot create its directory %s: %w; create that directory (mode 0700) or set admin_socket to a path in one that exists", path, dir, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("admin_socket %s exists and is not a socket: move it away or change admin_socket", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("another corral agent is already serving %s: stop it first (or use another admin_socket)", path)
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("admin_socket %s exists and cannot be checked (%v): remove it if no agent uses it", path, err)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale admin socket: %w", err)
		}
	}
	old := syscall.Umask(0o077) // no window in which others could connect
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	return ln, nil
}

// writePIDFile writes the agent's pid to path (decimal and a newline,
// nothing else) and its identity (boot id, start time) to
// path.id, so a fence or a script can tell this process from a later one
// with the same pid. Both are made under a temporary name with
// O_EXCL|O_NOFOLLOW and renamed into place: a symlink planted at the
// temporary name is never followed.
func writePIDFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("pid_file: %w", err)
	}
	id, _ := lua.ProcessIdentity(os.Getpid())
	if err := lua.WritePIDIdentity(path, id); err != nil {
		return fmt.Errorf("pid_file: %w", err)
	}
	if err := lua.WriteNoFollow(path, strconv.Itoa(os.Getpid())+"\n"); err != nil {
		return fmt.Errorf("pid_file: %w", err)
	}
	return nil
}

// removePIDFile removes the pid file if it still names this process.
func removePIDFile(log *slog.Logger, path string) {
	if pid, err := pidfile.Read(path); err != nil || pid != os.Getpid() {
		return
	}
	if err := os.Remove(path); err != nil {
		log.Warn("removing the pid file", "err", err)
	}
	_ = os.Remove(path + ".id")
}
