package node

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/cdb"
	"github.com/corral-ha/corral/core/config"
)

// diskFullChild is set in the environment of the test binary that runs
// TestDiskFullRefusesWrites inside its own mount namespace.
const diskFullChild = "CORRAL_TEST_DISKFULL_CHILD"

// TestDiskFullRefusesWrites (issue 21): the data directory on a small
// tmpfs, mounted in a private mount namespace (unshare -m: the host's
// file systems are never filled), that is then filled up:
//   - a config DB write is refused with "disk full under DATA_DIR" and
//     what to do, and nothing is written; the node keeps running and
//     keeps its data;
//   - once space returns, writes are taken again;
//   - a write that runs out of space below the check (ENOSPC from the
//     store) stops the node with the same reason; started again once
//     there is space, it has all its acknowledged data.
func TestDiskFullRefusesWrites(t *testing.T) {
	if os.Getenv(diskFullChild) == "" {
		if out, err := exec.Command("unshare", "-m", "--propagation", "private", "true").CombinedOutput(); err != nil {
			t.Skipf("cannot make a private mount namespace to fill a tmpfs in (unshare -m needs root): %v %s", err, out)
		}
		cmd := exec.Command("unshare", "-m", "--propagation", "private", os.Args[0], "-test.run=^TestDiskFullRefusesWrites$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), diskFullChild+"=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("in a private mount namespace: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestDiskFullRefusesWrites") {
			t.Fatalf("the test did not pass in the namespace:\n%s", out)
		}
		t.Logf("in a private mount namespace:\n%s", out)
		return
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=16m,mode=0700"); err != nil {
		t.Fatalf("mount a tmpfs on %s (in a private mount namespace): %v", dir, err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	paths := writeCluster(t, dir, 244, 1)
	cn := startNodes(t, paths, nodeSetup{})[0]
	n := cn.n
	dataDir := n.cfg.DataDir
	if !strings.HasPrefix(dataDir, dir) {
		t.Fatalf("data dir %s is not on the tmpfs %s", dataDir, dir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	set := func(n *Node, k, v string) error {
		var err error
		eventually(t, 15*time.Second, "a write that is not refused for no quorum", func() bool {
			_, err = n.CDBSet(ctx, k, []byte(v))
			var nq cdb.ErrNoQuorum
			return !errors.As(err, &nq)
		})
		return err
	}
	get := func(n *Node, k string) string {
		kv, found, _, err := n.CDBGet(k)
		if err != nil || !found {
			return ""
		}
		return string(kv.Value)
	}
	if err := set(n, "/app/a", `"v1"`); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	fill := func() {
		f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatal(err)
				}
				return
			}
		}
	}
	fill()
	err := set(n, "/app/b", `"v2"`)
	want := "disk full under " + dataDir + " ("
	t.Logf("a write on a full disk: %v", err)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "nothing was written; free space there") {
		t.Fatalf("a write on a full disk: %v; want ErrDiskFull saying %q and what to do", err, want)
	}
	select {
	case err := <-cn.done:
		t.Fatalf("the node stopped on a full disk: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	if got := get(n, "/app/a"); got != `"v1"` {
		t.Fatalf("/app/a on a full disk: %q", got)
	}
	if got := get(n, "/app/b"); got != "" {
		t.Fatalf("a refused write was applied: /app/b = %q", got)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := set(n, "/app/b", `"v2"`); err != nil {
		t.Fatalf("a write once space returned: %v", err)
	}

	// Below the check: the store's own write runs out of space.
	n.minFree = 0
	fill()
	var last error
	for i := 0; i < 200 && last == nil; i++ {
		_, last = n.CDBSet(ctx, "/app/c", []byte(strings.Repeat("x", 32<<10)))
	}
	if last == nil {
		t.Skip("the store never ran out of space on a full tmpfs: its file had room")
	}
	var runErr error
	select {
	case runErr = <-cn.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the node did not stop after a write failed for space (%v)", last)
	}
	t.Logf("the node stopped: %v", runErr)
	if !errors.Is(runErr, ErrDiskFull) || !strings.Contains(runErr.Error(), "disk full under "+dataDir+": ") ||
		!strings.Contains(runErr.Error(), "free space there and start the node again: its data is intact") {
		t.Fatalf("the node stopped with %v; want ErrDiskFull naming %s and what to do", runErr, dataDir)
	}
	cn.done <- runErr // for the cleanup's stop
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(paths[0])
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	again, err := Open(cfg, n.opt)
	if err != nil {
		t.Fatalf("start again once space returned: %v", err)
	}
	defer again.Close()
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- again.Run(rctx) }()
	defer func() { rcancel(); <-done }()
	for _, kv := range [][2]string{{"/app/a", `"v1"`}, {"/app/b", `"v2"`}} {
		eventually(t, 15*time.Second, kv[0]+" after the restart", func() bool { return get(again, kv[0]) == kv[1] })
	}
	if err := set(again, "/app/d", `"v3"`); err != nil {
		t.Fatalf("a write after the restart: %v", err)
	}
}
