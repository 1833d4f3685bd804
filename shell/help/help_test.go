package help

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestTopics checks that the topics and the .md files of this folder are
// the same set, and that every topic renders within Width columns.
func TestTopics(t *testing.T) {
	mds, err := fs.Glob(files, "*.md")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tp := range Topics() {
		names = append(names, tp.Name+".md")
		text, err := Text(tp.Name)
		if err != nil {
			t.Fatal(err)
		}
		if len(text) < 500 {
			t.Errorf("topic %s renders to %d bytes: is it written?", tp.Name, len(text))
		}
		for i, l := range strings.Split(text, "\n") {
			if n := utf8.RuneCountInString(l); n > Width && strings.Contains(strings.TrimSpace(l), " ") {
				t.Errorf("topic %s, rendered line %d has %d columns (max %d): %q", tp.Name, i+1, n, Width, l)
			}
		}
		if strings.Contains(text, "](") {
			t.Errorf("topic %s: a link survived rendering", tp.Name)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, mds) {
		t.Errorf("topics %v, files %v: every NAME.md is a topic and every topic has its file", names, mds)
	}
	if _, err := Text("nosuch"); err == nil {
		t.Error("Text of an unknown topic: no error")
	}
}

// TestRender pins the terminal rendering.
func TestRender(t *testing.T) {
	got := Render("# Title\n\nSome `code` and [the Lua reference](lua.md), [x](../../README.md).\n\n- a list item that is long enough to wrap around the width of the terminal here\n\n```\n  kept   as is\n```\n| a | b |\n|---|---|\n| 1 | 2 |\n", 40)
	if w := Render("| long | "+strings.Repeat("word ", 12)+"|\n", 30); w != "  long | word word word word\n      word word word word word\n      word word word\n" {
		t.Errorf("a wide table: %q", w)
	}
	want := "Title\n=====\n\nSome `code` and the Lua reference\n(corral help lua), x (../../README.md).\n\n- a list item that is long enough to\n  wrap around the width of the terminal\n  here\n\n      kept   as is\n  a  b\n  1  2\n"
	if got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

// repoRoot is the repository's top folder, from this package's.
const repoRoot = "../.."

// TestLinks checks every relative link of the topics and of README.md:
// it names a topic (and, with #anchor, one of its headings) or a file
// the repository ships.
func TestLinks(t *testing.T) {
	docs := map[string]string{} // path from the root -> text
	for _, tp := range Topics() {
		src, err := Source(tp.Name)
		if err != nil {
			t.Fatal(err)
		}
		docs["shell/help/"+tp.Name+".md"] = src
	}
	readme, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs["README.md"] = string(readme)
	if !strings.Contains(docs["README.md"], "shell/help/") {
		t.Error("README.md links no topic of shell/help/")
	}
	n := 0
	for _, path := range slices.Sorted(mapsKeys(docs)) {
		for _, target := range Links(docs[path]) {
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			n++
			file, anchor, _ := strings.Cut(target, "#")
			if file == "" {
				file = filepath.Base(path)
			}
			rel := filepath.Join(filepath.Dir(path), file)
			if _, err := os.Stat(filepath.Join(repoRoot, rel)); err != nil {
				t.Errorf("%s: link %q: %s is not in the repository", path, target, rel)
				continue
			}
			if anchor != "" {
				text := docs[filepath.ToSlash(rel)]
				if !slices.Contains(anchors(text), anchor) {
					t.Errorf("%s: link %q: %s has no heading #%s (it has %v)", path, target, rel, anchor, anchors(text))
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d relative links checked", n)
	}
}

var slugDrop = regexp.MustCompile(`[^a-z0-9 _-]`)

// anchors are the GitHub anchors of a Markdown text's headings.
func anchors(md string) []string {
	var out []string
	inCode := false
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.ToLower(strings.TrimSpace(strings.TrimLeft(l, "#")))
		out = append(out, strings.ReplaceAll(slugDrop.ReplaceAllString(h, ""), " ", "-"))
	}
	return out
}
