package testsuite

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmux drives a terminal session for the shell tests.
type tmux struct {
	t       *testing.T
	session string
}

func (m *tmux) run(args ...string) (string, error) {
	// A server of its own (-L), so the test never touches the user's tmux.
	out, err := exec.Command("tmux", append([]string{"-L", m.session}, args...)...).CombinedOutput()
	return string(out), err
}

func (m *tmux) keys(keys ...string) {
	m.t.Helper()
	if out, err := m.run(append([]string{"send-keys", "-t", m.session}, keys...)...); err != nil {
		m.t.Fatalf("tmux send-keys %q: %v %s", keys, err, out)
	}
}

func (m *tmux) screen() string {
	out, err := m.run("capture-pane", "-p", "-t", m.session)
	if err != nil {
		return "(no pane: " + strings.TrimSpace(out) + ")"
	}
	return out
}

// lastLine is the last non-empty line on the screen (the prompt line).
func (m *tmux) lastLine() string {
	lines := strings.Split(strings.TrimRight(m.screen(), "\n "), "\n")
	return lines[len(lines)-1]
}

func (m *tmux) waitScreen(what string, cond func(screen string) bool) {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := m.screen()
		if cond(s) {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("timed out waiting for %s; the screen:\n%s", what, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// atPrompt: the last line is an empty prompt (capture-pane drops the
// trailing blank).
func (m *tmux) atPrompt() bool { return strings.HasSuffix(strings.TrimRight(m.lastLine(), " "), ">") }

func (m *tmux) alive() bool {
	_, err := m.run("has-session", "-t", m.session)
	return err == nil
}

// TestShellInTerminal runs the interactive shell in a real terminal
// (tmux): completion, a command, history, an unknown command, Ctrl-D.
func TestShellInTerminal(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed (.ci/run installs it): the interactive shell test needs a real terminal")
	}
	dir := t.TempDir()
	startDemo(t, dir, "127.72", 3)
	all := []string{"n1", "n2", "n3"}
	eventually(t, 10*time.Second, "one quorate view of three", func() error {
		return sameView(t, dir, all, all, true)
	})
	home := t.TempDir()
	m := &tmux{t: t, session: fmt.Sprintf("corral-shell-%d", os.Getpid())}
	shellCmd := fmt.Sprintf("env HOME=%s XDG_CONFIG_HOME= LANG=C.UTF-8 TERM=xterm %s shell --socket %s",
		home, corralBin(t), filepath.Join(dir, "n1", "corral.sock"))
	if out, err := m.run("new-session", "-d", "-s", m.session, "-x", "200", "-y", "50", shellCmd); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { _, _ = m.run("kill-server") })

	m.waitScreen("the prompt", func(string) bool { return m.atPrompt() && strings.HasPrefix(m.lastLine(), "demo n1 ") })

	// stat + Tab completes to status (sta is also start and stop).
	m.keys("stat", "Tab")
	m.waitScreen("status completed", func(string) bool { return strings.HasSuffix(strings.TrimRight(m.lastLine(), " "), "> status") })
	m.keys("Enter")
	m.waitScreen("the three nodes", func(s string) bool {
		return strings.Contains(s, "NODE") && strings.Contains(s, "\nn1 ") && strings.Contains(s, "\nn2 ") && strings.Contains(s, "\nn3 ")
	})
	m.waitScreen("the next prompt", func(string) bool { return m.atPrompt() })

	// The up arrow recalls the command.
	m.keys("Up")
	m.waitScreen("status recalled", func(string) bool { return strings.HasSuffix(strings.TrimRight(m.lastLine(), " "), "> status") })
	m.keys("C-u") // clear the line again

	// An unknown command: a helpful error, and the shell goes on.
	m.keys("frobnicate", "Enter")
	m.waitScreen("the error", func(s string) bool {
		return strings.Contains(s, `unknown command "frobnicate"`) && strings.Contains(s, "type `help` for the list")
	})
	m.waitScreen("a prompt after the error", func(string) bool { return m.atPrompt() })
	m.keys("nodes", "Enter")
	m.waitScreen("nodes after the error", func(s string) bool { return strings.Contains(s, "ROLE") })

	// The history went to the temporary HOME.
	hist := filepath.Join(home, ".config", "corral", "history")
	eventually(t, 5*time.Second, "the history file", func() error {
		b, err := os.ReadFile(hist)
		if err == nil && !strings.Contains(string(b), "status") {
			err = fmt.Errorf("history %q", b)
		}
		return err
	})

	// Ctrl-D exits: the session ends.
	m.waitScreen("a prompt", func(string) bool { return m.atPrompt() })
	m.keys("C-d")
	eventually(t, 5*time.Second, "the shell exits on Ctrl-D", func() error {
		if m.alive() {
			return fmt.Errorf("still running; screen:\n%s", m.screen())
		}
		return nil
	})
}
