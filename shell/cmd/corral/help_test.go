package main

import (
	"bytes"
	"strings"
	"testing"
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
