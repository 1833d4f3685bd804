package shell

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/chzyer/readline"
)

// Default socket locations, in lookup order after --socket and $CORRAL_SOCKET.
const (
	DemoSocket   = ".corral-demo/n1/corral.sock"
	SystemSocket = "/run/corral/corral.sock"
	// SocketEnv names the environment variable that overrides the default.
	SocketEnv = "CORRAL_SOCKET"
)

// Usage is the shell's synopsis.
const Usage = `corral shell [--socket PATH] [-c "COMMAND"] [-f FILE] [--keep-going] [--json]`

// Options are the shell's command-line settings.
type Options struct {
	Socket    string // --socket
	Command   string // -c, with any words given after it appended
	File      string // -f: a script, one command per line ("-" is stdin)
	KeepGoing bool   // --keep-going: a script goes on after a failed line
	JSON      bool   // --json
	Help      bool   // -h, --help
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
		noValue := func() error {
			if hasVal {
				return usagef("%s takes no value", name)
			}
			return nil
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
		case "-f", "--file", "-file":
			if o.File != "" {
				return o, usagef("-f given twice: run one script per call")
			}
			o.File, err = value()
		case "--keep-going", "-keep-going", "-k":
			err = noValue()
			o.KeepGoing = true
		case "--json", "-json":
			err = noValue()
			o.JSON = true
		case "-h", "--help", "-help":
			o.Help = true
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
	if haveCmd && o.File != "" {
		return o, usagef("-c and -f together: run one command (-c) or a script (-f)")
	}
	return o, nil
}

// joinWords quotes words that need it, so Split gives them back.
func joinWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\n\r\"'\\#") { // every blank Split breaks on
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

// flagSpec is one flag a command takes.
type flagSpec struct {
	name  string // with the dashes: "--since"
	value string // the value's placeholder ("N"); "" for a switch
}

// command is one shell command; each lives in its own file.
type command struct {
	name    string
	usage   string // synopsis, e.g. "events [--follow] [--since N]"
	summary string // one line
	help    string // what it does, for `help NAME`
	example string // one or more example lines
	flags   []flagSpec
	subs    []string // subcommands, for completion
	// nodeArg: the positional argument is a node name (completion);
	// groupArg, resourceArg: a group's or a resource's name.
	nodeArg     bool
	groupArg    bool
	resourceArg bool
	// raw: the words are passed as positional arguments, unparsed.
	raw bool
	// rawLine: args.line is the text after the command's name as typed
	// (quotes kept), for commands whose argument is code (lua).
	rawLine bool
	// stages: inside a staged session (configure) the command changes
	// the stage, and its line is recorded for commit --force.
	stages bool
	run    func(ctx context.Context, s *Shell, a *args) error
}

// commands lists every command, in the order `help` shows them.
func commands() []*command {
	return []*command{
		statusCommand(), nodesCommand(), linksCommand(), quorumCommand(), viewsCommand(), eventsCommand(),
		pauseCommand(), resumeCommand(), leaveCommand(), debugCommand(), cdbCommand(), watchCommand(), dnsCommand(),
		groupsCommand(), resourcesCommand(), moveCommand(), startCommand(), stopCommand(), cleanupCommand(),
		explainCommand(), resourceCommand(), groupCommand(), setCommand(), fenceCommand(),
		configureCommand(), diffCommand(), verifyCommand(), simulateCommand(), commitCommand(), abortCommand(),
		agentsCommand(), luaCommand(), reloadCommand(), locksCommand(), lockCommand(), unlockCommand(),
		disksCommand(), diskCommand(),
		helpCommand(), exitCommand(),
	}
}

// lookup finds a command by name.
func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name || (c.name == "exit" && name == "quit") {
			return c
		}
	}
	return nil
}

func commandNames() []string {
	var out []string
	for _, c := range commands() {
		out = append(out, c.name)
	}
	return out
}

