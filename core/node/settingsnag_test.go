package node

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/config"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) count(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), sub)
}

// TestQuorumSettingsMismatchNamedPeriodically: a peer whose quorum
// settings differ is named in the log when it is first refused and again
// at most once per period while it stays reachable and refused: never a
// line per packet, and never only once (a line an operator may have missed
// at start).
func TestQuorumSettingsMismatchNamedPeriodically(t *testing.T) {
	dir := t.TempDir()
	paths := writeCluster(t, dir, 138, 2)
	f, err := os.OpenFile(paths[1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n[quorum]\npolicy = \"last_man_standing\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	const every = 400 * time.Millisecond
	var logs [2]*syncBuffer
	for k, p := range paths {
		cfg, err := config.Load(p)
		if err != nil {
			t.Fatal(err)
		}
		logs[k] = &syncBuffer{}
		n, err := Open(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs[k], nil))})
		if err != nil {
			t.Fatal(err)
		}
		n.nagEvery = every
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	const line = "quorum settings differ"
	start := time.Now()
	eventually(t, 30*time.Second, "n1 names n2 three times", func() bool { return logs[0].count(line) >= 3 })
	elapsed := time.Since(start)
	got := logs[0].count(line)
	if limit := int(elapsed/every) + 3; got > limit {
		t.Fatalf("n1 named n2 %d times in %v (period %v): more than once per period", got, elapsed, every)
	}
	if s := logs[0].String(); !strings.Contains(s, "peer=n2") || !strings.Contains(s, "policy") {
		t.Fatalf("the line does not name the peer and the setting:\n%s", s)
	}
}
