package shell

import (
	"io"
	"strings"
	"unicode/utf8"
)

// table is an aligned table for people: columns two spaces apart, the
// last column not padded. With colour on, cells of the columns in colored
// get their state's colour (the padding stays outside the escape codes,
// so alignment holds).
type table struct {
	header  []string
	rows    [][]string
	colored map[int]bool
}

func newTable(header ...string) *table { return &table{header: header, colored: map[int]bool{}} }

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

// color marks columns whose cells are coloured by stateColor.
func (t *table) color(cols ...int) *table {
	for _, c := range cols {
		t.colored[c] = true
	}
	return t
}

// ANSI colours.
const (
	ansiReset  = "\x1b[0m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
)

// stateColor is the colour of a state word: good green, in between
// yellow, bad red; "" for others.
func stateColor(v string) string {
	switch strings.Fields(v + " x")[0] {
	case "online", "yes", "up", "self", "primary", "true", "serving":
		return ansiGreen
	case "paused", "leaving", "joining", "partial", "in-only", "out-only", "recovering":
		return ansiYellow
	case "offline", "fenced", "no", "down", "false":
		return ansiRed
	}
	return ""
}

func width(s string) int { return utf8.RuneCountInString(s) }

func (t *table) render(w io.Writer, color bool) error {
	widths := make([]int, len(t.header))
	all := t.rows
	if len(t.header) > 0 {
		all = append([][]string{t.header}, t.rows...)
	}
	for _, r := range all {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], width(c))
		}
	}
	var b strings.Builder
	for ri, r := range all {
		for i, c := range r {
			cell := c
			if color && ri == 0 && len(t.header) > 0 {
				cell = ansiBold + c + ansiReset
			} else if color && t.colored[i] {
				if col := stateColor(c); col != "" {
					cell = col + c + ansiReset
				}
			}
			b.WriteString(cell)
			if i < len(r)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-width(c)+2))
			}
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// kv prints key-value lines with the values aligned.
func kv(w io.Writer, color bool, pairs ...[2]string) error {
	widths := 0
	for _, p := range pairs {
		widths = max(widths, width(p[0]))
	}
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p[0])
		b.WriteString(strings.Repeat(" ", widths-width(p[0])+2))
		v := p[1]
		if color {
			if col := stateColor(v); col != "" {
				v = col + v + ansiReset
			}
		}
		b.WriteString(v)
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}