// args is a command's parsed words.
type args struct {
	cmd   *command
	pos   []string
	flags map[string]string
	line  string // the text after the command name, for rawLine commands
}

func (a *args) has(name string) bool { _, ok := a.flags[name]; return ok }

// parse splits a command's words into flags (per its flagSpecs) and
// positional arguments.
func (c *command) parse(words []string) (*args, error) {
	a := &args{cmd: c, flags: map[string]string{}}
	if c.raw {
		a.pos = words
		return a, nil
	}
	for i := 0; i < len(words); i++ {
		w := words[i]
		name, val, hasVal := strings.Cut(w, "=")
		if !strings.HasPrefix(w, "--") || w == "--" {
			if !c.shortFlag(name) {
				a.pos = append(a.pos, w)
				continue
			}
		}
		var spec *flagSpec
		for j := range c.flags {
			if c.flags[j].name == name {
				spec = &c.flags[j]
			}
		}
		if spec == nil {
			return nil, usagef("%s does not take %s: %s", c.name, name, c.usage)
		}
		switch {
		case spec.value == "" && hasVal:
			return nil, usagef("%s takes no value: %s", name, c.usage)
		case spec.value == "":
			val = "true"
		case !hasVal:
			if i+1 >= len(words) {
				return nil, usagef("%s needs a value (%s): %s", name, spec.value, c.usage)
			}
			i++
			val = words[i]
		}
		a.flags[name] = val
	}
	return a, nil
}

// shortFlag reports whether name is one of c's one-dash flags ("-n").
func (c *command) shortFlag(name string) bool {
	for _, f := range c.flags {
		if f.name == name && !strings.HasPrefix(name, "--") {
			return true
		}
	}
	return false
}

// noArgs fails when a command that takes no positional arguments got some.
func (a *args) noArgs() error {
	if len(a.pos) > 0 {
		return usagef("%s takes no arguments (got %q): %s", a.cmd.name, strings.Join(a.pos, " "), a.cmd.usage)
	}
	return nil
}

// errExit is returned by `exit`.
var errExit = errors.New("exit")

// Shell runs commands against one node.
type Shell struct {
	Client *Client
	Stdout io.Writer
	// JSON is the shell-wide --json; a command's own --json also counts.
	JSON bool
	// Color turns on state colours in tables (stdout is a terminal).
	Color bool
	// Terminal: stdout is a terminal (watch clears the screen).
	Terminal bool
	json     bool // the current command's setting
	// readLine reads a line with the interactive shell's editor (nil
	// outside it), for the Lua REPL.
	readLine func(prompt string) (string, error)
	// locks is the shell's lock session (lock, unlock; locks.go).
	locks *shellLocks
	// stage is the open staged session (configure; stage.go), nil when
	// none; replaying: commit --force runs its lines again; session: the
	// shell runs several commands (interactive or a script), so a stage
	// can live across them.
	stage     *stage
	replaying bool
	session   bool
}

// Exec runs one command line.
func (s *Shell) Exec(ctx context.Context, line string) error {
	words, err := Split(line)
	if err != nil {
		return err
	}
	s.json = s.JSON
	var rest []string
	for _, w := range words {
		if w == "--json" || w == "-json" {
			s.json = true
			continue
		}
		rest = append(rest, w)
	}
	if len(rest) == 0 {
		return usagef("empty command: try status, or help for the list")
	}
	c := lookup(rest[0])
	if c == nil {
		return usagef("unknown command %q: %stype `help` for the list", rest[0], suggest(rest[0]))
	}
	if wantsHelp(rest[1:], c.raw || c.rawLine) {
		return s.commandHelp(c)
	}
	a, err := c.parse(rest[1:])
	if err != nil {
		return err
	}
	if c.rawLine {
		if i := strings.Index(line, rest[0]); i >= 0 {
			a.line = strings.TrimSpace(line[i+len(rest[0]):])
		}
	}
	err = c.run(ctx, s, a)
	if err == nil && c.stages && s.stage != nil && !s.replaying {
		s.stage.lines = append(s.stage.lines, joinWords(rest))
	}
	return shellHint(c, err)
}

