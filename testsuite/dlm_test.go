package testsuite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lockProc is a `corral lock` running in the background.
type lockProc struct {
	cmd          *exec.Cmd
	stdout, errb bytes.Buffer
	done         chan struct{}
	code         int
}

// startLock runs `corral lock --socket <dir>/<node>/corral.sock ARGS...`
// with CORRAL_SOCKET set to the same socket (so that a nested corral lock
// finds it as the shell does).
func startLock(t *testing.T, dir, node string, args ...string) *lockProc {
	t.Helper()
	sock := filepath.Join(dir, node, "corral.sock")
	p := &lockProc{done: make(chan struct{})}
	p.cmd = exec.Command(corralBin(t), append([]string{"lock", "--socket", sock}, args...)...)
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), "CORRAL_SOCKET="+sock, "CORRAL="+corralBin(t))
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.errb
	p.cmd.WaitDelay = 5 * time.Second // a command's children may keep the pipes open
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
		} else if err != nil {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
			return
		default:
		}
		// SIGTERM: corral lock passes it to its command's process group.
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits for the process to end and returns its exit status.
func (p *lockProc) wait(t *testing.T, within time.Duration, what string) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(within):
		t.Fatalf("%s: corral lock still running after %s\nstdout: %s\nstderr: %s", what, within, p.stdout.String(), p.errb.String())
	}
	return 0
}

type lockTableJSON struct {
	Resources []struct {
		Lockspace, Name, Master, Directory string
		Granted, Converting, Waiting       []struct {
			Node, Owner, Granted, Wanted string
		}
	} `json:"resources"`
}

// waiting returns how many requests wait on a resource (per node's table).
func lockWaiting(t *testing.T, dir, node, name string) (granted, waiting int, err error) {
	var doc lockTableJSON
	if err := shellJSON(t, dir, node, "locks", &doc); err != nil {
		return 0, 0, err
	}
	for _, r := range doc.Resources {
		if r.Name == name {
			return len(r.Granted), len(r.Waiting) + len(r.Converting), nil
		}
	}
	return 0, 0, nil
}

