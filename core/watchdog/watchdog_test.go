package watchdog

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startVictim starts a process that plays the node.
func startVictim(t *testing.T) (*exec.Cmd, chan error) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	return cmd, done
}

func supervise(t *testing.T, w time.Duration, cmd *exec.Cmd) (string, chan error) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "wd.sock")
	s := &Supervisor{Socket: sock, Timeout: w, Kill: func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }}
	c, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	res := make(chan error, 1)
	go func() { res <- s.Run(ctx, c) }()
	return sock, res
}

// Fed while "holding its lease" the node lives; once feeding stops it is
// killed within W (plus scheduling slack), not before.
func TestSupervisorKillsWhenNotFed(t *testing.T) {
	const w = time.Second // a feed every W/5: a loaded machine may delay one by far more than 60 ms
	cmd, done := startVictim(t)
	sock, res := supervise(t, w, cmd)
	f, err := Open(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last time.Time
	for end := time.Now().Add(4 * w); time.Now().Before(end); {
		last = time.Now()
		if err := f.Feed(); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-done:
			t.Fatalf("killed while fed: %v", err)
		case <-time.After(w / 5):
		}
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrFired) {
			t.Fatalf("supervisor: %v", err)
		}
	case <-time.After(10 * w):
		t.Fatal("not fired after feeding stopped")
	}
	if took := time.Since(last); took < w {
		t.Errorf("fired %v after the last feed, before W = %v", took, w)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("victim ended with %v, want SIGKILL", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("victim still alive after the watchdog fired")
	}
}

// Armed at start: a node that never gets a lease (never feeds) is killed.
func TestSupervisorArmedAtStart(t *testing.T) {
	cmd, done := startVictim(t)
	_, res := supervise(t, 200*time.Millisecond, cmd)
	select {
	case err := <-res:
		if !errors.Is(err, ErrFired) {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("never fired")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("victim alive")
	}
}

func TestOpenRejectsPlainFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "not-a-watchdog")
	if _, err := Open(p); err == nil {
		t.Fatal("opened a missing path")
	}
	if err := exec.Command("touch", p).Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p); err == nil {
		t.Fatal("opened a plain file as a watchdog")
	}
}

// A clean leave disarms the supervisor: Run ends without a kill and the
// node lives on past W.
func TestSupervisorDisarmed(t *testing.T) {
	const w = 300 * time.Millisecond
	cmd, done := startVictim(t)
	sock, res := supervise(t, w, cmd)
	f, err := Open(sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Feed(); err != nil {
		t.Fatal(err)
	}
	if err := f.Disarm(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("disarmed supervisor: %v, want nil", err)
		}
	case <-time.After(10 * w):
		t.Fatal("the supervisor did not stop when disarmed")
	}
	select {
	case err := <-done:
		t.Fatalf("killed after a disarm: %v", err)
	case <-time.After(2 * w):
	}
}

// TestSupervisorSocketPrivate (issue 22): the socket is 0600 whatever the
// umask, and a datagram from another user (credentials forged here as
// root) neither feeds nor disarms: the node is killed at W.
func TestSupervisorSocketPrivate(t *testing.T) {
	const w = 300 * time.Millisecond
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	cmd, done := startVictim(t)
	sock, res := supervise(t, w, cmd)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("socket mode %04o, want 0600", m)
	}
	if os.Getuid() != 0 {
		t.Skip("forging another user's credentials needs root")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(filepath.Dir(sock), "stranger.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cred := syscall.UnixCredentials(&syscall.Ucred{Pid: int32(os.Getpid()), Uid: 4242, Gid: 4242})
	if _, _, err := c.WriteMsgUnix([]byte{'V'}, cred, &net.UnixAddr{Name: sock, Net: "unixgram"}); err != nil {
		t.Skipf("cannot send forged credentials: %v", err)
	}
	select {
	case err := <-res:
		if !errors.Is(err, ErrFired) {
			t.Fatalf("supervisor: %v, want ErrFired (a stranger's 'V' must not disarm it)", err)
		}
	case <-time.After(10 * w):
		t.Fatal("the supervisor did not fire")
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the node was not killed")
	}
}