// wantsHelp reports whether a command's words ask for its help: --help
// anywhere, or -h as the first word; for a command whose words are its
// argument (lua CODE, watch COMMAND), only as the first word.
func wantsHelp(words []string, raw bool) bool {
	for i, w := range words {
		if i > 0 && raw {
			break
		}
		if w == "--help" || w == "-help" || (i == 0 && w == "-h") {
			return true
		}
	}
	return false
}

// routeHints turns the admin API's hints, written for HTTP clients, into
// the shell commands that do the same.
var routeHints = []struct{ api, shell string }{
	{"list the keys with GET /v1/cdb?prefix=/", "list keys with cdb list /"},
	{"or add ?stale=true to read this node's state as it is", "or add --stale to read this node's copy as it is"},
	{"this is this node's state as it is (stale=true), which may be old", "this is this node's copy (--stale), which may be old"},
	{"list them with GET /v1/groups or GET /v1/resources (shell: groups, resources)", "list them with groups or resources"},
	{"list the nodes with GET /v1/nodes (shell: nodes)", "list the nodes with nodes"},
	{"GET /v1/debug/faults lists the active rules", "debug fault list shows the active rules"},
	{"fault ids are numbers: GET /v1/debug/faults lists them", "fault ids are numbers: debug fault list shows them"},
}

// shellHint rewrites an API error so that it names shell commands, not
// HTTP routes: a known hint becomes its shell form; another that names a
// route becomes "see help COMMAND".
func shellHint(c *command, err error) error {
	var ae *APIError
	if !errors.As(err, &ae) {
		return err
	}
	e := *ae
	e.Body.Error = stripRoute(e.Body.Error)
	for _, h := range routeHints {
		e.Body.Hint = strings.ReplaceAll(e.Body.Hint, h.api, h.shell)
	}
	if strings.HasPrefix(e.Body.Hint, "read it again (GET /v1/cdb") { // a revision mismatch
		e.Body.Hint = "read it again (cdb get KEY) and retry with --if-revision set to its revision"
	}
	if strings.Contains(e.Body.Hint, "/v1/") {
		e.Body.Hint = stripRoute(e.Body.Hint)
		if strings.Contains(e.Body.Hint, "/v1/") || e.Body.Hint == "" {
			e.Body.Hint = "see `help " + c.name + "`"
		}
	}
	return &e
}

// stripRoute drops a trailing ": METHOD /v1/..." from a message ("the
// nodes are n1, n2: POST /v1/nodes/NAME/pause" -> "the nodes are n1, n2").
func stripRoute(msg string) string {
	for _, m := range []string{": GET /v1/", ": POST /v1/", ": PUT /v1/", ": DELETE /v1/"} {
		if i := strings.Index(msg, m); i >= 0 {
			return msg[:i]
		}
	}
	return msg
}

// suggest names commands that start like word, or that word starts like.
func suggest(word string) string {
	var near []string
	for _, n := range commandNames() {
		if strings.HasPrefix(n, word) || (len(word) > 2 && strings.HasPrefix(word, n[:min(len(n), 3)])) {
			near = append(near, n)
		}
	}
	if len(near) == 0 {
		return ""
	}
	sort.Strings(near)
	return "did you mean " + strings.Join(near, " or ") + "? "
}

// Env is the shell's outside world, so tests can replace it.
type Env struct {
	Stdin     io.Reader
	Stdout    io.Writer
	Stderr    io.Writer
	StdinTTY  bool // stdin is a terminal: no script on stdin, interactive
	StdoutTTY bool // stdout is a terminal: colours, screen redraws
	Getenv    func(string) string
}

