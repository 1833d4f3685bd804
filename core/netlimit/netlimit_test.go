package netlimit

import (
	"net"
	"testing"
	"time"
)

func TestListenerCapsOpenConnections(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(inner, 3)
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	var got []net.Conn
	for len(got) < 3 {
		select {
		case c := <-accepted:
			got = append(got, c)
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of 3 connections accepted", len(got))
		}
	}
	select {
	case <-accepted:
		t.Fatal("a 4th connection was accepted while 3 are open")
	case <-time.After(200 * time.Millisecond):
	}
	if l.Open() != 3 || l.Saturated() == 0 {
		t.Errorf("Open %d Saturated %d, want 3 and > 0", l.Open(), l.Saturated())
	}
	got[0].Close()
	got[0].Close() // a second close frees nothing more
	select {
	case c := <-accepted:
		defer c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted after one closed")
	}
	select {
	case <-accepted:
		t.Fatal("two connections accepted after one closed")
	case <-time.After(200 * time.Millisecond):
	}
	l.Close()
	for range accepted {
	}
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  []int
		got   []int
	}{
		{1 << 20, []int{512, 256}, []int{512, 256}},
		{1024, []int{512, 256}, []int{170, 85}},
		{16, []int{512, 256}, []int{8, 8}},
		{0, []int{4}, []int{4}},
	} {
		got := Budget(tc.limit, tc.want...)
		for i := range got {
			if got[i] != tc.got[i] {
				t.Errorf("Budget(%d, %v) = %v, want %v", tc.limit, tc.want, got, tc.got)
				break
			}
		}
	}
}