// TestLockMutualExclusion: `corral lock` commands on different nodes
// never run their commands at once: each appends start and end marks to
// one file, and the marks never interleave.
func TestLockMutualExclusion(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.183", 3, "--fence=false")
	eventually(t, 30*time.Second, "a lock through n1", func() error {
		r := corral(t, dir, "lock", "--socket", filepath.Join(dir, "n1", "corral.sock"), "--timeout", "5s", "warmup", "--", "true")
		if r.code != 0 {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	marks := filepath.Join(dir, "marks")
	const perNode = 4
	var procs []*lockProc
	for i := 0; i < perNode; i++ {
		for _, node := range []string{"n1", "n2", "n3"} {
			id := fmt.Sprintf("%s-%d", node, i)
			procs = append(procs, startLock(t, dir, node, "R", "--", "sh", "-c",
				fmt.Sprintf(`echo "start %s" >> %s; sleep 0.05; echo "end %s" >> %s; echo ran %s`, id, marks, id, marks, id)))
		}
	}
	// Every command ran, alone: its start and end marks are next to each
	// other. A machine loaded enough to lapse a node's lease loses that
	// node's locks (the demo runs without fence devices here): a command
	// whose lock was lost before the grant never ran, one lost while it ran
	// was killed (its end mark is missing); both exit 1 saying "lost".
	lost := map[string]bool{}
	ran := 0
	for i, p := range procs {
		id := fmt.Sprintf("%s-%d", []string{"n1", "n2", "n3"}[i%3], i/3)
		code := p.wait(t, 90*time.Second, "lock "+id)
		switch {
		case code == 0 && p.stdout.String() == "ran "+id+"\n" && p.errb.Len() == 0:
			ran++
		case code == 1 && strings.Contains(p.errb.String(), "lost"):
			lost[id] = true
		default:
			t.Fatalf("lock %s: exit %d, stdout %q, stderr %q", id, code, p.stdout.String(), p.errb.String())
		}
	}
	if ran < len(procs)/2 {
		t.Fatalf("only %d of %d commands ran (%d lost): the machine is too loaded to say anything", ran, len(procs), len(lost))
	}
	b, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	running := ""
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		switch {
		case strings.HasPrefix(l, "start "):
			if running != "" && !lost[running] {
				t.Fatalf("commands overlapped at line %d (%s started while %s ran):\n%s", i+1, l, running, b)
			}
			running = strings.TrimPrefix(l, "start ")
		case l == "end "+running:
			running = ""
		default:
			t.Fatalf("line %d %q out of order:\n%s", i+1, l, b)
		}
	}
	// Shared modes share: PR holders on two nodes run at once (each waits
	// for the other's mark while holding its lock).
	a := filepath.Join(dir, "pr-a")
	bm := filepath.Join(dir, "pr-b")
	waitFile := func(f string) string {
		return fmt.Sprintf(`i=0; while [ ! -e %s ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; [ -e %s ]`, f, f)
	}
	p1 := startLock(t, dir, "n1", "--mode", "PR", "S", "--", "sh", "-c", "touch "+a+"; "+waitFile(bm))
	p2 := startLock(t, dir, "n2", "--mode", "PR", "S", "--", "sh", "-c", "touch "+bm+"; "+waitFile(a))
	if c1, c2 := p1.wait(t, 60*time.Second, "PR on n1"), p2.wait(t, 60*time.Second, "PR on n2"); c1 != 0 || c2 != 0 {
		t.Fatalf("PR holders did not share: %d %q, %d %q", c1, p1.errb.String(), c2, p2.errb.String())
	}
	// --nowait on a held lock: exit 1, "busy" on stderr, nothing on stdout.
	holder := startLock(t, dir, "n1", "H", "--", "sleep", "30")
	eventually(t, 20*time.Second, "H held", func() error {
		if g, _, err := lockWaiting(t, dir, "n3", "H"); err != nil || g != 1 {
			return fmt.Errorf("granted %d, %v", g, err)
		}
		return nil
	})
	r := corral(t, dir, "lock", "--socket", filepath.Join(dir, "n2", "corral.sock"), "--nowait", "H", "--", "echo", "ran")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "busy") {
		t.Fatalf("--nowait on a held lock: %+v", r)
	}
	r = corral(t, dir, "lock", "--socket", filepath.Join(dir, "n3", "corral.sock"), "--timeout", "300ms", "H", "--", "echo", "ran")
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "timed out") {
		t.Fatalf("--timeout on a held lock: %+v", r)
	}
	_ = holder.cmd.Process.Signal(syscall.SIGTERM) // forwarded to sleep's group: the command's status
	if code := holder.wait(t, 20*time.Second, "holder"); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("holder after SIGTERM: exit %d %q", code, holder.errb.String())
	}
}

