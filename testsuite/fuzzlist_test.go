package testsuite

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestFuzzTargetsListed: `make fuzz` runs every fuzz target of the
// repository: the Makefile's FUZZ_TARGETS lists each func FuzzX of a
// package (as package:FuzzX) and nothing that does not exist.
func TestFuzzTargetsListed(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)\nFUZZ_TARGETS = (.*?)\n[^\t]`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("no FUZZ_TARGETS in the Makefile")
	}
	listed := strings.Fields(strings.ReplaceAll(string(m[1]), `\`, " "))
	fn := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	var found []string
	err = filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && p != ".." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, x := range fn.FindAllSubmatch(b, -1) {
			found = append(found, filepath.ToSlash(filepath.Dir(strings.TrimPrefix(p, "../")))+":"+string(x[1]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	slices.Sort(found)
	for _, x := range found {
		if !slices.Contains(listed, x) {
			t.Errorf("fuzz target %s is not in the Makefile's FUZZ_TARGETS: add it", x)
		}
	}
	for _, x := range listed {
		if !slices.Contains(found, x) {
			t.Errorf("FUZZ_TARGETS lists %s, which does not exist", x)
		}
	}
}
