package shell

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// unshipped are citations of documents the repository does not ship:
// the session notes the code was first written from. Code, messages and
// help cite `corral help TOPIC` instead.
var unshipped = []*regexp.Regexp{
	regexp.MustCompile(`dlm-semantics`),
	regexp.MustCompile(`ARCHITECTURE`),
	regexp.MustCompile(`\bseeds/(\d{3}|[a-zA-Z])`),
	regexp.MustCompile(`\bseed (document|file)s?\b`),
}

// upstream are documents of other projects, cited with their project:
// they are published standards, not ours to ship.
var upstream = map[string]string{
	"proto.md": "NBD's protocol, NetworkBlockDevice/nbd doc/proto.md",
	"NAME.md":  "shell/help's own placeholder for a topic's file",
}

var mdName = regexp.MustCompile(`[A-Za-z0-9_-]+\.md\b`)

// TestNoUnshippedCitations: no source, script, config or document of the
// repository cites a document the repository does not ship (issue 23):
// none names the notes above, and every FILE.md a .go, .lua or .toml file
// names exists in the repository (or is an upstream standard above).
func TestNoUnshippedCitations(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files").Output()
	if err != nil {
		t.Skipf("git ls-files: %v (not a git checkout)", err)
	}
	files := strings.Fields(string(out))
	shipped := map[string]bool{}
	for _, f := range files {
		shipped[filepath.Base(f)] = true
	}
	self := filepath.Join("shell", "citations_test.go")
	checked := 0
	for _, f := range files {
		ext := filepath.Ext(f)
		text := ext == ".go" || ext == ".md" || ext == ".lua" || ext == ".toml" || strings.Contains(f, "/testdata/")
		if !text || f == self {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			continue // deleted in the work tree
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			for _, re := range unshipped {
				if re.MatchString(line) {
					t.Errorf("%s:%d cites a document the repository does not ship (%s): cite `corral help TOPIC`: %s", f, i+1, re, strings.TrimSpace(line))
				}
			}
			if ext == ".go" || ext == ".lua" || ext == ".toml" {
				for _, m := range mdName.FindAllString(line, -1) {
					if !shipped[m] && upstream[m] == "" {
						t.Errorf("%s:%d cites %s, which the repository does not ship: cite `corral help TOPIC`: %s", f, i+1, m, strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if checked < 100 {
		t.Fatalf("checked only %d files under %s", checked, root)
	}
}
