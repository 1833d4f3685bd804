package shell

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/corral-ha/corral/core/api/apitest"
)

// checkWidth fails for a line wider than 80 columns.
func checkWidth(t *testing.T, what, out string) {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("%s: a line of %d columns: %q", what, n, l)
		}
	}
}

// TestHelpFits walks every command's help: `help`, `help NAME`, `NAME
// --help` and `NAME -h` exit 0 without a node, fit 80 columns, and NAME
// --help says what help NAME says.
func TestHelpFits(t *testing.T) {
	sock := "/nonexistent/corral.sock" // help needs no node
	run := func(args ...string) (int, string, string) {
		env, out, errb := testEnv("")
		code := Run(append([]string{"--socket", sock}, args...), env)
		return code, out.String(), errb.String()
	}
	for _, args := range [][]string{{"--help"}, {"-c", "help"}} {
		code, out, errb := run(args...)
		if code != 0 || errb != "" {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb)
		}
		checkWidth(t, strings.Join(args, " "), out)
	}
	for _, c := range commands() {
		_, want, _ := run("-c", "help "+c.name)
		checkWidth(t, "help "+c.name, want)
		for _, line := range []string{c.name + " --help", c.name + " -h"} {
			code, out, errb := run("-c", line)
			if code != 0 || errb != "" || out != want {
				t.Errorf("%s: exit %d, stderr %q, stdout %q; want exit 0 and the help of `help %s`", line, code, errb, out, c.name)
			}
		}
	}
}

// TestErrorsNameShellCommands: errors name shell commands, not the admin
// API's routes, and with --json an error is one JSON object on stderr.
func TestErrorsNameShellCommands(t *testing.T) {
	sock := serve(t, apitest.New())
	code, _, errb := runMain(t, "--socket", sock, "-c", "cdb get /nope")
	if code != 1 || !strings.Contains(errb, "no key /nope (list keys with cdb list /)") || strings.Contains(errb, "/v1/") {
		t.Errorf("cdb get /nope: exit %d, stderr %q", code, errb)
	}
	for _, line := range []string{"explain nope", "pause n9", "debug fault clear 99", "fence n9 --yes", "cleanup nope"} {
		_, _, errb := runMain(t, "--socket", sock, "-c", line)
		if strings.Contains(errb, "/v1/") {
			t.Errorf("%s: stderr names a route: %q", line, errb)
		}
	}
	for _, args := range [][]string{
		{"--socket", sock, "--json", "-c", "cdb get /nope"},
		{"--socket", sock, "-c", "cdb get /nope --json"},
		{"--socket", sock, "-c", "events --since x --json"},
	} {
		var out, errb bytes.Buffer
		code := Main(args, &out, &errb)
		var e ErrorJSON
		dec := json.NewDecoder(&errb)
		if err := dec.Decode(&e); err != nil || e.Error == "" || e.Exit != code || code == 0 || dec.More() {
			t.Errorf("%q: exit %d, stderr %q: want one JSON error object (%v)", args, code, errb.String(), err)
		}
	}
}
