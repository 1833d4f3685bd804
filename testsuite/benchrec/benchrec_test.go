package benchrec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdd: without $CORRAL_BENCH_RESULTS nothing is written; with it, each
// Add appends one JSON line.
func TestAdd(t *testing.T) {
	t.Setenv(Env, "")
	if err := Add(Record{Figure: "x", Value: 1}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "r.jsonl")
	t.Setenv(Env, path)
	for _, v := range []float64{1.5, 2} {
		if err := Add(Record{Figure: "x", Value: v, Unit: "ms"}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), b)
	}
	var r Record
	if err := json.Unmarshal([]byte(lines[1]), &r); err != nil || r.Value != 2 || r.Unit != "ms" || r.At.IsZero() {
		t.Errorf("second line %s: %+v %v", lines[1], r, err)
	}
}
