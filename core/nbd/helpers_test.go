package nbd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"
)

// memBackend is an in-memory Backend recording what it was asked.
type memBackend struct {
	mu      sync.Mutex
	data    []byte
	flushes int
	fuas    int
	trims   int
	zeroes  int
	noHoles int
	// gate, when set, blocks every call until closed (DISC tests).
	gate    chan struct{}
	started chan struct{} // receives one value per call when set
	failAt  map[uint64]error
}

func newMem(size int) *memBackend { return &memBackend{data: make([]byte, size)} }

func (m *memBackend) enter(ctx context.Context, off uint64) error {
	if m.started != nil {
		m.started <- struct{}{}
	}
	if m.gate != nil {
		select {
		case <-m.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.failAt[off]; err != nil {
		return err
	}
	return nil
}

func (m *memBackend) ReadAt(ctx context.Context, p []byte, off uint64) error {
	if err := m.enter(ctx, off); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(p, m.data[off:])
	return nil
}

func (m *memBackend) WriteAt(ctx context.Context, p []byte, off uint64, fua bool) error {
	if err := m.enter(ctx, off); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	copy(m.data[off:], p)
	if fua {
		m.fuas++
	}
	return nil
}

func (m *memBackend) Flush(ctx context.Context) error {
	if err := m.enter(ctx, 1<<63); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flushes++
	return nil
}

func (m *memBackend) Trim(ctx context.Context, off uint64, length uint32, fua bool) error {
	if err := m.enter(ctx, off); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trims++
	clear(m.data[off : off+uint64(length)])
	if fua {
		m.fuas++
	}
	return nil
}

func (m *memBackend) Zero(ctx context.Context, off uint64, length uint32, fua, noHole bool) error {
	if err := m.enter(ctx, off); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.zeroes++
	if noHole {
		m.noHoles++
	}
	if fua {
		m.fuas++
	}
	clear(m.data[off : off+uint64(length)])
	return nil
}

func (m *memBackend) snapshot() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]byte(nil), m.data...)
}

// mapExports is a fixed set of exports.
type mapExports map[string]Export

func (m mapExports) Lookup(name string) (Export, bool) {
	e, ok := m[name]
	return e, ok
}

func (m mapExports) List() []Export {
	var out []Export
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// shortDir is a temporary directory short enough for a Unix socket path.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "nbd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

type testServer struct {
	srv  *Server
	sock string
	done chan error
}

// startServer serves exps on a Unix socket until the test ends.
func startServer(t testing.TB, exps Exports) *testServer {
	t.Helper()
	sock := filepath.Join(shortDir(t), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: &Server{Exports: exps, Stats: &Stats{}}, sock: sock, done: make(chan error, 1)}
	go func() { ts.done <- ts.srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-ts.done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return ts
}

func oneExport(name string, size int) (mapExports, *memBackend) {
	m := newMem(size)
	return mapExports{name: {Name: name, Description: "test disk " + name, Size: uint64(size), Backend: m, MultiConn: true}}, m
}
