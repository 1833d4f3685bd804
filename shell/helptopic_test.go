package shell

import (
	"strings"
	"testing"

	"github.com/corral-ha/corral/shell/help"
)

// TestHelpTopics: `help` lists the documentation's topics, `help TOPIC`
// shows one without a node (a command of the same name keeps its help,
// which points to `help topic NAME`), and `help topic TOPIC` shows it.
func TestHelpTopics(t *testing.T) {
	run := func(line string) (int, string, string) {
		env, out, errb := testEnv("")
		code := Run([]string{"--socket", "/nonexistent/corral.sock", "-c", line}, env)
		return code, out.String(), errb.String()
	}
	_, list, _ := run("help")
	for _, tp := range help.Topics() {
		if !strings.Contains(list, "  "+tp.Name+" ") {
			t.Errorf("help does not list the topic %s:\n%s", tp.Name, list)
		}
		want, err := help.Text(tp.Name)
		if err != nil {
			t.Fatal(err)
		}
		code, out, errb := run("help topic " + tp.Name)
		if code != 0 || errb != "" || out != want {
			t.Errorf("help topic %s: exit %d, stderr %q, %d bytes; want the topic", tp.Name, code, errb, len(out))
		}
		code, out, _ = run("help " + tp.Name)
		switch {
		case lookup(tp.Name) != nil:
			if code != 0 || !strings.HasPrefix(out, "Usage: "+tp.Name) || !strings.Contains(out, "help topic "+tp.Name) {
				t.Errorf("help %s (a command too): exit %d, %q; want its usage and a pointer to help topic %s", tp.Name, code, out, tp.Name)
			}
		case code != 0 || out != want:
			t.Errorf("help %s: exit %d, %d bytes; want the topic", tp.Name, code, len(out))
		}
	}
	bogus := "nosuch"
	if code, _, errb := run("help topic " + bogus); code != 2 || !strings.Contains(errb, `no topic "`+bogus+`"`) {
		t.Errorf("help topic %s: exit %d, stderr %q", bogus, code, errb)
	}
}

// TestHelpTopicCompletion: Tab completes topics after help, and every
// topic after help topic.
func TestHelpTopicCompletion(t *testing.T) {
	c := &completer{s: &Shell{}}
	for line, want := range map[string]string{"help topic con": "fig ", "help des": "ign ", "help topic l": "ua ", "help to": "pic "} {
		got, _ := c.Do([]rune(line), len([]rune(line)))
		if len(got) != 1 || string(got[0]) != want {
			t.Errorf("complete %q: %q, want %q", line, got, want)
		}
	}
}
