// Command corral is the corral cluster manager: the node agent, the local
// demo cluster, the operator's shell and the small tools around them, in one
// binary. `corral help` lists the commands and the documentation's topics
// (package shell/help); `corral help TOPIC` shows one.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/corral-ha/corral/shell"
	"github.com/corral-ha/corral/shell/demo"
	"github.com/corral-ha/corral/shell/help"
)

// version is stamped by the Makefile with -ldflags -X main.version=...
var version = "dev"

// command is one subcommand of the binary.
type command struct {
	name    string
	usage   string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"version", "corral version", "print the version", runVersion},
		{"keygen", "corral keygen [FILE]", "make a random cluster key: into FILE (mode 0600), else to stdout", runKeygen},
		{"check-config", "corral check-config FILE...", "check node configuration files; print every problem with file:line", runCheckConfig},
		{"agent", "corral agent --config FILE", "run one node in the foreground until SIGTERM/SIGINT", runAgent},
		{"demo", "corral demo [--detach] | stop", "start a local cluster (3 nodes in .corral-demo), or stop it", demo.Run},
		{"shell", "corral shell -c CMD [--json]", "talk to a node: corral shell -c status", shell.Main},
		{"lock", "corral lock [flags] NAME -- COMMAND...", "run COMMAND holding the cluster-wide lock NAME (like flock(1))", shell.LockMain},
		{"arbiter", "corral arbiter --listen ADDR ...", "run the network quorum witness (--data DIR --key FILE)", runArbiter},
		{"whoami", "corral whoami --listen ADDR --name N", "serve HTTP answering N (the demo's web service)", runWhoami},
		{"watchdog", "corral watchdog --socket P --pid-file F", "play a watchdog: SIGKILL the node unless fed within --timeout", runWatchdog},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help":
		if args[0] == "help" && len(args) > 1 {
			return helpOn(args[1:], stdout, stderr)
		}
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			if c.name != "shell" && wantsHelp(args[1:]) {
				return commandHelp(c, args[1:], stdout)
			}
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "corral: unknown command %q; run 'corral help' for the list\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "corral: a high-availability cluster manager")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage (corral COMMAND --help for a command's flags):")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %s\n      %s\n", c.usage, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Documentation (corral help TOPIC; the shell's commands: corral shell -c help):")
	for _, t := range help.Topics() {
		fmt.Fprintf(w, "  %-11s %s\n", t.Name, t.Summary)
	}
	fmt.Fprintln(w, "  corral.service  the systemd unit, to install (corral help operations)")
}

// helpOn is `corral help NAME`: a topic, else a command's help.
func helpOn(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprintln(stderr, "corral: help takes one topic or command: corral help [TOPIC|COMMAND]")
		return 2
	}
	name := args[0]
	if name == "corral.service" { // the systemd unit, to install
		b, err := help.File(name)
		if err != nil {
			fmt.Fprintf(stderr, "corral: %v\n", err)
			return 1
		}
		_, _ = stdout.Write(b)
		return 0
	}
	if _, ok := help.Lookup(name); ok {
		text, err := help.Text(name)
		if err != nil {
			fmt.Fprintf(stderr, "corral: %v\n", err)
			return 1
		}
		fmt.Fprint(stdout, text)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return commandHelp(c, []string{"--help"}, stdout)
		}
	}
	fmt.Fprintf(stderr, "corral: no topic or command %q; run 'corral help' for the list\n", name)
	return 2
}

// flagHelp lists the commands whose flag set prints their help (on -h).
var flagHelp = map[string]bool{"lock": true, "agent": true, "demo": true, "arbiter": true, "whoami": true, "watchdog": true}

// wantsHelp reports whether a command's arguments ask for its help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// commandHelp prints a command's help on stdout and exits 0: the flag
// set's own help where it has one, else its usage and summary.
func commandHelp(c command, args []string, stdout io.Writer) int {
	if flagHelp[c.name] {
		sub := []string{"-h"}
		if c.name == "demo" && len(args) > 0 && args[0] == "stop" {
			sub = []string{"stop", "-h"}
		}
		c.run(sub, stdout, stdout)
		return 0
	}
	fmt.Fprintf(stdout, "Usage: %s\n\n%s\n", c.usage, c.summary)
	return 0
}
