package api

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
)

// lockServer serves the API over a fake node with a fake lock manager.
func lockServer(t *testing.T) (*httptest.Server, *apitest.Node) {
	t.Helper()
	f := apitest.New()
	f.DLM = apitest.NewLocks(1)
	h := newHandler(t, f)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, f
}

// rawSession is a test client of the lock session protocol.
type rawSession struct {
	t    *testing.T
	conn net.Conn
	rd   *bufio.Reader
	msgs chan LockMsg
}

func dialSession(t *testing.T, srv *httptest.Server) *rawSession {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", apitypes.LockSessionPath, apitypes.LockSessionProto)
	rd := bufio.NewReader(conn)
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %s", resp.Status)
	}
	s := &rawSession{t: t, conn: conn, rd: rd, msgs: make(chan LockMsg, 100)}
	go func() {
		defer close(s.msgs)
		for {
			line, err := rd.ReadBytes('\n')
			if err != nil {
				return
			}
			var m LockMsg
			dec := json.NewDecoder(strings.NewReader(string(line)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&m); err != nil {
				m = LockMsg{Type: "undecodable", Error: string(line)}
			}
			s.msgs <- m
		}
	}()
	return s
}

func (s *rawSession) send(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.conn, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *rawSession) sendOp(op LockOp) {
	s.t.Helper()
	b, _ := json.Marshal(op)
	s.send(string(b))
}

// next returns the next message (failing after a deadline).
func (s *rawSession) next() LockMsg {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			s.t.Fatal("the session closed")
		}
		return m
	case <-time.After(10 * time.Second):
		s.t.Fatal("no message in 10 s")
	}
	return LockMsg{}
}

// expect returns the next message and checks its type and status.
func (s *rawSession) expect(typ, status string) LockMsg {
	s.t.Helper()
	m := s.next()
	if m.Type != typ || (status != "" && m.Status != status) {
		s.t.Fatalf("got %+v, want type %s status %q", m, typ, status)
	}
	return m
}

// quiet checks that nothing comes for a moment.
func (s *rawSession) quiet() {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		if ok {
			s.t.Fatalf("unexpected %+v", m)
		}
	case <-time.After(50 * time.Millisecond):
	}
}

// closed waits for the node to close the session.
func (s *rawSession) closed() {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				return
			}
		case <-deadline:
			s.t.Fatal("the session did not close")
		}
	}
}

func TestLockSessionGrantQueueBlockingUnlock(t *testing.T) {
	srv, _ := lockServer(t)
	a := dialSession(t, srv)
	a.sendOp(LockOp{Op: "hello"})
	ha := a.expect("hello", "")
	if !strings.HasPrefix(ha.Owner, "n1:") || ha.Node != "n1" {
		t.Fatalf("hello %+v", ha)
	}
	a.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "EX"})
	q := a.expect("queued", "")
	if q.Tag != 1 || q.Lock == 0 {
		t.Fatalf("queued %+v", q)
	}
	c := a.expect("completion", "ok")
	if c.Tag != 1 || c.Lock != q.Lock || c.Mode != "EX" {
		t.Fatalf("completion %+v", c)
	}

	// Without a hello first, the first op opens a fresh owner.
	b := dialSession(t, srv)
	b.sendOp(LockOp{Op: "lock", ID: 7, Name: "R", Mode: "pr", Flags: []string{"NOQUEUE"}})
	hb := b.expect("hello", "")
	if hb.Owner == ha.Owner {
		t.Fatalf("two sessions share owner %s", hb.Owner)
	}
	b.expect("queued", "")
	if m := b.expect("completion", "EAGAIN"); m.Tag != 7 || m.Mode != "IV" {
		t.Fatalf("noqueue: %+v", m)
	}
	a.quiet() // NOQUEUE without NOQUEUEBAST: no blocking notice

	b.sendOp(LockOp{Op: "lock", ID: 8, Name: "R", Mode: "PR"})
	qb := b.expect("queued", "")
	bl := a.expect("blocking", "")
	if bl.Lock != q.Lock || bl.Mode != "PR" {
		t.Fatalf("blocking %+v", bl)
	}
	b.quiet()
	a.sendOp(LockOp{Op: "unlock", ID: 2, Lock: q.Lock})
	if m := a.expect("completion", "EUNLOCK"); m.Tag != 2 || m.Mode != "IV" {
		t.Fatalf("unlock %+v", m)
	}
	if m := b.expect("completion", "ok"); m.Tag != 8 || m.Lock != qb.Lock || m.Mode != "PR" {
		t.Fatalf("granted after unlock: %+v", m)
	}
	// A lock unlocked is gone: unlocking it again is ENOENT, and the
	// session goes on.
	a.sendOp(LockOp{Op: "unlock", ID: 3, Lock: q.Lock})
	if m := a.expect("error", apitypes.LockErrNotFound); m.Tag != 3 || m.Hint == "" {
		t.Fatalf("%+v", m)
	}
	// Convert up, then down with a value block, which the next reader gets.
	b.sendOp(LockOp{Op: "convert", ID: 9, Lock: qb.Lock, Mode: "EX"})
	b.expect("queued", "")
	b.expect("completion", "ok")
	b.sendOp(LockOp{Op: "convert", ID: 10, Lock: qb.Lock, Mode: "NL", Flags: []string{"valblk"}, LVB: []byte("v1")})
	b.expect("queued", "")
	b.expect("completion", "ok")
	a.sendOp(LockOp{Op: "lock", ID: 4, Name: "R", Mode: "PR", Flags: []string{"valblk"}})
	a.expect("queued", "")
	if m := a.expect("completion", "ok"); string(m.LVB) != "v1" {
		t.Fatalf("value block %q, want v1", m.LVB)
	}
}

