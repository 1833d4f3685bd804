package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestWhoamiAnswersItsName(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveWhoami(ctx, l, "n2") }()
	resp, err := http.Get("http://" + l.Addr().String() + "/anything")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "n2\n" || resp.StatusCode != http.StatusOK {
		t.Fatalf("whoami answered %d %q (err %v), want 200 \"n2\\n\"", resp.StatusCode, b, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("whoami after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("whoami did not stop within 5s of its context ending")
	}
}

func TestWhoamiNeedsItsFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"whoami", "--listen", "127.0.0.1:0"}, &out, &errb); code != 2 {
		t.Fatalf("whoami without --name: exit %d, want 2", code)
	}
	if !strings.Contains(errb.String(), "--name are required") {
		t.Fatalf("whoami without --name says %q", errb.String())
	}
}
