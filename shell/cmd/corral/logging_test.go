package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestLogDropsEmptyFields: a field whose value is empty (a peer with no
// name yet, an error that is "", no scripts changed) is left out of the
// line instead of printing `peer=""`.
func TestLogDropsEmptyFields(t *testing.T) {
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelInfo).With("component", "")
	log.Info("hello", "peer", "", "err", "", "added", []string{}, "node", "n1", "count", 0)
	line := buf.String()
	for _, absent := range []string{"peer=", "err=", "added=", "component="} {
		if strings.Contains(line, absent) {
			t.Errorf("log line has the empty field %s: %s", absent, line)
		}
	}
	for _, present := range []string{"msg=hello", "node=n1", "count=0", "level=INFO"} {
		if !strings.Contains(line, present) {
			t.Errorf("log line lacks %s: %s", present, line)
		}
	}
}
