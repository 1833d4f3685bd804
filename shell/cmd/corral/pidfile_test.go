package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/corral-ha/corral/lua"
	"github.com/corral-ha/corral/shell/pidfile"
)

// TestWritePIDFileNoFollow (issue 22): a symlink planted at the pid file's
// temporary name is not written through; the pid file holds the pid and
// pid_file.id this process's identity.
func TestWritePIDFileNoFollow(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "corral.pid")
	for _, link := range []string{path + ".tmp", path + ".id." + strconv.Itoa(os.Getpid()) + ".tmp"} {
		if err := os.Symlink(victim, link); err != nil {
			t.Fatal(err)
		}
	}
	if err := writePIDFile(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	if pid, err := pidfile.Read(path); err != nil || pid != os.Getpid() {
		t.Fatalf("pid file: %d %v", pid, err)
	}
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("pid file is not a regular file: %v %v", fi, err)
	}
	if !lua.PIDFileIsOf(path, os.Getpid()) {
		t.Fatal("pid_file.id does not name this process")
	}
	if lua.PIDFileIsOf(path, os.Getppid()) {
		t.Fatal("pid_file.id names the parent too")
	}
}

// TestWatchdogTargetIdentity (issue 22): the watchdog kills the pid of its
// --pid-file only while the pid file's identity names that process.
func TestWatchdogTargetIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "corral.pid")
	if err := writePIDFile(path); err != nil {
		t.Fatal(err)
	}
	if p, why := watchdogTarget(0, path); p != os.Getpid() {
		t.Fatalf("the node's own pid file: %d %s", p, why)
	}
	other := exec.Command("sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = other.Process.Kill(); _ = other.Wait() }()
	// the pid file now names another process (a reused pid), the identity
	// is still the node's
	if err := os.WriteFile(path, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, why := watchdogTarget(0, path); p != 0 || !strings.Contains(why, "no longer the node") {
		t.Fatalf("a reused pid: would kill %d (%s)", p, why)
	}
}
