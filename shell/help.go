package shell

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/corral-ha/corral/shell/help"
)

// helpWidth is the widest line help prints: it fits an 80-column terminal.
const helpWidth = 79

func helpCommand() *command {
	return &command{
		name:    "help",
		usage:   "help [COMMAND|TOPIC] | help topic TOPIC",
		summary: "list the commands and topics, or explain one",
		help: "Without an argument, lists every command and the documentation's topics. With\n" +
			"a command, shows its usage, what it does and an example (`COMMAND --help` does\n" +
			"the same); with a topic, the topic (as `corral help TOPIC` does). `help topic\n" +
			"TOPIC` shows a topic whose name is also a command's (start, lua, events).\n" +
			"Any command takes --json for\n" +
			"machine-readable output; with --json an error is one JSON object on stderr,\n" +
			"{\"error\": ..., \"hint\": ..., \"exit\": 1}, and the exit status is the same.",
		example: "help\nhelp events\nhelp config\nhelp topic lua",
		run:     runHelp,
	}
}

func runHelp(_ context.Context, s *Shell, a *args) error {
	if len(a.pos) == 2 && a.pos[0] == "topic" {
		return s.topicHelp(a.pos[1])
	}
	if len(a.pos) > 1 {
		return usagef("help takes one command or topic name: help [COMMAND|TOPIC], or help topic TOPIC")
	}
	if len(a.pos) == 1 {
		c := lookup(a.pos[0])
		if c == nil {
			if _, ok := help.Lookup(a.pos[0]); ok {
				return s.topicHelp(a.pos[0])
			}
			return usagef("no command %q, nor a topic of that name: %stype `help` for the list", a.pos[0], suggest(a.pos[0]))
		}
		return s.commandHelp(c)
	}
	fmt.Fprintln(s.Stdout, "Commands (help COMMAND or COMMAND --help for details; add --json to any")
	fmt.Fprintln(s.Stdout, "for machine-readable output):")
	for _, c := range commands() {
		fmt.Fprint(s.Stdout, hang(fmt.Sprintf("  %-11s", c.name), c.summary, 14))
	}
	fmt.Fprintln(s.Stdout, "\nTopics (help TOPIC, or corral help TOPIC; help topic TOPIC when a command")
	fmt.Fprintln(s.Stdout, "has the same name):")
	for _, t := range help.Topics() {
		fmt.Fprint(s.Stdout, hang(fmt.Sprintf("  %-11s", t.Name), t.Summary, 14))
	}
	return nil
}

// helpTopicNames lists the topics for completion: after `help`, those
// that are not also a command's name, and "topic" (uncommands); after
// `help topic`, all of them.
func helpTopicNames(uncommands bool) []string {
	var out []string
	if uncommands {
		out = append(out, "topic")
	}
	for _, t := range help.Topics() {
		if !uncommands || lookup(t.Name) == nil {
			out = append(out, t.Name)
		}
	}
	return out
}

// topicHelp prints a documentation topic rendered for a terminal.
func (s *Shell) topicHelp(name string) error {
	if _, ok := help.Lookup(name); !ok {
		return usagef("no topic %q: type `help` for the list", name)
	}
	text, err := help.Text(name)
	if err != nil {
		return fmt.Errorf("help: %w", err)
	}
	fmt.Fprint(s.Stdout, text)
	return nil
}

// commandHelp prints one command's help: its usage (one line per form),
// summary, description and examples, within helpWidth columns.
func (s *Shell) commandHelp(c *command) error {
	w := s.Stdout
	for i, form := range strings.Split(c.usage, " | ") {
		lead := "Usage: "
		if i > 0 {
			lead = "       "
		}
		fmt.Fprint(w, hang(lead, form, 9))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(c.summary, helpWidth))
	fmt.Fprintln(w)
	fmt.Fprint(w, reflow(c.help, helpWidth))
	fmt.Fprintln(w, "\nExample:")
	for _, l := range strings.Split(c.example, "\n") {
		fmt.Fprintf(w, "  %s\n", l) // whole, to copy; TestHelpFits keeps them short
	}
	if t, ok := help.Lookup(c.name); ok {
		fmt.Fprint(w, "\n"+wrap(fmt.Sprintf("See also the topic %s: help topic %s (%s).", t.Name, t.Name, t.Summary), helpWidth))
	}
	return nil
}

// reflow wraps text to width: lines join into paragraphs, which end at a
// blank line or before a line that starts with a blank or "- ".
func reflow(text string, width int) string {
	var out strings.Builder
	var para []string
	flush := func() {
		if len(para) > 0 {
			out.WriteString(wrap(strings.Join(para, " "), width))
			para = nil
		}
	}
	for _, l := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(l) == "":
			flush()
			out.WriteString("\n")
		case strings.HasPrefix(l, " ") || strings.HasPrefix(l, "- "):
			flush()
			para = append(para, l)
		default:
			para = append(para, l)
		}
	}
	flush()
	return out.String()
}

// wrap breaks text into lines of at most width columns at blanks (a word
// longer than width gets a line of its own); every line ends in "\n".
func wrap(text string, width int) string { return wrapLines(text, width, "", "") }

// hang prints lead, then text wrapped to helpWidth with the following
// lines indented by indent columns.
func hang(lead, text string, indent int) string {
	return wrapLines(text, helpWidth, lead, strings.Repeat(" ", indent))
}

// wrapLines wraps text at width columns: the first line starts with
// first, the others with pad.
func wrapLines(text string, width int, first, pad string) string {
	var out strings.Builder
	line, empty := first, true
	for _, word := range strings.Fields(text) {
		if !empty && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width {
			out.WriteString(line + "\n")
			line, empty = pad, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	out.WriteString(line + "\n")
	return out.String()
}

// writeWrapped prints text wrapped to helpWidth.
func writeWrapped(w io.Writer, text string) {
	fmt.Fprint(w, reflow(text, helpWidth))
}