// OSEnv is the process's environment with the given output writers.
func OSEnv(stdout, stderr io.Writer) Env {
	isTTY := func(v any) bool {
		f, ok := v.(*os.File)
		return ok && readline.IsTerminal(int(f.Fd()))
	}
	return Env{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, StdinTTY: isTTY(os.Stdin), StdoutTTY: isTTY(stdout), Getenv: os.Getenv}
}

// Main is `corral shell`: it returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	return Run(args, OSEnv(stdout, stderr))
}

// Run is Main with an explicit environment.
func Run(argv []string, env Env) int {
	o, err := ParseArgs(argv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "corral shell: %v\n", err)
		return 2
	}
	if o.Help {
		fmt.Fprint(env.Stdout, hang("Usage: ", Usage, 7))
		fmt.Fprintln(env.Stdout)
		writeWrapped(env.Stdout, fmt.Sprintf("Socket: --socket, else $%s, else %s if it exists, else %s.\n", SocketEnv, DemoSocket, SystemSocket)+
			"Without -c or -f it reads commands interactively (or a script on stdin when stdin is not a terminal). "+
			"With --json, an error is one JSON object on stderr: {\"error\": ..., \"hint\": ..., \"exit\": N}.")
		fmt.Fprintln(env.Stdout)
		_ = (&Shell{Stdout: env.Stdout}).Exec(context.Background(), "help")
		return 0
	}
	socket := FindSocket(o.Socket, env.Getenv, func(p string) bool { _, err := os.Stat(p); return err == nil })
	s := &Shell{Client: NewClient(socket), Stdout: env.Stdout, JSON: o.JSON, Terminal: env.StdoutTTY,
		Color: env.StdoutTTY && env.Getenv("NO_COLOR") == "" && env.Getenv("TERM") != "dumb"}
	defer s.CloseLocks() // a closed session releases the locks taken with lock
	switch {
	case o.Command != "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := s.Exec(ctx, o.Command)
		if errors.Is(err, errExit) {
			return 0
		}
		if s.json {
			return reportJSON(env.Stderr, err)
		}
		return report(env.Stderr, err)
	case o.File != "" && o.File != "-":
		f, err := os.Open(o.File)
		if err != nil {
			fmt.Fprintf(env.Stderr, "corral shell: %v: give a script file, one command per line\n", err)
			return 2
		}
		defer f.Close()
		return s.Script(f, o.File, o.KeepGoing, env.Stderr)
	case o.File == "-" || !env.StdinTTY:
		return s.Script(env.Stdin, "stdin", o.KeepGoing, env.Stderr)
	}
	return s.Interactive(env)
}

// report prints a command's error and returns the exit status.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "corral shell: %v\n", err)
	return exitStatus(err)
}

// exitStatus is 2 for a mistake in the command line, else 1.
func exitStatus(err error) int {
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// ErrorJSON is how a command run with --json reports its error: one JSON
// object on stderr (stdout stays the command's output, possibly empty).
type ErrorJSON struct {
	Error string `json:"error"`           // what went wrong
	Hint  string `json:"hint,omitempty"`  // what to do
	Exit  int    `json:"exit"`            // the exit status: 2 a usage mistake, 1 otherwise
	Where string `json:"where,omitempty"` // in a script: FILE:LINE
}

// reportJSON is report for --json: the error as one JSON object.
func reportJSON(stderr io.Writer, err error) int {
	return reportJSONAt(stderr, err, "")
}

// reportJSONAt is reportJSON for a script's line.
func reportJSONAt(stderr io.Writer, err error, where string) int {
	if err == nil {
		return 0
	}
	e := ErrorJSON{Error: err.Error(), Exit: exitStatus(err), Where: where}
	var ae *APIError
	if errors.As(err, &ae) {
		e.Error, e.Hint = ae.Body.Error, ae.Body.Hint
	}
	b, _ := json.Marshal(e)
	fmt.Fprintf(stderr, "%s\n", b)
	return e.Exit
}
