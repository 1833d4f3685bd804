package nbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestClientRoundTrip(t *testing.T) {
	for _, o := range []ClientOptions{
		{}, {Structured: true}, {Info: true, List: true}, {ExportName: true}, {Structured: true, ExportName: true}, {NoBlockSize: true},
	} {
		t.Run(fmt.Sprintf("%+v", o), func(t *testing.T) {
			exps, mem := oneExport("d", 1<<20)
			ts := startServer(t, exps)
			cl, err := Dial("unix", ts.sock, "d", o)
			if err != nil {
				t.Fatal(err)
			}
			if cl.Size() != 1<<20 {
				t.Fatalf("size %d", cl.Size())
			}
			want := uint16(tflagsAlwaysServed | tflagCanMultiConn)
			if o.Structured && !o.ExportName {
				want |= tflagSendDF
			}
			if o.Structured && o.ExportName {
				want |= tflagSendDF
			}
			if cl.Flags() != want {
				t.Fatalf("flags %#x, want %#x", cl.Flags(), want)
			}
			if o.List && (len(cl.Exports()) != 1 || cl.Exports()[0] != "d") {
				t.Fatalf("list %v", cl.Exports())
			}
			p := bytes.Repeat([]byte{0xab}, 8192)
			if err := cl.WriteAt(p, 4096, true); err != nil {
				t.Fatal(err)
			}
			q := make([]byte, 8192+10)
			if err := cl.ReadAt(q, 4096-5); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(q[5:8197], p) || q[0] != 0 || q[8197] != 0 {
				t.Fatalf("read back wrong data")
			}
			if err := cl.Zero(4096, 100, false, true); err != nil {
				t.Fatal(err)
			}
			if err := cl.Trim(8192, 4096, false); err != nil {
				t.Fatal(err)
			}
			if err := cl.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := cl.ReadAt(q[:0], 0); err != nil {
				t.Fatalf("zero-length read: %v", err)
			}
			if err := cl.Close(); err != nil {
				t.Fatal(err)
			}
			d := mem.snapshot()
			if !bytes.Equal(d[4096:4196], make([]byte, 100)) || d[4196] != 0xab || !bytes.Equal(d[8192:12288], make([]byte, 4096)) {
				t.Fatalf("backend state wrong")
			}
			if mem.flushes != 1 || mem.fuas != 1 || mem.noHoles != 1 || mem.trims != 1 {
				t.Fatalf("backend calls: flush %d fua %d nohole %d trim %d", mem.flushes, mem.fuas, mem.noHoles, mem.trims)
			}
			st := ts.srv.Stats
			if st.Requests[cmdWrite].Load() != 1 || st.BytesWritten.Load() != 8192 || st.BytesRead.Load() != 8202 {
				t.Fatalf("stats: writes %d written %d read %d", st.Requests[cmdWrite].Load(), st.BytesWritten.Load(), st.BytesRead.Load())
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	exps, mem := oneExport("d", 1<<20)
	ro := newMem(4096)
	exps["ro"] = Export{Name: "ro", Size: 4096, Backend: ro, ReadOnly: true}
	exps["aligned"] = Export{Name: "aligned", Size: 1 << 20, Backend: mem, MinBlock: 512, MaxBlock: 64 << 10}
	mem.failAt = map[uint64]error{
		512 * 1024: fmt.Errorf("wrapped: %w", ENOSPC),
		600 * 1024: errors.New("disk on fire"),
	}
	ts := startServer(t, exps)
	type tc struct {
		export string
		typ    uint16
		flags  uint16
		off    uint64
		length uint32
		want   Errno
	}
	cases := []tc{
		{"d", cmdRead, 0, 1 << 20, 1, EINVAL},
		{"d", cmdRead, 0, 1<<20 - 1, 2, EINVAL},
		{"d", cmdRead, 0, ^uint64(0) - 2, 8, EINVAL},
		{"d", cmdWrite, 0, 1<<20 - 1, 2, ENOSPC},
		{"d", cmdWriteZeroes, 0, 1<<20 - 1, 2, ENOSPC},
		{"d", cmdTrim, 0, 1<<20 - 1, 2, EINVAL},
		{"d", cmdFlush, 0, 1, 0, EINVAL},
		{"d", 99, 0, 0, 0, EINVAL},
		{"d", cmdCache, 0, 0, 1, EINVAL},
		{"d", cmdBlockStatus, 0, 0, 1, EINVAL},
		{"d", cmdRead, cmdFlagDF, 0, 1, 0}, // structured below: DF valid
		{"d", cmdRead, cmdFlagNoHole, 0, 1, EINVAL},
		{"d", cmdRead, 1 << 9, 0, 1, EINVAL},
		{"d", cmdRead, cmdFlagFUA, 0, 1, 0},
		{"d", cmdWriteZeroes, cmdFlagFastZero, 0, 1, ENOTSUP},
		{"d", cmdRead, 0, 0, DefaultMaxBlock + 1, EINVAL},
		{"d", cmdWrite, 0, 512 * 1024, 1, ENOSPC},
		{"d", cmdRead, 0, 600 * 1024, 1, EIO},
		{"d", cmdWrite, 0, 600 * 1024, 1, EIO},
		{"ro", cmdWrite, 0, 0, 1, EPERM},
		{"ro", cmdTrim, 0, 0, 1, EPERM},
		{"ro", cmdWriteZeroes, 0, 0, 1, EPERM},
		{"ro", cmdRead, 0, 0, 1, 0},
		{"ro", cmdFlush, 0, 0, 0, 0},
		{"aligned", cmdRead, 0, 1, 512, EINVAL},
		{"aligned", cmdRead, 0, 0, 511, EINVAL},
		{"aligned", cmdRead, 0, 0, 64<<10 + 512, EINVAL},
		{"aligned", cmdWrite, 0, 0, 64<<10 + 512, EINVAL},
		{"aligned", cmdRead, 0, 512, 1024, 0},
	}
	for _, structured := range []bool{false, true} {
		clients := map[string]*Client{}
		for _, n := range []string{"d", "ro", "aligned"} {
			cl, err := Dial("unix", ts.sock, n, ClientOptions{Structured: structured})
			if err != nil {
				t.Fatal(err)
			}
			clients[n] = cl
		}
		for _, c := range cases {
			if c.flags&cmdFlagDF != 0 && !structured {
				c.want = EINVAL
			}
			var payload, buf []byte
			if c.typ == cmdWrite {
				payload = make([]byte, c.length)
			}
			if c.typ == cmdRead && c.length <= DefaultMaxBlock {
				buf = make([]byte, c.length)
			}
			err := clients[c.export].Raw(c.typ, c.flags, c.off, c.length, payload, buf)
			if c.want == 0 {
				if err != nil {
					t.Errorf("structured=%v %+v: %v", structured, c, err)
				}
				continue
			}
			var e Errno
			if !errors.As(err, &e) || e != c.want {
				t.Errorf("structured=%v %+v: error %v, want %v", structured, c, err, c.want)
			}
		}
		for _, cl := range clients {
			if err := cl.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	exps, mem := oneExport("d", 4<<20)
	ts := startServer(t, exps)
	cl, err := Dial("unix", ts.sock, "d", ClientOptions{Structured: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cl.Close() }()
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := uint64(i) * 16384
			p := bytes.Repeat([]byte{byte(i)}, 16384)
			if err := cl.WriteAt(p, off, false); err != nil {
				errs <- err
				return
			}
			q := make([]byte, 16384)
			if err := cl.ReadAt(q, off); err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(p, q) {
				errs <- fmt.Errorf("request %d: read back another's data", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d := mem.snapshot()
	for i := range n {
		if d[i*16384] != byte(i) {
			t.Fatalf("block %d wrong", i)
		}
	}
}

// TestInFlightOverlap: requests of one connection run concurrently: a
// backend that blocks every call until N calls are in it completes.
func TestInFlightOverlap(t *testing.T) {
	exps, mem := oneExport("d", 1<<20)
	const n = 16
	mem.started = make(chan struct{}, n)
	mem.gate = make(chan struct{})
	ts := startServer(t, exps)
	cl, err := Dial("unix", ts.sock, "d", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cl.ReadAt(make([]byte, 512), uint64(i)*512); err != nil {
				t.Error(err)
			}
		}()
	}
	for i := range n {
		select {
		case <-mem.started:
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d requests reached the backend at once", i)
		}
	}
	close(mem.gate)
	wg.Wait()
	_ = cl.Close()
}

// TestDiscWaitsInFlight: NBD_CMD_DISC finishes the requests in flight
// (their replies come) before the server closes.
func TestDiscWaitsInFlight(t *testing.T) {
	exps, mem := oneExport("d", 1<<20)
	mem.started = make(chan struct{}, 8)
	mem.gate = make(chan struct{})
	ts := startServer(t, exps)
	cl, err := Dial("unix", ts.sock, "d", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 4)
	for i := range 4 {
		go func() { res <- cl.WriteAt([]byte{byte(i + 1)}, uint64(i), false) }()
	}
	for range 4 {
		<-mem.started
	}
	closed := make(chan error, 1)
	go func() { closed <- cl.Close() }()
	// The server must not close while the writes are held.
	select {
	case <-closed:
		t.Fatal("connection closed with requests in flight")
	case <-time.After(100 * time.Millisecond):
	}
	close(mem.gate)
	for range 4 {
		if err := <-res; err != nil {
			t.Fatalf("in-flight write after DISC: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if d := mem.snapshot(); !bytes.Equal(d[:4], []byte{1, 2, 3, 4}) {
		t.Fatalf("writes lost: %v", d[:4])
	}
}

// TestServeCancelClosesConnections: when Serve's context is done, it
// closes the listener and every connection (a request blocked in the
// backend sees its context cancelled) and returns nil.
func TestServeCancelClosesConnections(t *testing.T) {
	exps, mem := oneExport("d", 1<<20)
	mem.started = make(chan struct{}, 1)
	mem.gate = make(chan struct{}) // never opened: only ctx ends the call
	sock := filepath.Join(shortDir(t), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{Exports: exps}).Serve(ctx, l) }()
	cl, err := Dial("unix", sock, "d", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res := make(chan error, 1)
	go func() { res <- cl.ReadAt(make([]byte, 512), 0) }()
	<-mem.started
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("read succeeded on a closed server")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client's connection was not closed")
	}
	if _, err := net.Dial("unix", sock); err == nil {
		t.Fatal("listener still accepts")
	}
}

// TestServeListenerClosed: Serve returns nil when its listener closes.
func TestServeListenerClosed(t *testing.T) {
	exps, _ := oneExport("d", 4096)
	l, err := net.Listen("unix", filepath.Join(shortDir(t), "s"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- (&Server{Exports: exps}).Serve(context.Background(), l) }()
	_ = l.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
}

// TestBackendErrnoMapping: a wrapped Errno reaches the client as is, a
// context error as ESHUTDOWN, anything else as EIO.
func TestBackendErrnoMapping(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Errno
	}{
		{nil, 0},
		{fmt.Errorf("x: %w", EOVERFLOW), EOVERFLOW},
		{fmt.Errorf("x: %w", context.Canceled), ESHUTDOWN},
		{errors.New("x"), EIO},
		{Errno(0), EIO},
	} {
		if got := toErrno(c.err); got != c.want {
			t.Errorf("toErrno(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