// TestLockFencedHolder: kill -9 the holder's node; the waiter on another
// node runs its command only after node_fenced (the demo's process fence
// driver), and the holder's corral lock kills its command and says the lock
// is lost.
func TestLockFencedHolder(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.184", 3)
	eventually(t, 30*time.Second, "a lock through n2", func() error {
		r := corral(t, dir, "lock", "--socket", filepath.Join(dir, "n2", "corral.sock"), "--timeout", "5s", "warmup", "--", "true")
		if r.code != 0 {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	marks := filepath.Join(dir, "marks")
	holder := startLock(t, dir, "n2", "F", "--", "sh", "-c", "echo holder-start >> "+marks+"; sleep 60; echo holder-end >> "+marks)
	eventually(t, 20*time.Second, "the holder runs", func() error {
		if b, _ := os.ReadFile(marks); string(b) != "holder-start\n" {
			return fmt.Errorf("marks %q", b)
		}
		return nil
	})
	// The waiter's command saves n3's events as it starts: n2's
	// node_fenced must be among them.
	seen := filepath.Join(dir, "waiter-events.json")
	check := fmt.Sprintf(`"$CORRAL" shell --socket %s -c "events --json" > %s; echo waiter-start >> %s`,
		filepath.Join(dir, "n3", "corral.sock"), seen, marks)
	waiter := startLock(t, dir, "n3", "F", "--", "sh", "-c", check)
	eventually(t, 20*time.Second, "the waiter waits", func() error {
		if _, w, err := lockWaiting(t, dir, "n1", "F"); err != nil || w != 1 {
			return fmt.Errorf("waiting %d, %v", w, err)
		}
		return nil
	})
	pids := demoPIDs(t, dir, 3)
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := waiter.wait(t, 60*time.Second, "waiter"); code != 0 {
		t.Fatalf("waiter: exit %d %q", code, waiter.errb.String())
	}
	if code := holder.wait(t, 30*time.Second, "holder"); code != 1 || !strings.Contains(holder.errb.String(), "lost the lock F") ||
		!strings.Contains(holder.errb.String(), "killed its process group") {
		t.Fatalf("holder: exit %d %q", code, holder.errb.String())
	}
	if b, _ := os.ReadFile(marks); string(b) != "holder-start\nwaiter-start\n" {
		t.Fatalf("marks %q: want the holder's start, then the waiter's", b)
	}
	var evs []struct {
		Kind   string `json:"kind"`
		Target string `json:"target"`
	}
	b, err := os.ReadFile(seen)
	if err != nil || json.Unmarshal(b, &evs) != nil {
		t.Fatalf("the waiter's events: %v %q", err, b)
	}
	fenced := false
	for _, e := range evs {
		fenced = fenced || (e.Kind == "node_fenced" && e.Target == "n2")
	}
	if !fenced {
		t.Fatalf("the waiter ran before n3 saw node_fenced for n2: %+v", evs)
	}
	// The recovery is in the event stream with the purged node.
	eventually(t, 20*time.Second, "dlm_recovered purging n2", func() error {
		var evs []struct {
			Kind   string   `json:"kind"`
			Purged []string `json:"purged"`
			Took   string   `json:"took"`
		}
		if err := shellJSON(t, dir, "n1", "events", &evs); err != nil {
			return err
		}
		for _, e := range evs {
			if e.Kind == "dlm_recovered" && len(e.Purged) == 1 && e.Purged[0] == "n2" && e.Took != "" {
				return nil
			}
		}
		return fmt.Errorf("no dlm_recovered purging n2 in %+v", evs)
	})
}

// TestLockNestedDeadlock: `corral lock R1 -- sh -c 'corral lock R2 --
// work'` on one node and the reverse on another is one owner per node
// (the nested lock joins the outer one's owner), so the waits-for search
// sees the cycle and picks exactly one victim: its nested corral lock exits
// 1 saying "deadlock", its outer one then ends, and the other completes.
func TestLockNestedDeadlock(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.185", 3, "--fence=false")
	if r := corral(t, dir, "demo", "stop", "--dir", dir); r.code != 0 {
		t.Fatalf("demo stop: %d %s%s", r.code, r.stdout, r.stderr)
	}
	for k := 1; k <= 3; k++ {
		f, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("n%d", k), "corral.toml"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprint(f, "\n[dlm]\ndeadlock_timeout = \"500ms\"\n")
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if r := corral(t, dir, "demo", "--detach", "--dir", dir); r.code != 0 {
		t.Fatalf("demo --detach again: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	eventually(t, 30*time.Second, "locks through n1 and n2", func() error {
		for _, n := range []string{"n1", "n2"} {
			r := corral(t, dir, "lock", "--socket", filepath.Join(dir, n, "corral.sock"), "--timeout", "5s", "warmup", "--", "true")
			if r.code != 0 {
				return fmt.Errorf("%s: exit %d: %s", n, r.code, r.stderr)
			}
		}
		return nil
	})
	hold1, hold2 := filepath.Join(dir, "hold1"), filepath.Join(dir, "hold2")
	waitFile := func(f string) string {
		return fmt.Sprintf(`i=0; while [ ! -e %s ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`, f)
	}
	// Each outer command holds its lock, waits until the other holds its
	// own, then asks for the other's.
	p1 := startLock(t, dir, "n1", "R1", "--", "sh", "-c",
		"touch "+hold1+"; "+waitFile(hold2)+`; "$CORRAL" lock R2 -- echo one-done`)
	p2 := startLock(t, dir, "n2", "R2", "--", "sh", "-c",
		"touch "+hold2+"; "+waitFile(hold1)+`; "$CORRAL" lock R1 -- echo two-done`)
	c1 := p1.wait(t, 60*time.Second, "n1's")
	c2 := p2.wait(t, 60*time.Second, "n2's")
	victims := 0
	for i, p := range []*lockProc{p1, p2} {
		code := []int{c1, c2}[i]
		done := []string{"one-done", "two-done"}[i]
		switch {
		case code == 1 && strings.Contains(p.errb.String(), "deadlock") && !strings.Contains(p.stdout.String(), done):
			victims++
		case code == 0 && strings.TrimSpace(p.stdout.String()) == done && !strings.Contains(p.errb.String(), "deadlock"):
		default:
			t.Errorf("lock %d: exit %d, stdout %q, stderr %q", i+1, code, p.stdout.String(), p.errb.String())
		}
	}
	if victims != 1 {
		t.Fatalf("%d victims, want exactly 1:\n1: %d %q %q\n2: %d %q %q", victims, c1, p1.stdout.String(), p1.errb.String(), c2, p2.stdout.String(), p2.errb.String())
	}
}

// TestShellLockInTerminal: lock and unlock by hand in the interactive
// shell (tmux): the shell's session holds a lock across commands, a
// blocking notice shows before the next command's output, unlock
// completes the held lock's name, and leaving the shell releases what it
// holds.
func TestShellLockInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it): the interactive shell test needs a real terminal")
	}
	dir := t.TempDir()
	startDemo(t, dir, "127.186", 3, "--fence=false")
	n2 := filepath.Join(dir, "n2", "corral.sock")
	eventually(t, 30*time.Second, "a lock through n2", func() error {
		if r := corral(t, dir, "lock", "--socket", n2, "--timeout", "5s", "warmup", "--", "true"); r.code != 0 {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})
	home := t.TempDir()
	m := &tmux{t: t, session: fmt.Sprintf("corral-lock-%d", os.Getpid())}
	shellCmd := fmt.Sprintf("env HOME=%s XDG_CONFIG_HOME= LANG=C.UTF-8 TERM=xterm %s shell --socket %s",
		home, corralBin(t), filepath.Join(dir, "n1", "corral.sock"))
	if out, err := m.run("new-session", "-d", "-s", m.session, "-x", "200", "-y", "50", shellCmd); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = m.run("kill-server") })
	m.waitScreen("the prompt", func(string) bool { return m.atPrompt() && strings.HasPrefix(m.lastLine(), "demo n1 ") })

	m.keys("lock R", "Enter")
	m.waitScreen("R granted", func(s string) bool { return strings.Contains(s, "R: granted EX (lock ") })
	m.waitScreen("a prompt", func(string) bool { return m.atPrompt() })
	if r := corral(t, dir, "lock", "--socket", n2, "--nowait", "R", "--", "true"); r.code != 1 || !strings.Contains(r.stderr, "busy") {
		t.Fatalf("R from n2 while the shell holds it: %+v", r)
	}
	waiter := startLock(t, dir, "n2", "R", "--", "echo", "waiter ran")
	eventually(t, 20*time.Second, "n2's request waits", func() error {
		if _, w, err := lockWaiting(t, dir, "n3", "R"); err != nil || w != 1 {
			return fmt.Errorf("waiting %d, %v", w, err)
		}
		return nil
	})
	m.keys("locks", "Enter")
	m.waitScreen("the note and the table", func(s string) bool {
		return strings.Contains(s, "note: a request for EX waits behind your lock R") && strings.Contains(s, "default/R") && strings.Contains(s, "waiting")
	})
	m.waitScreen("a prompt", func(string) bool { return m.atPrompt() })
	m.keys("unlock ", "Tab")
	m.waitScreen("unlock R completed", func(string) bool { return strings.HasSuffix(strings.TrimRight(m.lastLine(), " "), "> unlock R") })
	m.keys("Enter")
	m.waitScreen("R released", func(s string) bool { return strings.Contains(s, "R: released") })
	if code := waiter.wait(t, 30*time.Second, "n2's waiter"); code != 0 || waiter.stdout.String() != "waiter ran\n" {
		t.Fatalf("waiter: %d %q %q", code, waiter.stdout.String(), waiter.errb.String())
	}
	m.waitScreen("a prompt", func(string) bool { return m.atPrompt() })
	m.keys("lock Q", "Enter")
	m.waitScreen("Q granted", func(s string) bool { return strings.Contains(s, "Q: granted EX") })
	m.waitScreen("a prompt", func(string) bool { return m.atPrompt() })
	m.keys("C-d")
	eventually(t, 5*time.Second, "the shell exits on Ctrl-D", func() error {
		if m.alive() {
			return fmt.Errorf("still running; screen:\n%s", m.screen())
		}
		return nil
	})
	eventually(t, 20*time.Second, "Q released with the shell", func() error {
		if r := corral(t, dir, "lock", "--socket", n2, "--nowait", "Q", "--", "true"); r.code != 0 {
			return fmt.Errorf("exit %d: %s", r.code, r.stderr)
		}
		return nil
	})

	// An interactive corral lock: its command (in its own process group)
	// reads the terminal, and Ctrl-C reaches it (exit 130).
	m2 := &tmux{t: t, session: fmt.Sprintf("corral-lockcmd-%d", os.Getpid())}
	lockCmd := fmt.Sprintf(`%s lock --socket %s R -- sh -c 'read x; echo "got $x"; sleep 30'; echo "rc=$?"; sleep 30`, corralBin(t), n2)
	if out, err := m2.run("new-session", "-d", "-s", m2.session, "-x", "200", "-y", "20", "sh", "-c", lockCmd); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = m2.run("kill-server") })
	eventually(t, 20*time.Second, "R held by the interactive corral lock", func() error {
		if g, _, err := lockWaiting(t, dir, "n1", "R"); err != nil || g != 1 {
			return fmt.Errorf("granted %d, %v", g, err)
		}
		return nil
	})
	m2.keys("hello", "Enter")
	m2.waitScreen("the command read the terminal", func(s string) bool { return strings.Contains(s, "got hello") })
	m2.keys("C-c")
	m2.waitScreen("Ctrl-C ended the command", func(s string) bool { return strings.Contains(s, "rc=130") })
}

