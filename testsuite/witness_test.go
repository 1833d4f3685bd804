package testsuite

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startProc starts the corral binary detached with its output in a log
// file, and kills it at cleanup.
func startProc(t *testing.T, dir, logName string, args ...string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(corralBin(t), args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, logName))
			t.Logf("--- %s:\n%s", logName, b)
		}
	})
	return cmd
}

// TestWitnessKeepsTwoNodesQuorate: two nodes and a witness, `corral
// arbiter` or a disk witness file. When one node dies, the survivor holds 1
// of 2 votes, a tie; the witness's vote breaks it and the survivor stays
// quorate. Without the witness it would not be: stop the arbiter (remove
// the disk file) and the survivor loses quorum when the vote expires.
func TestWitnessKeepsTwoNodesQuorate(t *testing.T) {
	for _, mode := range []string{"arbiter", "disk"} {
		t.Run(mode, func(t *testing.T) { testWitness(t, mode) })
	}
}

func testWitness(t *testing.T, mode string) {
	dir := t.TempDir()
	if r := corral(t, dir, "keygen"); r.code != 0 {
		t.Fatal(r.stderr)
	} else if err := os.WriteFile(filepath.Join(dir, "cluster.key"), []byte(r.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenPacket("udp4", "127.69.0.1:0")
	if err != nil {
		t.Skipf("cannot bind 127.69.0.1: %v", err)
	}
	port := l.LocalAddr().(*net.UDPAddr).Port
	l.Close()
	tl, err := net.Listen("tcp", "127.69.0.9:0")
	if err != nil {
		t.Skipf("cannot bind 127.69.0.9: %v", err)
	}
	arbAddr := tl.Addr().String()
	tl.Close()
	witnessConf := fmt.Sprintf("arbiter = %q", arbAddr)
	var arb *exec.Cmd
	if mode == "arbiter" {
		arb = startProc(t, dir, "arbiter.log", "arbiter", "--listen", arbAddr, "--data", filepath.Join(dir, "arb"),
			"--key", filepath.Join(dir, "cluster.key"), "--lease", "1s")
	} else {
		witnessConf = `disk = "../witness.img"`
	}
	for k := 1; k <= 2; k++ {
		nd := filepath.Join(dir, fmt.Sprintf("n%d", k))
		if err := os.MkdirAll(nd, 0o700); err != nil {
			t.Fatal(err)
		}
		cfg := fmt.Sprintf(`cluster = "wit"
node = "n%d"
key_file = "../cluster.key"
data_dir = "data"
admin_socket = "corral.sock"
pid_file = "corral.pid"
port = %d

[[nodes]]
name = "n1"
id = 1
addresses = ["127.69.0.1", "127.69.1.1"]

[[nodes]]
name = "n2"
id = 2
addresses = ["127.69.0.2", "127.69.1.2"]

[quorum.witness]
%s

[dns]
listen = []
`, k, port, witnessConf)
		if err := os.WriteFile(filepath.Join(nd, "corral.toml"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := corral(t, dir, "check-config", filepath.Join(nd, "corral.toml")); r.code != 0 {
			t.Fatalf("check-config: %s", r.stderr)
		}
	}
	startProc(t, dir, "n1.log", "agent", "--config", filepath.Join(dir, "n1", "corral.toml"))
	n2 := startProc(t, dir, "n2.log", "agent", "--config", filepath.Join(dir, "n2", "corral.toml"))
	both := []string{"n1", "n2"}
	eventually(t, 10*time.Second, "n1 and n2 in one quorate view", func() error {
		return sameView(t, dir, both, both, true)
	})
	if err := n2.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "n1 alone, quorate with the witness's vote", func() error {
		return sameView(t, dir, []string{"n1"}, []string{"n1"}, true)
	})
	st, err := viewOf(t, dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Primary {
		t.Fatalf("n1's view is not primary: %+v", st)
	}
	if mode == "arbiter" {
		if b, _ := os.ReadFile(filepath.Join(dir, "arbiter.log")); !strings.Contains(string(b), "vote granted") {
			t.Fatalf("the arbiter logged no grant:\n%s", b)
		}
		if err := arb.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	} else if err := os.Remove(filepath.Join(dir, "witness.img")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 8*time.Second, "n1 loses quorum when the witness's vote expires", func() error {
		st, err := viewOf(t, dir, "n1")
		if err != nil {
			return err
		}
		if st.Quorate {
			return fmt.Errorf("n1 still quorate")
		}
		return nil
	})
}
