package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/chzyer/readline"
)

// HistoryFile is where the interactive shell keeps its history:
// <user config dir>/corral/history ("" if there is no config dir).
func HistoryFile() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "corral", "history")
}

// utf8Locale reports whether the terminal's locale is UTF-8 (for the
// prompt's ✓ and ✗).
func utf8Locale(getenv func(string) string) bool {
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		if v := getenv(k); v != "" {
			v = strings.ToLower(v)
			return strings.Contains(v, "utf-8") || strings.Contains(v, "utf8")
		}
	}
	return false
}

// prompt returns the prompt for a status: "CLUSTER NODE ✓> " when this node
// is quorate, ✗ when not ("+" and "-" without a UTF-8 locale).
func prompt(cluster, node string, quorate, reachable, utf8 bool) string {
	if !reachable {
		return "corral (disconnected)> "
	}
	mark := "✗"
	switch {
	case quorate && utf8:
		mark = "✓"
	case quorate:
		mark = "+"
	case !utf8:
		mark = "-"
	}
	return fmt.Sprintf("%s %s %s> ", cluster, node, mark)
}

// Interactive runs the readline shell until exit or Ctrl-D.
func (s *Shell) Interactive(env Env) int {
	hist := HistoryFile()
	if hist != "" {
		if err := os.MkdirAll(filepath.Dir(hist), 0o700); err != nil {
			fmt.Fprintf(env.Stderr, "corral shell: no history (%v)\n", err)
			hist = ""
		}
	}
	utf8 := utf8Locale(env.Getenv)
	s.session = true
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            "corral> ",
		HistoryFile:       hist,
		HistoryLimit:      1000,
		HistorySearchFold: true,
		// Only shell commands go to the history (saved below), never the
		// Lua REPL's lines or the answers to a y/N question.
		DisableAutoSaveHistory: true,
		AutoComplete:           &completer{s: s},
		InterruptPrompt:        "^C",
		EOFPrompt:              "exit",
		Stdout:                 env.Stdout,
		Stderr:                 env.Stderr,
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "corral shell: cannot start the interactive shell: %v; run commands with -c or -f\n", err)
		return 1
	}
	defer rl.Close()
	s.readLine = func(p string) (string, error) { // the Lua REPL (lua.go)
		rl.SetPrompt(p)
		return rl.Readline()
	}
	defer func() { s.readLine = nil }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)

	// While a command runs, the terminal is in cooked mode: Ctrl-C is a
	// SIGINT, which cancels the command (watch, events --follow).
	down := false
	st, err := s.probe()
	if err != nil {
		fmt.Fprintf(env.Stderr, "%v\n(commands will retry; `exit` or Ctrl-D leaves)\n", err)
		down = true
	} else {
		fmt.Fprintf(env.Stdout, "Connected to %s of cluster %s (%s). Type help for the commands, Tab completes, Ctrl-D exits.\n", st.Node, st.Cluster, s.Client.Socket)
	}
	for {
		if st, err := s.probe(); err == nil {
			if down {
				fmt.Fprintf(env.Stdout, "reconnected to %s (%s)\n", st.Node, s.Client.Socket)
				down = false
			}
			p := prompt(st.Cluster, st.Node, st.Quorate, true, utf8)
			if s.stage != nil { // a staged session: changes wait for commit
				p = strings.TrimSuffix(p, "> ") + " [staged]> "
			}
			rl.SetPrompt(p)
		} else {
			rl.SetPrompt(prompt("", "", false, false, utf8))
		}
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue // Ctrl-C cancels the line
		}
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "corral shell: %v\n", err)
			return 1
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_ = rl.SaveHistory(line)
		for len(sig) > 0 {
			<-sig
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			select {
			case <-sig:
				cancel()
			case <-done:
			}
		}()
		err = s.Exec(ctx, line)
		close(done)
		interrupted := ctx.Err() != nil
		cancel()
		if errors.Is(err, errExit) {
			return 0
		}
		var ue *UnreachableError
		switch {
		case err == nil:
		case interrupted:
			fmt.Fprintln(env.Stderr, "interrupted")
		case errors.As(err, &ue):
			fmt.Fprintf(env.Stderr, "connection to the node lost: %v\nthe next command reconnects\n", err)
			down = true
		case s.json:
			reportJSON(env.Stderr, err)
		default:
			fmt.Fprintf(env.Stderr, "error: %v\n", err)
		}
	}
}

// probe fetches the status quickly, for the prompt.
func (s *Shell) probe() (st nodeSummary, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	full, err := s.Client.Status(ctx)
	if err != nil {
		return st, err
	}
	return nodeSummary{Cluster: full.Cluster, Node: full.Node, Quorate: full.Quorate}, nil
}

type nodeSummary struct {
	Cluster, Node string
	Quorate       bool
}
