package shell

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

// Client calls a node's admin API over its Unix socket.
type Client struct {
	Socket string
	hc     *http.Client
}

// NewClient returns a client for the admin socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: 10 * time.Second, // the body may stream (events --follow)
	}
	return &Client{Socket: path, hc: &http.Client{Transport: tr}}
}

// UnreachableError means nothing answered on the socket.
type UnreachableError struct {
	Socket string
	Err    error
}

func (e *UnreachableError) Error() string {
	hint := "is `corral agent` running? start a local cluster with `corral demo`"
	if errors.Is(e.Err, os.ErrPermission) {
		hint = "the admin socket is readable by the agent's user only: run the shell as that user"
	}
	return fmt.Sprintf("cannot reach the node at %s: %v (%s)", e.Socket, cause(e.Err), hint)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// cause strips the URL and dial wrappers net/http adds around a socket error.
func cause(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		var se *os.SyscallError
		if errors.As(oe.Err, &se) {
			return se.Err
		}
		return oe.Err
	}
	return err
}

// APIError is an error response of the admin API.
type APIError struct {
	Status int
	Body   apitypes.Error
}

func (e *APIError) Error() string {
	if e.Body.Hint == "" {
		return e.Body.Error
	}
	return e.Body.Error + " (" + e.Body.Hint + ")"
}

// Get fetches path (such as "/v1/status") and decodes its JSON body into v.
func (c *Client) Get(ctx context.Context, path string, v any) error {
	return c.Do(ctx, http.MethodGet, path, nil, v)
}

// Post sends body (JSON; nil for none) to path and decodes the answer into v.
func (c *Client) Post(ctx context.Context, path string, body, v any) error {
	return c.Do(ctx, http.MethodPost, path, body, v)
}

// Delete calls DELETE on path and decodes the answer into v.
func (c *Client) Delete(ctx context.Context, path string, v any) error {
	return c.Do(ctx, http.MethodDelete, path, nil, v)
}

// Do makes one request: body, if not nil, is sent as JSON; a 2xx answer's
// JSON body is decoded into v (if not nil), another answer is an *APIError.
func (c *Client) Do(ctx context.Context, method, path string, body, v any) error {
	return c.DoWith(ctx, method, path, nil, body, v)
}

// DoWith is Do with extra request headers (nil for none).
func (c *Client) DoWith(ctx context.Context, method, path string, hdr http.Header, body, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://corral"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Socket: c.Socket, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return &UnreachableError{Socket: c.Socket, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		return apiError(resp, data, method, path)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bad JSON from the node: %v", err)
	}
	return nil
}

func apiError(resp *http.Response, body []byte, method, path string) *APIError {
	ae := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(body, &ae.Body) != nil || ae.Body.Error == "" {
		ae.Body.Error = fmt.Sprintf("the node answered %s", resp.Status)
	}
	return ae
}
