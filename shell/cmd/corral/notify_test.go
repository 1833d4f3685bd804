package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeNotifySocket plays systemd's side of sd_notify: a datagram socket
// whose path is in $NOTIFY_SOCKET; it returns what arrives on it.
func fakeNotifySocket(t *testing.T) <-chan string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	got := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	return got
}

// TestNotifySystemd: the message reaches $NOTIFY_SOCKET; without it,
// nothing is sent and nothing fails.
func TestNotifySystemd(t *testing.T) {
	got := fakeNotifySocket(t)
	if err := notifySystemd("READY=1"); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "READY=1" {
			t.Fatalf("got %q, want READY=1", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing arrived on NOTIFY_SOCKET")
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := notifySystemd("READY=1"); err != nil {
		t.Fatalf("without NOTIFY_SOCKET: %v", err)
	}
}

// TestAgentNotifiesReady runs `corral agent` on a one-node cluster under a
// fake systemd: READY=1 arrives once the admin socket answers, STOPPING=1
// after SIGTERM, and the agent exits 0 (Type=notify in corral.service).
func TestAgentNotifiesReady(t *testing.T) {
	got := fakeNotifySocket(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster.key")
	var out, errb bytes.Buffer
	if code := run([]string{"keygen", key}, &out, &errb); code != 0 {
		t.Fatalf("keygen: %d %s", code, errb.String())
	}
	port := freeUDPPort(t)
	cfg := filepath.Join(dir, "corral.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`cluster = "t"
node = "a"
key_file = "cluster.key"
data_dir = "data"
admin_socket = "corral.sock"
port = %d
[[nodes]]
name = "a"
id = 1
addresses = ["127.0.0.1"]
[dns]
listen = []
`, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	var aout, aerr syncBuffer
	go func() { done <- run([]string{"agent", "--config", cfg}, &aout, &aerr) }()
	select {
	case m := <-got:
		if m != "READY=1" {
			t.Fatalf("first notification %q, want READY=1", m)
		}
	case code := <-done:
		t.Fatalf("the agent exited %d before READY=1: %s", code, aerr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("no READY=1 within 60 s: %s", aerr.String())
	}
	if c, err := net.Dial("unix", filepath.Join(dir, "corral.sock")); err != nil {
		t.Fatalf("READY=1 but the admin socket does not answer: %v", err)
	} else {
		c.Close()
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil { // caught by the agent
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("agent exit %d: %s", code, aerr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the agent did not stop within 60 s of SIGTERM: %s", aerr.String())
	}
	select {
	case m := <-got:
		if m != "STOPPING=1" {
			t.Fatalf("second notification %q, want STOPPING=1", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no STOPPING=1 after SIGTERM")
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// syncBuffer is a strings.Builder safe for the agent's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
