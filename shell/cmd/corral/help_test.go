package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/corral-ha/corral/shell/help"
)

// TestHelpFits walks the binary's help: `corral --help` and every
// command's --help exit 0, print on stdout, fit an 80-column terminal (a
// tab counts 8) and name no source file.
func TestHelpFits(t *testing.T) {
	calls := [][]string{{"--help"}, {"help"}, {"-h"}, {"demo", "stop", "--help"}}
	for _, c := range commands() {
		calls = append(calls, []string{c.name, "--help"}, []string{c.name, "-h"})
	}
	for _, args := range calls {
		var out, errb bytes.Buffer
		code := run(args, &out, &errb)
		if code != 0 || out.Len() == 0 || errb.Len() != 0 {
			t.Errorf("corral %s: exit %d, stdout %q, stderr %q; want exit 0 and help on stdout", strings.Join(args, " "), code, out.String(), errb.String())
		}
		for _, l := range strings.Split(out.String(), "\n") {
			if w := len(strings.ReplaceAll(l, "\t", "        ")); w > 80 {
				t.Errorf("corral %s: a line of %d columns: %q", strings.Join(args, " "), w, l)
			}
			if strings.Contains(l, ".go ") || strings.Contains(l, ".go)") || strings.HasSuffix(l, ".go") {
				t.Errorf("corral %s: names a source file: %q", strings.Join(args, " "), l)
			}
		}
	}
}

// TestHelpReferences: every `corral help NAME` the repository writes (in
// Go sources, messages and comments, the topics, README, configs, Lua
// scripts) names a topic, a command or the shipped unit file, and every
// `help topic NAME` a topic; and `corral help NAME` prints it.
func TestHelpReferences(t *testing.T) {
	root := "../../.."
	valid := map[string]bool{"corral.service": true}
	for _, tp := range help.Topics() {
		valid[tp.Name] = true
	}
	for _, c := range commands() {
		valid[c.name] = true
	}
	ref := regexp.MustCompile(`corral help ([a-z0-9][a-z0-9_.-]*)`)
	topicRef := regexp.MustCompile("help topic ([a-z0-9][a-z0-9_.-]*)")
	cont := regexp.MustCompile(`\n[ \t]*(//|#)?[ \t]*`) // a comment's next line
	seen := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") && name != ".ci" || name == "bin" || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "shell/cmd/corral/help_test.go") {
			return nil // this test's own messages
		}
		switch filepath.Ext(path) {
		case ".go", ".md", ".lua", ".toml", ".service", ".yml":
		default:
			if d.Name() != "Makefile" {
				return nil
			}
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text := cont.ReplaceAllString(string(b), " ")
		for _, m := range ref.FindAllStringSubmatch(text, -1) {
			seen++
			if name := strings.TrimRight(m[1], "."); !valid[name] {
				t.Errorf("%s: %q names no topic or command of corral help", path, m[0])
			}
		}
		if strings.HasSuffix(path, "_test.go") {
			return nil // tests type partial and wrong topics on purpose
		}
		for _, m := range topicRef.FindAllStringSubmatch(text, -1) {
			if _, ok := help.Lookup(strings.TrimRight(m[1], ".")); !ok {
				t.Errorf("%s: %q names no topic", path, m[0])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 30 {
		t.Errorf("found only %d corral help references: is the walk right?", seen)
	}
	for name := range valid {
		var out, errb bytes.Buffer
		if code := run([]string{"help", name}, &out, &errb); code != 0 || out.Len() == 0 {
			t.Errorf("corral help %s: exit %d, stderr %q", name, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"help", "nosuch"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "no topic or command") {
		t.Errorf("corral help nosuch: exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	run([]string{"help"}, &out, &errb)
	for _, tp := range help.Topics() {
		if !strings.Contains(out.String(), "  "+tp.Name+" ") {
			t.Errorf("corral help does not list the topic %s", tp.Name)
		}
	}
}
