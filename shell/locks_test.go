package shell

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
)

// lockNode serves the admin API over a fake node with a fake lock manager.
func lockNode(t *testing.T) (string, *apitest.Node) {
	t.Helper()
	f := apitest.New()
	f.DLM = apitest.NewLocks(1)
	return serve(t, f), f
}

func newLockShell(t *testing.T, sock string) (*Shell, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	s := &Shell{Client: NewClient(sock), Stdout: out}
	t.Cleanup(s.CloseLocks)
	return s, out
}

func TestShellLockUnlockLocks(t *testing.T) {
	sock, f := lockNode(t)
	ctx := t.Context()
	a, aout := newLockShell(t, sock)
	b, bout := newLockShell(t, sock)
	if err := a.Exec(ctx, "lock R"); err != nil || !strings.Contains(aout.String(), "R: granted EX (lock ") {
		t.Fatalf("lock R: %v %q", err, aout.String())
	}
	if err := b.Exec(ctx, "lock R --nowait"); err == nil || !strings.Contains(err.Error(), "R is busy") {
		t.Fatalf("lock R --nowait while held: %v", err)
	}
	if err := b.Exec(ctx, "lock R --timeout 30ms --mode pr"); err == nil || !strings.Contains(err.Error(), "timed out after 30ms waiting for R") {
		t.Fatalf("lock R --timeout: %v", err)
	}
	if err := a.Exec(ctx, "lock Q --lockspace app --mode PR"); err != nil {
		t.Fatal(err)
	}
	// The table, for people and as JSON.
	var tab bytes.Buffer
	if err := (&Shell{Client: NewClient(sock), Stdout: &tab}).Exec(ctx, "locks"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(tab.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RESOURCE") || !strings.Contains(lines[0], "WANTED") ||
		!strings.HasPrefix(lines[1], "app/Q ") || !strings.Contains(lines[1], " PR ") ||
		!strings.HasPrefix(lines[2], "default/R ") || !strings.Contains(lines[2], " granted ") || !strings.Contains(lines[2], " EX ") {
		t.Fatalf("locks:\n%s", tab.String())
	}
	tab.Reset()
	if err := (&Shell{Client: NewClient(sock), Stdout: &tab}).Exec(ctx, "locks --lockspace app --json"); err != nil {
		t.Fatal(err)
	}
	var doc apitypes.LocksDoc
	dec := json.NewDecoder(&tab)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || len(doc.Resources) != 1 || doc.Resources[0].Name != "Q" || doc.Resources[0].Granted[0].Granted != "PR" {
		t.Fatalf("locks --json: %+v %v", doc, err)
	}

	// b waits for R; a sees a blocking notice before its next command's output.
	done := make(chan error, 1)
	go func() { done <- b.Exec(ctx, "lock R") }()
	waitFor(t, func() bool { tb := f.DLM.Table(""); return len(tb) == 2 && len(tb[0].Waiting) == 1 }) // R ("") first
	if err := a.Exec(ctx, "unlock R"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aout.String(), "note: a request for EX waits behind your lock R\nR: released\n") {
		t.Fatalf("no blocking note before unlock's output:\n%s", aout.String())
	}
	if err := <-done; err != nil || !strings.Contains(bout.String(), "R: granted EX") {
		t.Fatalf("b's lock after a's unlock: %v %q", err, bout.String())
	}
	if err := a.Exec(ctx, "unlock R"); err == nil || !strings.Contains(err.Error(), "holds no lock R (it holds: app/Q)") {
		t.Fatalf("unlock of a lock not held: %v", err)
	}
	if err := a.Exec(ctx, "unlock --all"); err != nil || !strings.Contains(aout.String(), "app/Q: released") {
		t.Fatalf("unlock --all: %v %q", err, aout.String())
	}
	// Closing the shell's session releases what it holds.
	b.CloseLocks()
	waitFor(t, func() bool { return len(f.DLM.Table("")) == 0 })
	if err := a.Exec(ctx, "lock R --nowait"); err != nil {
		t.Fatalf("R after b's session closed: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestShellUnlockCompletion(t *testing.T) {
	sock, _ := lockNode(t)
	s, _ := newLockShell(t, sock)
	if err := s.Exec(t.Context(), "lock backup"); err != nil {
		t.Fatal(err)
	}
	c := &completer{s: s}
	if got, _ := c.candidates("unlock "); !strings.Contains(strings.Join(got, " "), "backup") {
		t.Fatalf("unlock completes %v", got)
	}
	if got, _ := c.candidates("lock x --mode "); strings.Join(got, " ") != "NL CR CW PR PW EX" {
		t.Fatalf("--mode completes %v", got)
	}
}

// runLockCmd runs `corral lock` in-process with an environment.
func runLockCmd(t *testing.T, owner string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	env := Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == apitypes.LockOwnerEnv {
			return owner
		}
		return ""
	}}
	code := runLock(args, env)
	return code, out.String(), errb.String()
}

func TestCorralLock(t *testing.T) {
	sock, f := lockNode(t)
	// The command's status and output; CORRAL_LOCK_OWNER in its environment.
	code, out, errs := runLockCmd(t, "", "--socket", sock, "R", "--", "sh", "-c", `echo "owner=$CORRAL_LOCK_OWNER"; exit 3`)
	if code != 3 || !strings.HasPrefix(out, "owner=n1:") || errs != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	waitFor(t, func() bool { return len(f.DLM.Table("")) == 0 && f.DLM.Sessions() == 0 })

	// Busy with --nowait; timed out with --timeout: exit 1, said on stderr.
	holder, _ := newLockShell(t, sock)
	if err := holder.Exec(t.Context(), "lock R"); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runLockCmd(t, "", "--socket", sock, "--nowait", "R", "--", "echo", "ran")
	if code != 1 || out != "" || !strings.Contains(errs, "R is busy (--nowait)") {
		t.Fatalf("--nowait: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, out, errs = runLockCmd(t, "", "--socket", sock, "--timeout", "40ms", "--mode", "PR", "R", "--", "echo", "ran")
	if code != 1 || out != "" || !strings.Contains(errs, "timed out after 40ms waiting for R") {
		t.Fatalf("--timeout: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// A PR lock shares with PR: a lockspace of its own is another resource.
	code, _, errs = runLockCmd(t, "", "--socket", sock, "--lockspace", "other", "R", "--", "true")
	if code != 0 {
		t.Fatalf("other lockspace: exit %d %q", code, errs)
	}
	holder.CloseLocks()

	// The lock is lost while the command runs: its process group is killed.
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks")
	res := make(chan [3]any, 1)
	go func() {
		c, o, e := runLockCmd(t, "", "--socket", sock, "R", "--", "sh", "-c",
			`echo start >> `+marks+`; (sleep 30; echo child >> `+marks+`) & sleep 30; echo end >> `+marks)
		res <- [3]any{c, o, e}
	}()
	waitFor(t, func() bool { b, _ := os.ReadFile(marks); return string(b) == "start\n" })
	f.DLM.LoseAll()
	select {
	case r := <-res:
		if r[0].(int) != 1 || !strings.Contains(r[2].(string), "lost the lock R while sh ran") || !strings.Contains(r[2].(string), "killed its process group") {
			t.Fatalf("lost: %v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("corral lock did not end when its lock was lost")
	}
	time.Sleep(50 * time.Millisecond)
	if b, _ := os.ReadFile(marks); string(b) != "start\n" {
		t.Fatalf("the command's group went on: %q", b)
	}

	// A nested corral lock joins the outer owner.
	outer, _ := newLockShell(t, sock)
	if err := outer.Exec(t.Context(), "lock A"); err != nil {
		t.Fatal(err)
	}
	owner := outer.locks.conn.Owner()
	code, out, errs = runLockCmd(t, owner, "--socket", sock, "B", "--", "sh", "-c", `echo "$CORRAL_LOCK_OWNER"`)
	if code != 0 || strings.TrimSpace(out) != owner {
		t.Fatalf("nested: exit %d, stdout %q (want owner %s), stderr %q", code, out, owner, errs)
	}
	code, _, errs = runLockCmd(t, "n7:3", "--socket", sock, "B", "--", "true")
	if code != 1 || !strings.Contains(errs, "is on node n7") {
		t.Fatalf("owner on another node: exit %d %q", code, errs)
	}

	// Usage errors exit 2; --help prints the help.
	for _, args := range [][]string{{"R"}, {"--", "true"}, {"--mode", "ZZ", "R", "--", "true"}, {"--timeout", "x", "R", "--", "true"}, {"--frob", "R", "--", "true"}} {
		if code, _, errs := runLockCmd(t, "", args...); code != 2 || !strings.Contains(errs, "corral lock: ") {
			t.Errorf("%q: exit %d %q", args, code, errs)
		}
	}
	if code, out, _ := runLockCmd(t, "", "--help"); code != 0 || !strings.Contains(out, "Usage: corral lock") || !strings.Contains(out, "deadlock") {
		t.Errorf("--help: %d %q", code, out)
	}
}

// TestLuaRunLocks: lua run's lock module locks through the admin socket's
// session protocol: the dead-man example's monitor takes over once the
// worker's shell session is gone, and a script's value block round-trips.
func TestLuaRunLocks(t *testing.T) {
	sock, f := lockNode(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "s.lua")
	os.WriteFile(script, []byte(`local lock = require("lock")
local a = assert(lock.acquire{name = "V", mode = "EX"})
local b, st = lock.acquire{name = "V", mode = "PR", flags = {"noqueue", "noqueuebast"}}
assert(a:wait_blocking(5) == "PR")
assert(a:convert{mode = "NL", lvb = "hi"})
local c = assert(lock.acquire{name = "V", mode = "PR", valblk = true})
local t0, why = lock.acquire{name = "V", mode = "EX", timeout = 0.05}
return st, (c:lvb()), why`), 0o644)
	var out syncBuffer
	s := &Shell{Client: NewClient(sock), Stdout: &out}
	if err := s.Exec(t.Context(), "lua run "+script); err != nil || out.String() != "EAGAIN\thi\tETIMEDOUT\n" {
		t.Fatalf("lua run: %v %q", err, out.String())
	}
	waitFor(t, func() bool { return f.DLM.Sessions() == 0 })

	holder, _ := newLockShell(t, sock)
	if err := holder.Exec(t.Context(), "lock deadman.job1"); err != nil {
		t.Fatal(err)
	}
	var mout syncBuffer
	m := &Shell{Client: NewClient(sock), Stdout: &mout}
	done := make(chan error, 1)
	go func() {
		done <- m.Exec(t.Context(), "lua run ../examples/lua/automation/deadman.lua monitor job1 'echo taking over'")
	}()
	waitFor(t, func() bool { tb := f.DLM.Table(""); return len(tb) == 1 && len(tb[0].Waiting) == 1 })
	holder.CloseLocks() // the worker's session is gone
	select {
	case err := <-done:
		if err != nil || !strings.Contains(mout.String(), "taking over\n") || !strings.HasSuffix(mout.String(), "monitor job1: took over\n") {
			t.Fatalf("monitor: %v %q", err, mout.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the monitor did not take over")
	}
}
