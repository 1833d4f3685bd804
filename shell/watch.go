package shell

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

func watchCommand() *command {
	return &command{
		name:    "watch",
		usage:   "watch COMMAND [ARGS] [--interval 1s]",
		summary: "run a command again and again, redrawing its output, until Ctrl-C",
		help: "Redraws COMMAND's output every --interval (default 1s, at least 100ms), like crm_mon:\n" +
			"leave it running on a spare terminal while you break things. Errors are shown and the\n" +
			"watch goes on (the node may come back).",
		example: "watch status\nwatch links --interval 500ms",
		flags:   []flagSpec{{"--interval", "D"}},
		raw:     true,
		run:     runWatch,
	}
}

func runWatch(ctx context.Context, s *Shell, a *args) error {
	interval := time.Second
	var words []string
	for i := 0; i < len(a.pos); i++ {
		w := a.pos[i]
		v, isFlag := "", false
		switch {
		case w == "--interval":
			if i+1 >= len(a.pos) {
				return usagef("--interval needs a duration (e.g. 2s): %s", a.cmd.usage)
			}
			i++
			v, isFlag = a.pos[i], true
		case strings.HasPrefix(w, "--interval="):
			v, isFlag = strings.TrimPrefix(w, "--interval="), true
		}
		if !isFlag {
			words = append(words, w)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 100*time.Millisecond {
			return usagef("--interval %q: give a duration of at least 100ms, e.g. 2s", v)
		}
		interval = d
	}
	if len(words) == 0 {
		return usagef("watch what? %s", a.cmd.usage)
	}
	c := lookup(words[0])
	switch {
	case c == nil:
		return usagef("unknown command %q: %stype `help` for the list", words[0], suggest(words[0]))
	case c.name == "watch" || c.name == "exit" || c.name == "help":
		return usagef("watch %s makes no sense: watch a view such as status, nodes or links", c.name)
	case c.name == "events" && (strings.Contains(" "+strings.Join(words, " ")+" ", " --follow ")):
		return usagef("events --follow already streams: run it without watch")
	case c.name == "pause" || c.name == "resume" || c.name == "leave" || c.name == "debug":
		return usagef("watch repeats views, not actions: watch status, nodes, links, quorum, views or events")
	}
	line := joinWords(words)
	inner := *s
	inner.JSON = s.json
	for {
		var buf bytes.Buffer
		inner.Stdout = &buf
		err := inner.Exec(ctx, line)
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if err != nil {
			fmt.Fprintf(&buf, "error: %v\n", err)
		}
		var out bytes.Buffer
		if s.Terminal {
			out.WriteString("\x1b[H\x1b[2J")
		}
		fmt.Fprintf(&out, "Every %v: %s    %s    (Ctrl-C stops)\n\n", interval, line, time.Now().Format("15:04:05"))
		out.Write(buf.Bytes())
		if !s.Terminal {
			out.WriteString("\n")
		}
		if _, err := s.Stdout.Write(out.Bytes()); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}
