// Package help is corral's user documentation: Markdown topics embedded in
// the binary and shown by `corral help TOPIC` and the shell's `help TOPIC`,
// like `git help`. The files are readable as they are (README links them);
// Render turns one into plain text for an 80-column terminal.
//
// Contract:
//
//   - Topics lists every topic in the order `corral help` shows them; each
//     is the file NAME.md of this folder, and every .md file here is a topic
//     (TestTopics).
//   - Every relative link of a topic names a file the repository ships or
//     another topic, and every `corral help X` a document names is a topic
//     or a command (TestLinks, and in shell/cmd/corral TestHelpReferences).
//   - config.md's reference is generated from core/config (the schema's
//     field comments, Default and the validation rules), and lua.md's
//     list of shipped scripts from their meta(); `go generate
//     ./shell/help/` rewrites both, and the tests fail when a file is out of
//     date (TestConfigReference, and lua's TestLuaReference).
package help

//go:generate go test . -run ^TestConfigReference$ -update
//go:generate go test ../../lua/ -run ^TestLuaReference$ -update

import (
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"unicode/utf8"
)

//go:embed *.md corral.service
var files embed.FS

// Topic is one document.
type Topic struct {
	Name    string // corral help NAME; the file is NAME.md
	Summary string // one line for the list
}

// Topics lists the documents in the order `corral help` shows them.
func Topics() []Topic {
	return []Topic{
		{"start", "getting started: the demo, then a cluster on three machines"},
		{"config", "the configuration file: every key, type, default and meaning"},
		{"lua", "the Lua reference: modules, functions, script kinds"},
		{"operations", "systemd, upgrades, backup, a dead node, lost quorum, fencing"},
		{"design", "how corral works: pure cores, the stack, guarantees, tests"},
		{"events", "the event stream: kinds, fields, order"},
		{"dlm", "the distributed lock manager: modes, corral lock, the Lua module"},
	}
}

// Lookup reports whether name is a topic.
func Lookup(name string) (Topic, bool) {
	for _, t := range Topics() {
		if t.Name == name {
			return t, true
		}
	}
	return Topic{}, false
}

// Source returns a topic's Markdown.
func Source(name string) (string, error) {
	if _, ok := Lookup(name); !ok {
		return "", fmt.Errorf("help: no topic %q", name)
	}
	b, err := fs.ReadFile(files, name+".md")
	if err != nil {
		return "", fmt.Errorf("help: topic %s: %w", name, err)
	}
	return string(b), nil
}

// File returns a shipped file of this folder (the systemd unit).
func File(name string) ([]byte, error) { return fs.ReadFile(files, name) }

// Width is the widest line Render writes outside code blocks.
const Width = 79

// Text returns a topic rendered for a terminal.
func Text(name string) (string, error) {
	src, err := Source(name)
	if err != nil {
		return "", err
	}
	return Render(src, Width), nil
}

var (
	linkRE = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
	listRE = regexp.MustCompile(`^(\s*)([-*]|\d+\.) `)
)

// Render turns Markdown into plain text wrapped at width columns:
// headings are underlined, paragraphs and list items reflowed (list items
// hang under their bullet), code blocks and tables kept as written and
// indented, and a link to another topic reads "text (corral help NAME)".
// Inline code keeps its backquotes, so the text stays readable either way.
func Render(md string, width int) string {
	var out strings.Builder
	var para []string
	lead, pad := "", ""
	flush := func() {
		if len(para) > 0 {
			out.WriteString(wrapLines(links(strings.Join(para, " ")), width, lead, pad))
			para = nil
		}
		lead, pad = "", ""
	}
	inCode := false
	var table []string
	for _, l := range strings.Split(md, "\n") {
		if len(table) > 0 && !strings.HasPrefix(strings.TrimSpace(l), "|") {
			out.WriteString(renderTable(table, width))
			table = nil
		}
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			flush()
			inCode = !inCode
			continue
		}
		if inCode {
			out.WriteString(strings.TrimRight("    "+l, " ") + "\n")
			continue
		}
		if strings.HasPrefix(l, "<!--") {
			continue // generator markers
		}
		t := strings.TrimSpace(l)
		switch {
		case t == "":
			flush()
			out.WriteString("\n")
		case strings.HasPrefix(t, "#"):
			flush()
			level := len(t) - len(strings.TrimLeft(t, "#"))
			h := links(strings.TrimSpace(t[level:]))
			out.WriteString(h + "\n")
			if level <= 2 {
				u := "="
				if level == 2 {
					u = "-"
				}
				out.WriteString(strings.Repeat(u, utf8.RuneCountInString(h)) + "\n")
			}
		case strings.HasPrefix(t, "|"):
			flush()
			table = append(table, t)
			continue
		case listRE.MatchString(l):
			flush()
			m := listRE.FindStringSubmatch(l)
			lead = m[0]
			pad = strings.Repeat(" ", utf8.RuneCountInString(m[0]))
			para = append(para, strings.TrimSpace(l[len(m[0]):]))
		default:
			para = append(para, t)
		}
	}
	flush()
	if len(table) > 0 {
		out.WriteString(renderTable(table, width))
	}
	return strings.TrimRight(out.String(), "\n") + "\n"
}

// renderTable lays out a Markdown table's rows: in aligned columns when
// they fit in width, else each row as one paragraph, its cells joined by
// " | " and its next lines indented.
func renderTable(rows []string, width int) string {
	var cells [][]string
	for _, r := range rows {
		r = strings.Trim(strings.TrimSpace(r), "|")
		if strings.Trim(r, "|-: ") == "" {
			continue // the header rule
		}
		var row []string
		for _, c := range strings.Split(r, "|") {
			row = append(row, links(strings.TrimSpace(c)))
		}
		cells = append(cells, row)
	}
	var widths []int
	for _, row := range cells {
		for i, c := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	total := 2
	for _, w := range widths {
		total += w + 2
	}
	var out strings.Builder
	for _, row := range cells {
		if total-2 <= width {
			line := " "
			for i, c := range row {
				line += " " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+1)
			}
			out.WriteString(strings.TrimRight(line, " ") + "\n")
			continue
		}
		out.WriteString(wrapLines(strings.Join(row, " | "), width, "  ", "      "))
	}
	return out.String()
}

// links rewrites Markdown links for a terminal: "[the Lua reference](lua.md)"
// becomes "the Lua reference (corral help lua)"; other targets are kept.
func links(s string) string {
	return linkRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := linkRE.FindStringSubmatch(m)
		text, target := sm[1], sm[2]
		if name, ok := TopicOf(target); ok {
			if strings.Contains(text, "corral help") {
				return text
			}
			return text + " (corral help " + name + ")"
		}
		return text + " (" + target + ")"
	})
}

// TopicOf reports the topic a link target names ("operations.md#upgrades"
// names operations).
func TopicOf(target string) (string, bool) {
	name, _, _ := strings.Cut(target, "#")
	if strings.Contains(name, "/") || !strings.HasSuffix(name, ".md") {
		return "", false
	}
	name = strings.TrimSuffix(name, ".md")
	_, ok := Lookup(name)
	return name, ok
}

// Links returns the targets of a Markdown text's links, in order.
func Links(md string) []string {
	var out []string
	for _, m := range linkRE.FindAllStringSubmatch(md, -1) {
		out = append(out, m[2])
	}
	return out
}

// wrapLines wraps text at width columns at blanks: the first line starts
// with first, the others with pad. A word longer than the line gets a line
// of its own.
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
