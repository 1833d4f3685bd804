package shell

import (
	"context"
	"fmt"
	"strings"
)

func helpCommand() *command {
	return &command{
		name:    "help",
		usage:   "help [COMMAND]",
		summary: "list the commands, or explain one",
		help:    "Without an argument, lists every command. With one, shows its usage, what it does and an example.",
		example: "help\nhelp events",
		run:     runHelp,
	}
}

func runHelp(_ context.Context, s *Shell, a *args) error {
	if len(a.pos) > 1 {
		return usagef("help takes one command name: help [COMMAND]")
	}
	if len(a.pos) == 1 {
		c := lookup(a.pos[0])
		if c == nil {
			return usagef("no command %q: %stype `help` for the list", a.pos[0], suggest(a.pos[0]))
		}
		fmt.Fprintf(s.Stdout, "Usage: %s\n\n%s\n\n%s\n\nExample:\n", c.usage, c.summary, c.help)
		for _, l := range strings.Split(c.example, "\n") {
			fmt.Fprintf(s.Stdout, "  %s\n", l)
		}
		return nil
	}
	fmt.Fprintln(s.Stdout, "Commands (add --json to any for machine-readable output; help COMMAND for details):")
	t := newTable()
	for _, c := range commands() {
		t.row("  "+c.usage, c.summary)
	}
	return t.render(s.Stdout, false)
}
