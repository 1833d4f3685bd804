package testsuite

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWatchdogKillsCutOffNode: n2 of a demo is restarted with [fence]
// watchdog pointing at a `corral watchdog` supervisor (W = 3s) that
// watches its pid file. While n2 holds its lease it feeds it and lives
// past W; once both its peers are frozen (SIGSTOP) its lease lapses, it
// stops feeding (and logs why) and the supervisor SIGKILLs it.
func TestWatchdogKillsCutOffNode(t *testing.T) {
	const w = 3 * time.Second
	dir := t.TempDir()
	startDemo(t, dir, "127.101", 3, "--fence=false")
	pids := demoPIDs(t, dir, 3)
	if len(pids) != 3 {
		t.Fatalf("demo pids %v", pids)
	}
	t.Cleanup(func() { // before the demo's stop (cleanups run last first)
		for _, p := range []int{pids[0], pids[2]} {
			_ = syscall.Kill(p, syscall.SIGCONT)
		}
	})
	t.Cleanup(func() { // after the cleanups below ran, before the demo's stop
		if t.Failed() {
			for _, n := range []string{"n1", "n2", "n3"} {
				b, _ := os.ReadFile(filepath.Join(dir, n, "corral.log"))
				lines := strings.Split(strings.TrimSpace(string(b)), "\n")
				t.Logf("the end of %s's log:\n%s", n, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	// n2 leaves cleanly, then comes back with the watchdog
	if err := syscall.Kill(pids[1], syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "n2 stopped", func() error {
		if alive(pids[1]) {
			return errors.New("n2 still runs")
		}
		return nil
	})
	n2 := filepath.Join(dir, "n2")
	sock := filepath.Join(n2, "wd.sock")
	sup := exec.Command(corralBin(t), "watchdog", "--socket", sock, "--timeout", w.String(), "--pid-file", filepath.Join(n2, "corral.pid"))
	var supOut strings.Builder
	sup.Stdout, sup.Stderr = &supOut, &supOut
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Wait() }()
	t.Cleanup(func() {
		_ = sup.Process.Kill()
		<-supDone
	})
	eventually(t, 10*time.Second, "the supervisor's socket", func() error {
		_, err := os.Stat(sock)
		return err
	})
	cfgPath := filepath.Join(n2, "corral.toml")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	src := strings.Replace(string(b), "[debug]", fmt.Sprintf("[fence]\nwatchdog = %q\nwatchdog_timeout = %q\n\n[debug]", sock, w.String()), 1)
	if err := os.WriteFile(cfgPath, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir, "--web=false"); r.code != 0 {
		t.Fatalf("demo restart of n2: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 20*time.Second, "n2 back in a quorate view of three", func() error {
		var st struct {
			Quorate bool     `json:"quorate"`
			Members []string `json:"members"`
		}
		if err := shellJSON(t, dir, "n2", "status", &st); err != nil {
			return err
		}
		if !st.Quorate || len(st.Members) != 3 {
			return fmt.Errorf("n2: quorate %v members %v", st.Quorate, st.Members)
		}
		return nil
	})
	n2pid := demoPIDs(t, dir, 3)[1]
	// fed while quorate: alive well past W
	select {
	case err := <-supDone:
		t.Fatalf("the supervisor ended while n2 held its lease: %v\n%s", err, supOut.String())
	case <-time.After(w + w/2):
	}
	if !alive(n2pid) {
		t.Fatal("n2 died while it held its lease")
	}
	for _, p := range []int{pids[0], pids[2]} {
		if err := syscall.Kill(p, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	stopped := time.Now()
	select {
	case err := <-supDone:
		supDone <- err // for the cleanup
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("supervisor ended with %v, want exit 3 (fired)\n%s", err, supOut.String())
		}
	case <-time.After(4 * w):
		t.Fatalf("the supervisor did not fire within %v of n2's peers freezing\n%s", 4*w, supOut.String())
	}
	took := time.Since(stopped)
	// W after the last feed, which came at most a lease and a tick after
	// the freeze (plus slack on a loaded machine)
	if took < w || took > w+2*time.Second {
		t.Errorf("the supervisor fired %v after n2's peers froze, want W = %v after n2's lease lapsed", took, w)
	}
	eventually(t, 5*time.Second, "n2 killed", func() error {
		if alive(n2pid) {
			return fmt.Errorf("n2 (pid %d) alive", n2pid)
		}
		return nil
	})
	logb, _ := os.ReadFile(filepath.Join(n2, "corral.log"))
	if !strings.Contains(string(logb), "watchdog: stopped feeding") {
		t.Fatalf("n2's log does not say it stopped feeding:\n%s", logb)
	}
	t.Logf("the supervisor fired %v after n2's peers froze (W = %v)", took, w)
}
