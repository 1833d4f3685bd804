package lua_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/corral-ha/corral/lua"
)

// TestEvalSessionKeepsGlobals: a session's lines share one VM (globals
// carry over), sessions and plain Eval do not see each other's globals,
// the session VM is as sandboxed as eval's, a stopped call throws the
// VM away (and says so), and an ended session starts afresh.
func TestEvalSessionKeepsGlobals(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	eval := func(session, code string) string {
		t.Helper()
		var out string
		var err error
		if session == "" {
			out, err = h.Eval(ctx, code)
		} else {
			out, err = h.EvalSession(ctx, session, code)
		}
		if err != nil {
			t.Fatalf("%s: %s: %v", session, code, err)
		}
		return out
	}
	eval("a", "x = 41")
	eval("a", "function twice(n) return 2 * n end")
	if got := eval("a", "x + 1, twice(x)"); got != "42\t82" {
		t.Fatalf("session a: %q, want the globals of its earlier lines: 42 82", got)
	}
	if got := eval("b", "x"); got != "nil" {
		t.Fatalf("session b sees a's global: %q", got)
	}
	if got := eval("", "x"); got != "nil" {
		t.Fatalf("eval sees a session's global: %q", got)
	}
	if got := eval("a", "corral ~= nil, io, os.execute, (pcall(require, 'exec'))"); got != "true\tnil\tnil\tfalse" {
		t.Fatalf("session sandbox: %q, want the eval sandbox (corral, no io, os.execute or exec)", got)
	}
	// A runaway line is stopped and takes the session's VM with it.
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := h.EvalSession(short, "a", "while true do end"); !errors.Is(err, lua.ErrSessionLost) {
		t.Fatalf("runaway in a session: %v, want ErrSessionLost", err)
	}
	if got := eval("a", "x"); got != "nil" {
		t.Fatalf("after the VM was replaced: x = %q", got)
	}
	eval("a", "y = 1")
	h.EndSession("a")
	if got := eval("a", "y"); got != "nil" {
		t.Fatalf("an ended session kept its globals: y = %q", got)
	}
	if _, err := h.EvalSession(ctx, "a", "error('boom')"); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("error in a session: %v", err)
	}
}

// TestEvalSessionClose: Close stops a session's running call (it counts
// as busy while it runs) and ends its sessions.
func TestEvalSessionClose(t *testing.T) {
	h, err := lua.New(lua.Config{})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.EvalSession(context.Background(), "s", "while true do end")
		done <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for h.Busy() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the session call never ran")
		}
		time.Sleep(time.Millisecond)
	}
	h.Close()
	select {
	case err := <-done:
		if !errors.Is(err, lua.ErrSessionLost) {
			t.Fatalf("the stopped call: %v, want ErrSessionLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the running session call")
	}
	if _, err := h.EvalSession(context.Background(), "s", "1"); !errors.Is(err, lua.ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}