// TestDeadmanOnCluster: the dead-man example through lua run on a real
// cluster: the monitor on n3 takes over as soon as the worker (a shell on
// n2) is killed, not before.
func TestDeadmanOnCluster(t *testing.T) {
	dir := t.TempDir()
	startDemo(t, dir, "127.187", 3, "--fence=false")
	eventually(t, 30*time.Second, "a lock through n2 and n3", func() error {
		for _, n := range []string{"n2", "n3"} {
			if r := corral(t, dir, "lock", "--socket", filepath.Join(dir, n, "corral.sock"), "--timeout", "5s", "warmup", "--", "true"); r.code != 0 {
				return fmt.Errorf("%s: exit %d: %s", n, r.code, r.stderr)
			}
		}
		return nil
	})
	script, err := filepath.Abs("../examples/lua/automation/deadman.lua")
	if err != nil {
		t.Fatal(err)
	}
	marks := filepath.Join(dir, "marks")
	luaRun := func(node string, args string) (*exec.Cmd, *bytes.Buffer, chan error) {
		var out bytes.Buffer
		cmd := exec.Command(corralBin(t), "shell", "--socket", filepath.Join(dir, node, "corral.sock"), "-c", "lua run "+script+" "+args)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		return cmd, &out, done
	}
	worker, _, wdone := luaRun("n2", "worker job1 'echo working >> "+marks+"; sleep 60'")
	eventually(t, 20*time.Second, "the worker holds deadman.job1", func() error {
		if g, _, err := lockWaiting(t, dir, "n1", "deadman.job1"); err != nil || g != 1 {
			return fmt.Errorf("granted %d, %v", g, err)
		}
		return nil
	})
	_, mout, mdone := luaRun("n3", "monitor job1 'echo took over >> "+marks+"'")
	eventually(t, 20*time.Second, "the monitor waits", func() error {
		if _, w, err := lockWaiting(t, dir, "n1", "deadman.job1"); err != nil || w != 1 {
			return fmt.Errorf("waiting %d, %v", w, err)
		}
		return nil
	})
	select {
	case err := <-mdone:
		t.Fatalf("the monitor ended while the worker lived: %v %s", err, mout.String())
	case <-time.After(300 * time.Millisecond):
	}
	if err := worker.Process.Signal(syscall.SIGKILL); err != nil { // the worker dies
		t.Fatal(err)
	}
	<-wdone
	select {
	case err := <-mdone:
		if err != nil || !strings.Contains(mout.String(), "monitor job1: took over") {
			t.Fatalf("monitor: %v %s", err, mout.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the monitor did not take over: %s", mout.String())
	}
	if b, _ := os.ReadFile(marks); string(b) != "working\ntook over\n" {
		t.Fatalf("marks %q", b)
	}
}
