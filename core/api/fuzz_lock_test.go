package api

import (
	"bufio"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/core/api/apitest"
	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/lua"
)

// FuzzLockSession feeds a lock session (the upgraded connection of
// corral lock and the shell's lock) lines from the fuzzer, over a fake
// lock manager. The session never panics; every line it writes is one
// LockMsg of a known type, and an error line says what is wrong, with a
// status and a hint.
func FuzzLockSession(f *testing.F) {
	for _, s := range []string{
		`{"op":"hello"}` + "\n" + `{"op":"lock","id":1,"name":"R","mode":"EX"}` + "\n" + `{"op":"unlock","id":2,"lock":1}`,
		`{"op":"lock","id":1,"name":"R","mode":"PR","flags":["noqueue","valblk"],"lvb":"AAEC"}` + "\n" + `{"op":"convert","id":2,"lock":1,"mode":"EX","timeout":"-1s"}`,
		`{"op":"hello","owner":"n1:7"}` + "\n" + `{"op":"cancel","id":3,"lock":99}`,
		`{"op":"hello","owner":"n9:x"}`,
		`{"op":"lock","id":1,"lockspace":"","name":"","mode":"ZZ"}` + "\n" + `{"op":"lock"} {"op":"lock"}` + "\n" + `[1,2]`,
		`{"op":"lock","id":1,"name":"R","mode":"EX","timeout":"1ns"}` + "\n" + `{"op":"lock","id":2,"name":"R","mode":"EX","flags":["nodlckwt"]}`,
	} {
		f.Add(s)
	}
	types := []string{apitypes.LockMsgHello, apitypes.LockMsgQueued, apitypes.LockMsgCompletion, apitypes.LockMsgBlocking,
		apitypes.LockMsgDone, apitypes.LockMsgError, apitypes.LockMsgLost}
	f.Fuzz(func(t *testing.T, in string) {
		if strings.Count(in, "\n") > 16 {
			return
		}
		fn := apitest.New()
		fn.DLM = apitest.NewLocks(1)
		h := New(fn)
		defer h.Close()
		srv, cli := net.Pipe()
		got := make(chan []string, 1)
		go func() {
			var lines []string
			sc := bufio.NewScanner(cli)
			sc.Buffer(make([]byte, 4096), 1<<20)
			for sc.Scan() {
				lines = append(lines, sc.Text())
			}
			got <- lines
		}()
		c := &lockConn{h: h, ln: fn, conn: srv, w: bufio.NewWriter(srv), pending: map[dlm.LockID]*lockPending{},
			known: map[dlm.LockID]*lockRef{}, early: map[dlm.LockID][]lua.LockNotice{}}
		c.names, c.self = h.names()
		c.run(bufio.NewReader(strings.NewReader(in)))
		c.mu.Lock()
		_ = srv.Close()
		c.mu.Unlock()
		var lines []string
		select {
		case lines = <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the session's output did not end")
		}
		for _, l := range lines {
			var m LockMsg
			dec := json.NewDecoder(strings.NewReader(l))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&m); err != nil || dec.More() {
				t.Fatalf("line %q is not one LockMsg: %v", l, err)
			}
			if !slices.Contains(types, m.Type) {
				t.Fatalf("line %q: type %q", l, m.Type)
			}
			if m.Type == apitypes.LockMsgError && (m.Status == "" || m.Error == "" || m.Hint == "") {
				t.Fatalf("error line %q without a status, a message and a hint", l)
			}
		}
	})
}
