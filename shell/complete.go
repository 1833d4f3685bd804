package shell

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

// completer completes command names, subcommands, flags and live node
// names for readline.
type completer struct {
	s *Shell

	mu      sync.Mutex
	names   []string
	fetched time.Time

	crmCache   map[string][]string // group and resource names (groups.go)
	crmFetched map[string]time.Time
}

// nodeNames returns the cluster's node names, fetched at most every 2s.
func (c *completer) nodeNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.fetched) < 2*time.Second && c.names != nil {
		return c.names
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	ns, err := c.s.Client.Nodes(ctx)
	if err != nil {
		return c.names
	}
	c.names = c.names[:0]
	for _, n := range ns {
		c.names = append(c.names, n.Name)
	}
	c.fetched = time.Now()
	return c.names
}

// Do implements readline.AutoCompleter: the candidates' remaining runes
// and the length of the word being completed.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	words, partial := c.candidates(string(line[:pos]))
	var out [][]rune
	for _, w := range words {
		if strings.HasPrefix(w, partial) {
			sfx := " "
			if strings.HasSuffix(w, "/") { // a directory: go on into it
				sfx = ""
			}
			out = append(out, []rune(w[len(partial):]+sfx))
		}
	}
	return out, len([]rune(partial))
}

// candidates returns what may come at the end of the text before the
// cursor, and the partial word there.
func (c *completer) candidates(before string) ([]string, string) {
	fields := strings.Fields(before)
	partial := ""
	if len(fields) > 0 && !strings.HasSuffix(before, " ") && !strings.HasSuffix(before, "\t") {
		partial = fields[len(fields)-1]
		fields = fields[:len(fields)-1]
	}
	return c.after(fields, partial), partial
}

// after lists what may follow the complete words done.
func (c *completer) after(done []string, partial string) []string {
	if len(done) == 0 {
		return commandNames()
	}
	cmd := lookup(done[0])
	if cmd == nil {
		return nil
	}
	if cmd.name == "watch" {
		var rest []string
		for i := 1; i < len(done); i++ {
			if done[i] == "--interval" {
				i++
				continue
			}
			rest = append(rest, done[i])
		}
		if len(rest) == 0 {
			return append(commandNames(), "--interval")
		}
		return append(c.after(rest, partial), "--interval")
	}
	if cmd.name == "help" {
		if len(done) == 1 {
			return append(commandNames(), helpTopicNames(true)...)
		}
		if len(done) == 2 && done[1] == "topic" {
			return helpTopicNames(false)
		}
		return nil
	}
	// A flag that takes a value: complete node names for --peer.
	last := done[len(done)-1]
	for _, f := range cmd.flags {
		if f.name == last && f.value != "" {
			switch f.value {
			case "NODE":
				return c.nodeNames()
			case "GROUP":
				return c.crmNames("group")
			case "NODES": // a comma-separated list: the next name after the last comma
				if i := strings.LastIndex(partial, ","); i >= 0 {
					var out []string
					for _, n := range c.nodeNames() {
						out = append(out, partial[:i+1]+n)
					}
					return out
				}
				return c.nodeNames()
			}
			if strings.Contains(f.value, "|") {
				return strings.Split(f.value, "|")
			}
			return nil
		}
	}
	var out []string
	if strings.HasPrefix(partial, "-") {
		for _, f := range cmd.flags {
			out = append(out, f.name)
		}
		return append(out, "--json")
	}
	pos := positional(cmd, done[1:])
	switch {
	case cmd.name == "debug":
		switch len(pos) {
		case 0:
			return []string{"fault"}
		case 1:
			return []string{"add", "list", "clear"}
		case 2:
			if pos[1] == "add" {
				return append(c.nodeNames(), "--peer", "--link", "--dir", "--drop", "--delay", "--dup")
			}
		}
		return nil
	case cmd.name == "cdb" && len(pos) == 1 && cdbKeyArg[pos[0]]:
		return c.cdbKeys(partial)
	case cmd.nodeArg && len(pos) == 0:
		return append(c.nodeNames(), cmd.subs...) // fence n3, fence history
	case cmd.name == "move" && len(pos) == 1:
		return append(c.nodeNames(), "--for")
	case cmd.groupArg && len(pos) == 0:
		return append(c.crmNames("group"), cmd.subs...)
	case cmd.resourceArg && len(pos) == 0:
		return append(c.crmNames("resource"), cmd.subs...)
	case (cmd.name == "resource" || cmd.name == "group") && len(pos) == 0:
		return cmd.subs
	case cmd.name == "resource" && len(pos) == 1 && pos[0] == "del":
		return c.crmNames("resource")
	case cmd.name == "group" && len(pos) == 1 && pos[0] == "del":
		return c.crmNames("group")
	case len(pos) == 0 && len(cmd.subs) > 0:
		return cmd.subs
	case cmd.name == "disk" && len(pos) == 1 && pos[0] != "add":
		return c.crmNames("disk")
	case cmd.name == "disk" && len(pos) == 2 && pos[0] == "move":
		return c.nodeNames()
	case cmd.name == "disk" && len(pos) >= 2 && pos[0] == "add":
		return []string{"--backing", "--size", "--servers", "--group"}
	case cmd.name == "unlock" && len(pos) == 0:
		return c.s.heldLockNames()
	case cmd.name == "lua" && len(pos) == 1 && pos[0] == "run":
		return luaFiles(partial)
	}
	return out
}

// cdbKeyArg: the cdb subcommands whose argument is a key or a prefix.
var cdbKeyArg = map[string]bool{"get": true, "set": true, "del": true, "delete": true, "rm": true,
	"list": true, "ls": true, "watch": true}

// cdbKeys lists the config DB's names one level below the folder of
// partial ("/gr" -> "/groups/", "/groups/w" -> "/groups/web/" or
// "/groups/web"), from the node, for key completion.
func (c *completer) cdbKeys(partial string) []string {
	if partial != "" && !strings.HasPrefix(partial, "/") {
		return nil
	}
	dir := partial[:strings.LastIndex(partial, "/")+1]
	if dir == "" {
		dir = "/"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var res apitypes.CDBListResult
	if err := c.s.Client.Get(ctx, "/v1/cdb?prefix="+url.QueryEscape(dir)+"&stale=true", &res); err != nil {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, k := range res.Keys {
		rest, ok := strings.CutPrefix(k.Key, dir)
		if !ok || rest == "" {
			continue
		}
		name := dir + rest
		if i := strings.Index(rest, "/"); i >= 0 {
			name = dir + rest[:i+1] // a folder: go on into it
		}
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// positional drops flags (and their values) from a command's words.
func positional(cmd *command, words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if strings.HasPrefix(w, "--") || cmd.shortFlag(w) {
			for _, f := range cmd.flags {
				if f.name == w && f.value != "" {
					i++
				}
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// luaFiles lists the .lua files and the directories whose path starts
// with partial (lua run FILE).
func luaFiles(partial string) []string {
	matches, _ := filepath.Glob(partial + "*")
	var out []string
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.IsDir() {
			out = append(out, m+"/")
		} else if strings.HasSuffix(m, ".lua") {
			out = append(out, m)
		}
	}
	return out
}
