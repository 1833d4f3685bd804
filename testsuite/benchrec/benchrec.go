// Package benchrec records the headline figures of `make bench` for the one
// table `make bench` ends with (testsuite/benchtable prints it). A benchmark
// that makes a headline figure calls Add once; when CORRAL_BENCH_RESULTS names
// a file, Add appends one JSON line to it, otherwise it does nothing. Only
// benchmarks import it: it is no part of the binary.
package benchrec

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Env names the file the records are appended to (the Makefile sets it).
const Env = "CORRAL_BENCH_RESULTS"

// Record is one figure of one run. Figure is a key of benchtable's catalogue
// (e.g. "failover-web-p50"); Value is corral's figure in Unit; Peer and
// PeerValue, when set, are the peer's figure in the same unit from the same run.
type Record struct {
	Figure    string    `json:"figure"`
	Value     float64   `json:"value"`
	Unit      string    `json:"unit"`
	Peer      string    `json:"peer,omitempty"`
	PeerValue float64   `json:"peer_value,omitempty"`
	Note      string    `json:"note,omitempty"`
	At        time.Time `json:"at"`
}

// Add appends r (At set to now when zero) to the file named by $CORRAL_BENCH_RESULTS;
// without it, it does nothing. An error is returned for the caller to report
// (a benchmark logs it: the figure is still in its output).
func Add(r Record) error {
	path := os.Getenv(Env)
	if path == "" {
		return nil
	}
	if r.At.IsZero() {
		r.At = time.Now().UTC()
	}
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("benchrec: %s: %w", r.Figure, err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("benchrec: %w", err)
	}
	if _, err := f.Write(append(line, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("benchrec: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("benchrec: %s: %w", path, err)
	}
	return nil
}

// Logger is the part of testing.TB Log uses.
type Logger interface {
	Logf(format string, args ...any)
}

// Log is Add for a benchmark: a failure to record is logged, not fatal.
func Log(tb Logger, r Record) {
	if err := Add(r); err != nil {
		tb.Logf("%v", err)
	}
}
