package lua

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	glua "github.com/yuin/gopher-lua"
)

// maxBody caps the body net.http reads.
const maxBody = 1 << 20

// netLoader builds the net module (granted scripts only): health checks.
func (v *vm) netLoader() glua.LGFunction {
	return func(L *glua.LState) int {
		t := L.NewTable()
		L.SetFuncs(t, map[string]glua.LGFunction{
			"tcp":  netTCP,
			"http": netHTTP,
		})
		L.Push(t)
		return 1
	}
}

func timeoutCtx(L *glua.LState, t *glua.LTable) (context.Context, context.CancelFunc) {
	d := 5 * time.Second
	if n, ok := t.RawGetString("timeout").(glua.LNumber); ok && n > 0 {
		d = time.Duration(float64(n) * float64(time.Second))
	}
	return context.WithTimeout(callContext(L), d)
}

// net.tcp{host, port, timeout} connects and closes; it returns true, or nil
// and the error.
func netTCP(L *glua.LState) int {
	t := L.CheckTable(1)
	host := "127.0.0.1"
	if h, ok := t.RawGetString("host").(glua.LString); ok && h != "" {
		host = string(h)
	}
	port := t.RawGetString("port")
	if port == glua.LNil {
		L.ArgError(1, "port is missing")
	}
	ctx, cancel := timeoutCtx(L, t)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port.String()))
	if err != nil {
		return fail(L, err)
	}
	_ = c.Close()
	L.Push(glua.LTrue)
	return 1
}

var httpClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	// Redirects are answers too: a check sees the first response.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// net.http{url, timeout, method, expect} requests url and returns ok, the
// status code and the body (up to 1 MiB), or nil and the error. ok is true
// when the status is expect (a number), or the body contains expect (a
// string), or, without expect, the status is 2xx or 3xx.
func netHTTP(L *glua.LState) int {
	t := L.CheckTable(1)
	url, ok := t.RawGetString("url").(glua.LString)
	if !ok || url == "" {
		L.ArgError(1, "url is missing")
	}
	method := "GET"
	if m, ok := t.RawGetString("method").(glua.LString); ok && m != "" {
		method = strings.ToUpper(string(m))
	}
	ctx, cancel := timeoutCtx(L, t)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, string(url), nil)
	if err != nil {
		return fail(L, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fail(L, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fail(L, fmt.Errorf("reading the body: %w", err))
	}
	good := resp.StatusCode >= 200 && resp.StatusCode < 400
	switch e := t.RawGetString("expect").(type) {
	case glua.LNumber:
		good = resp.StatusCode == int(e)
	case glua.LString:
		if n, err := strconv.Atoi(string(e)); err == nil {
			good = resp.StatusCode == n
		} else {
			good = strings.Contains(string(body), string(e))
		}
	}
	L.Push(glua.LBool(good))
	L.Push(glua.LNumber(resp.StatusCode))
	L.Push(glua.LString(string(body)))
	return 3
}