func TestLockSessionBadInputKeepsSession(t *testing.T) {
	srv, _ := lockServer(t)
	s := dialSession(t, srv)
	s.sendOp(LockOp{Op: "hello"})
	s.expect("hello", "")
	for _, tc := range []struct {
		line, status, says string
		tag                uint64
	}{
		{`not json`, apitypes.LockErrProto, "bad request line", 0},
		{`{"op":"lock","id":5,"name":"R","mode":"EX","bogus":1}`, apitypes.LockErrProto, "bogus", 5},
		{`{"op":"frob","id":6}`, apitypes.LockErrProto, "unknown op", 6},
		{`{"op":"lock","id":7,"name":"R","mode":"XX"}`, apitypes.LockErrInvalid, "mode", 7},
		{`{"op":"lock","id":8,"name":"R","mode":"EX","flags":["sideways"]}`, apitypes.LockErrInvalid, "sideways", 8},
		{`{"op":"lock","id":9,"mode":"EX"}`, apitypes.LockErrInvalid, "name", 9},
		{`{"op":"lock","id":10,"name":"R","mode":"EX","timeout":"soon"}`, apitypes.LockErrInvalid, "timeout", 10},
		{`{"op":"convert","id":11,"lock":99,"mode":"EX"}`, apitypes.LockErrNotFound, "no lock 99", 11},
		{`{"op":"cancel","id":12,"lock":99}`, apitypes.LockErrNotFound, "no lock 99", 12},
		{`{"op":"hello","id":13}`, apitypes.LockErrProto, "first", 13},
		{`{"op":"lock","id":14,"name":"R","mode":"EX","flags":["forceunlock"]}`, apitypes.LockErrInvalid, "unlock flags", 14},
		{`{"op":"lock","id":15,"name":"` + strings.Repeat("x", 65) + `","mode":"EX"}`, apitypes.LockErrInvalid, "invalid", 15},
	} {
		s.send(tc.line)
		m := s.expect("error", tc.status)
		if m.Tag != tc.tag || !strings.Contains(m.Error, tc.says) || m.Hint == "" {
			t.Errorf("%s: %+v, want tag %d and %q", tc.line, m, tc.tag, tc.says)
		}
	}
	s.sendOp(LockOp{Op: "lock", ID: 20, Name: "R", Mode: "EX"})
	s.expect("queued", "")
	s.expect("completion", "ok")
}

func TestLockSessionClosedLosesLocks(t *testing.T) {
	srv, f := lockServer(t)
	a := dialSession(t, srv)
	a.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "EX"})
	a.expect("hello", "")
	a.expect("queued", "")
	a.expect("completion", "ok")
	b := dialSession(t, srv)
	b.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "EX"})
	b.expect("hello", "")
	b.expect("queued", "")
	b.quiet()
	a.conn.Close() // the client went away: its lock goes
	b.expect("completion", "ok")
	deadline := time.Now().Add(10 * time.Second)
	for f.DLM.Sessions() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions open, want 1", f.DLM.Sessions())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLockSessionTimeoutAndCancel(t *testing.T) {
	srv, _ := lockServer(t)
	a := dialSession(t, srv)
	a.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "EX"})
	a.expect("hello", "")
	a.expect("queued", "")
	a.expect("completion", "ok")
	b := dialSession(t, srv)
	b.sendOp(LockOp{Op: "lock", ID: 2, Name: "R", Mode: "EX", Timeout: "30ms"})
	b.expect("hello", "")
	b.expect("queued", "")
	if m := b.expect("completion", apitypes.LockStatusTimedOut); m.Tag != 2 || m.Mode != "IV" {
		t.Fatalf("timeout: %+v", m)
	}
	b.sendOp(LockOp{Op: "lock", ID: 3, Name: "R", Mode: "EX"})
	q := b.expect("queued", "")
	b.sendOp(LockOp{Op: "cancel", ID: 4, Lock: q.Lock})
	if m := b.expect("completion", "ECANCEL"); m.Tag != 3 {
		t.Fatalf("cancel: %+v", m)
	}
	if m := b.expect("done", ""); m.Tag != 4 {
		t.Fatalf("cancel's answer: %+v", m)
	}
	// Converting a lock still waiting is EBUSY.
	b.sendOp(LockOp{Op: "lock", ID: 5, Name: "R", Mode: "EX"})
	q = b.expect("queued", "")
	b.sendOp(LockOp{Op: "convert", ID: 6, Lock: q.Lock, Mode: "NL"})
	b.expect("error", apitypes.LockErrBusy)
}

