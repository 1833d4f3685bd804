package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// Default socket locations, in lookup order after --socket and $CORRAL_SOCKET.
const (
	DemoSocket   = ".corral-demo/n1/corral.sock"
	SystemSocket = "/run/corral/corral.sock"
	// SocketEnv names the environment variable that overrides the default.
	SocketEnv = "CORRAL_SOCKET"
)

// Usage is the shell's synopsis.
const Usage = `corral shell [--socket PATH] [-c "COMMAND"] [--json]`

// Options are the shell's command-line settings.
type Options struct {
	Socket  string // --socket
	Command string // -c, with any words given after it appended
	JSON    bool   // --json
	Help    bool   // -h, --help
}

// UsageError is a mistake in the command line (exit status 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ParseArgs parses `corral shell`'s arguments. Flags may come anywhere;
// words after -c COMMAND that are not shell flags are appended to the
// command, so `-c status --json` and `-c "status --json"` mean the same.
func ParseArgs(args []string) (Options, error) {
	var o Options
	var extra []string
	haveCmd := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := a, "", false
		if strings.HasPrefix(a, "-") {
			if k, v, ok := strings.Cut(a, "="); ok {
				name, val, hasVal = k, v, true
			}
		}
		value := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(args) {
				return "", usagef("%s needs a value: %s", name, Usage)
			}
			i++
			return args[i], nil
		}
		var err error
		switch name {
		case "--socket", "-socket", "-s":
			o.Socket, err = value()
		case "-c", "--command", "-command":
			if haveCmd {
				return o, usagef("-c given twice: run one command per call, or quote it: corral shell -c \"status --json\"")
			}
			o.Command, err = value()
			haveCmd = true
		case "--json", "-json":
			if hasVal {
				return o, usagef("--json takes no value")
			}
			o.JSON = true
		case "-h", "--help", "-help":
			o.Help = true
		case "-f", "--file", "--keep-going", "-keep-going":
			return o, usagef("%s: running command files is not available yet; run one command with -c: corral shell -c status", name)
		default:
			if strings.HasPrefix(a, "-") && !haveCmd {
				return o, usagef("unknown flag %s: %s", a, Usage)
			}
			if !haveCmd {
				return o, usagef("unexpected argument %q: give the command with -c: corral shell -c %q", a, strings.Join(args[i:], " "))
			}
			extra = append(extra, a)
		}
		if err != nil {
			return o, err
		}
	}
	if len(extra) > 0 {
		o.Command = strings.TrimSpace(o.Command + " " + joinWords(extra))
	}
	return o, nil
}

// joinWords quotes words that need it, so Split gives them back.
func joinWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\"'\\") {
			w = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `"`
		}
		out[i] = w
	}
	return strings.Join(out, " ")
}

// FindSocket picks the admin socket: the flag, else $CORRAL_SOCKET, else
// the demo's first node if its socket exists, else the system socket.
func FindSocket(flag string, getenv func(string) string, exists func(string) bool) string {
	switch {
	case flag != "":
		return flag
	case getenv(SocketEnv) != "":
		return getenv(SocketEnv)
	case exists(DemoSocket):
		return DemoSocket
	default:
		return SystemSocket
	}
}

// Split breaks a command line into words: blanks separate words, single
// and double quotes group, a backslash escapes the next character (not in
// single quotes).
func Split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range line {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			esc, inWord = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, usagef("unterminated %c quote in %q", quote, line)
	}
	if esc {
		return nil, usagef("trailing backslash in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// command is one shell command.
type command struct {
	usage   string
	summary string
	run     func(ctx context.Context, s *Shell, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"status": {"status [--json]", "the cluster as this node sees it: view, quorum, nodes and links", runStatus},
		"help":   {"help", "list the commands", runHelp},
	}
}

func runHelp(_ context.Context, s *Shell, args []string) error {
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(s.Stdout, "Commands (add --json for machine-readable output):")
	for _, n := range names {
		fmt.Fprintf(s.Stdout, "  %-18s %s\n", cmds[n].usage, cmds[n].summary)
	}
	return nil
}

// Shell runs commands against one node.
type Shell struct {
	Client *Client
	Stdout io.Writer
	// JSON is the shell-wide --json; a command's own --json also counts.
	JSON bool
	json bool // the current command's setting
}

// Exec runs one command line.
func (s *Shell) Exec(ctx context.Context, line string) error {
	words, err := Split(line)
	if err != nil {
		return err
	}
	s.json = s.JSON
	var args []string
	for _, w := range words {
		if w == "--json" || w == "-json" {
			s.json = true
			continue
		}
		args = append(args, w)
	}
	if len(args) == 0 {
		return usagef("empty command: try -c status, or -c help for the list")
	}
	c, ok := commands()[args[0]]
	if !ok {
		return usagef("unknown command %q: run `corral shell -c help` for the list", args[0])
	}
	return c.run(ctx, s, args[1:])
}

// Main is `corral shell`: it returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	o, err := ParseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "corral shell: %v\n", err)
		return 2
	}
	if o.Help {
		fmt.Fprintf(stdout, "Usage: %s\n\n", Usage)
		fmt.Fprintf(stdout, "Socket: --socket, else $%s, else %s if it exists, else %s.\n\n", SocketEnv, DemoSocket, SystemSocket)
		_ = runHelp(context.Background(), &Shell{Stdout: stdout}, nil)
		return 0
	}
	if o.Command == "" {
		fmt.Fprintln(stderr, "corral shell: the interactive shell is not available yet; run one command with -c:")
		fmt.Fprintln(stderr, "  corral shell -c status           # the cluster as the node sees it")
		fmt.Fprintln(stderr, "  corral shell -c status --json    # the same as JSON")
		fmt.Fprintln(stderr, "  corral shell -c help             # every command")
		return 2
	}
	socket := FindSocket(o.Socket, os.Getenv, func(p string) bool { _, err := os.Stat(p); return err == nil })
	s := &Shell{Client: NewClient(socket), Stdout: stdout, JSON: o.JSON}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Exec(ctx, o.Command); err != nil {
		fmt.Fprintf(stderr, "corral shell: %v\n", err)
		var ue *UsageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}
