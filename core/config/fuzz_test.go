package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds Parse a configuration file from the fuzzer (a user's
// typo, a half-written file). It never panics; a file is either accepted
// (and the result validates again) or refused with Problems, each naming
// this file, a line inside it (or none) and a message; the same file
// always gets the same verdict.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte(strings.Replace(good, "id = 3", "id = \"three\"", 1)))
	f.Add([]byte(good + "\n[fence]\nmode = \"maybe\"\n[[fence.devices]]\nname = 1\n"))
	f.Add([]byte("cluster = \"x\"\n[[nodes]]\nname = \"n1\"\nid = 70000\naddresses = [\"::1\", \"300.1.1.1\"]\n"))
	f.Add([]byte("a = [\n"))
	if ex, _ := filepath.Glob("../../examples/*/*.toml"); len(ex) > 0 {
		for _, p := range ex {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	const name = "/etc/corral/corral.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(name, data)
		nlines := strings.Count(string(data), "\n") + 1
		if err != nil {
			if c != nil {
				t.Fatal("a configuration returned with an error")
			}
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error %v is not Problems", err)
			}
			for _, p := range ps {
				if p.File != name || p.Line < 0 || p.Line > nlines || p.Msg == "" {
					t.Fatalf("problem %+v (file has %d lines)", p, nlines)
				}
			}
			_, err2 := Parse(name, data)
			if err2 == nil || err2.Error() != err.Error() {
				t.Fatalf("second parse: %v, first: %v", err2, err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted configuration does not validate again: %v", err)
		}
		c2, err := Parse(name, data)
		if err != nil || !reflect.DeepEqual(c, c2) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