func TestLockSessionOwnerJoin(t *testing.T) {
	srv, _ := lockServer(t)
	a := dialSession(t, srv)
	a.sendOp(LockOp{Op: "hello"})
	owner := a.expect("hello", "").Owner
	b := dialSession(t, srv)
	b.sendOp(LockOp{Op: "hello", Owner: owner})
	if got := b.expect("hello", "").Owner; got != owner {
		t.Fatalf("joined owner %s, want %s", got, owner)
	}
	for _, bad := range []string{"n2:5", "n1:x", "junk"} {
		c := dialSession(t, srv)
		c.sendOp(LockOp{Op: "hello", Owner: bad})
		if m := c.expect("error", apitypes.LockErrInvalid); !strings.Contains(m.Error, bad) {
			t.Errorf("owner %s: %+v", bad, m)
		}
		c.closed()
	}
}

func TestLockSessionLost(t *testing.T) {
	srv, f := lockServer(t)
	a := dialSession(t, srv)
	a.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "EX"})
	a.expect("hello", "")
	q := a.expect("queued", "")
	a.expect("completion", "ok")
	f.DLM.LoseAll()
	if m := a.expect("lost", apitypes.LockStatusLost); m.Lock != q.Lock || m.Tag != 0 || m.Error == "" {
		t.Fatalf("lost: %+v", m)
	}
	f.DLM.EndSessions() // the node stops
	if m := a.expect("lost", ""); !strings.Contains(m.Error, "ended the session") {
		t.Fatalf("%+v", m)
	}
	a.closed()
}

func TestLockSessionNeedsUpgradeAndLockManager(t *testing.T) {
	srv, _ := lockServer(t)
	resp, err := http.Get(srv.URL + apitypes.LockSessionPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != apitypes.LockSessionProto {
		t.Fatalf("plain GET: %s %v", resp.Status, resp.Header)
	}
	// A node without a lock manager running refuses the session in a line.
	f := apitest.New()
	srv2 := httptest.NewServer(newHandler(t, f))
	t.Cleanup(srv2.Close)
	s := dialSession(t, srv2)
	s.sendOp(LockOp{Op: "hello"})
	if m := s.expect("error", apitypes.LockErrStopped); !strings.Contains(m.Error, "cannot open") {
		t.Fatalf("%+v", m)
	}
	s.closed()
}

func TestLockTable(t *testing.T) {
	srv, _ := lockServer(t)
	a := dialSession(t, srv)
	a.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "PR"})
	a.expect("hello", "")
	a.expect("queued", "")
	a.expect("completion", "ok")
	a.sendOp(LockOp{Op: "lock", ID: 2, Lockspace: "app", Name: "Q", Mode: "EX"})
	a.expect("queued", "")
	a.expect("completion", "ok")
	b := dialSession(t, srv)
	b.sendOp(LockOp{Op: "lock", ID: 1, Name: "R", Mode: "EX"})
	b.expect("hello", "")
	b.expect("queued", "")

	get := func(path string) LocksDoc {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc LocksDoc
		dec := json.NewDecoder(resp.Body)
		dec.DisallowUnknownFields()
		if resp.StatusCode != http.StatusOK || dec.Decode(&doc) != nil {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		return doc
	}
	doc := get("/v1/locks")
	if len(doc.Resources) != 2 {
		t.Fatalf("%+v", doc)
	}
	r := doc.Resources[1] // app/Q, then default/R
	if r.Lockspace != "default" || r.Name != "R" || r.Master != "n1" || r.Directory != "n1" ||
		len(r.Granted) != 1 || r.Granted[0].Granted != "PR" || !strings.HasPrefix(r.Granted[0].Owner, "n1:") ||
		len(r.Waiting) != 1 || r.Waiting[0].Wanted != "EX" || r.Waiting[0].Granted != "IV" {
		t.Fatalf("%+v", r)
	}
	if doc := get("/v1/locks?lockspace=app"); len(doc.Resources) != 1 || doc.Resources[0].Name != "Q" {
		t.Fatalf("lockspace app: %+v", doc)
	}
	h := newHandler(t, apitest.New())
	wantError(t, do(t, h, http.MethodGet, "/v1/locks?space=x"), http.StatusBadRequest, "lockspace")

	rec := do(t, newHandler(t, func() *apitest.Node { f := apitest.New(); f.DLM = apitest.NewLocks(1); return f }()), http.MethodGet, "/metrics")
	for _, want := range []string{"corral_dlm_sessions 0", "corral_dlm_recoveries_total 0", "# TYPE corral_dlm_session_requests_total counter"} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
