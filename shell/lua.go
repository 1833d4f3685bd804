package shell

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/chzyer/readline"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/lua"
)

func luaCommand() *command {
	return &command{
		name:    "lua",
		usage:   "lua CODE | lua (a REPL) | lua run FILE [ARGS...]",
		summary: "evaluate Lua in the node's sandbox, or run an automation script",
		help: "`lua CODE` evaluates CODE on the node, in the sandbox its scripts run in (the corral\n" +
			"module: corral.status(), corral.get(key), corral.list(prefix) ...; no exec, fs or net),\n" +
			"and prints what it printed and the values it returned. It reads the cluster but does\n" +
			"not change it: corral.set, move, start, stop, pause and resume are refused there (a\n" +
			"resource written with the process agent runs a command as root); use the shell's\n" +
			"commands, or `lua run FILE`. The rest of the line is the code, as typed.\n" +
			"`lua` alone in the interactive shell reads Lua lines until Ctrl-D,\n" +
			"on one VM of the node for the session: globals set on one line are there on the\n" +
			"next (locals last one line; an unfinished line continues on the next). Its lines\n" +
			"do not go to the shell's history. Each evaluation has 5 s.\n" +
			"`lua run FILE [ARGS...]` runs FILE in the shell's own process with no time limit: the\n" +
			"global arg holds ARGS, and corral acts on the cluster through this shell's connection\n" +
			"(corral.pause(node), resume, move, start, stop run those commands; corral.set writes\n" +
			"the config DB; corral.wait_event{kinds = {...}, timeout = s} waits for an event).\n" +
			"It has exec, fs and net too: it runs with your rights. Ctrl-C stops it.",
		example: "lua 1+1\nlua corral.status().coordinator\n" +
			"lua run examples/lua/automation/rolling_maintenance.lua 'echo $NODE'",
		subs:    []string{"run"},
		raw:     true,
		rawLine: true,
		run:     runLua,
	}
}

func runLua(ctx context.Context, s *Shell, a *args) error {
	if len(a.pos) > 0 && a.pos[0] == "run" {
		if len(a.pos) < 2 {
			return usagef("lua run needs a file: %s", a.cmd.usage)
		}
		return s.luaRun(ctx, a.pos[1], a.pos[2:])
	}
	if a.line == "" {
		return s.luaREPL(ctx)
	}
	return s.luaEval(ctx, a.line)
}

// luaEval evaluates code on the node and prints the result.
func (s *Shell) luaEval(ctx context.Context, code string) error {
	return s.luaEvalIn(ctx, "", code)
}

// luaEvalIn is luaEval on the node's VM of session ("": a fresh one).
func (s *Shell) luaEvalIn(ctx context.Context, session, code string) error {
	var res apitypes.EvalResult
	if err := s.Client.Post(ctx, "/v1/lua/eval", apitypes.EvalRequest{Code: code, Session: session}, &res); err != nil {
		return err
	}
	if s.json {
		return WriteJSON(s.Stdout, res)
	}
	if res.Output == "" {
		return nil
	}
	_, err := fmt.Fprintln(s.Stdout, res.Output)
	return err
}

// luaREPL reads Lua lines with the interactive shell's line editor and
// evaluates each on the node until Ctrl-D.
func (s *Shell) luaREPL(ctx context.Context) error {
	if s.readLine == nil {
		return usagef("lua needs CODE here (the Lua REPL needs the interactive shell): %s", "lua CODE")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	session := "repl-" + hex.EncodeToString(b[:])
	defer func() { // free the node's VM now rather than when it idles out
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Client.Post(ctx, "/v1/lua/eval", apitypes.EvalRequest{Session: session, End: true}, nil)
	}()
	fmt.Fprintln(s.Stdout, "Lua in the node's sandbox, on one VM for this session: globals carry over")
	fmt.Fprintln(s.Stdout, "from line to line (locals do not). Ctrl-D returns to the shell.")
	var pending string
	for ctx.Err() == nil {
		prompt := "lua> "
		if pending != "" {
			prompt = "lua>> "
		}
		line, err := s.readLine(prompt)
		if errors.Is(err, readline.ErrInterrupt) {
			pending = ""
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		code := strings.TrimSpace(pending + "\n" + line)
		if code == "" {
			continue
		}
		err = s.luaEvalIn(ctx, session, code)
		var ae *APIError
		if errors.As(err, &ae) && strings.Contains(ae.Body.Error, "at EOF:   syntax error") {
			pending = code // unfinished: read on
			continue
		}
		pending = ""
		if err != nil {
			var ue *UnreachableError
			if errors.As(err, &ue) {
				return err
			}
			fmt.Fprintf(s.Stdout, "error: %v\n", err)
		}
	}
	return ctx.Err()
}

// luaRun is `lua run FILE ARGS`: FILE runs here, acting on the cluster
// through the admin API.
func (s *Shell) luaRun(ctx context.Context, file string, args []string) error {
	log := slog.New(slog.NewTextHandler(s.Stdout, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	h, err := lua.New(lua.Config{PoolSize: 1, Log: log, Cluster: apiCluster{s}, Locks: apiLocker{s}})
	if err != nil {
		return fmt.Errorf("lua run: %w", err)
	}
	defer h.Close()
	return h.RunFile(ctx, file, args, s.Stdout)
}
