package witness

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"time"
)

// Client asks an arbiter for its vote.
type Client struct {
	addr    string
	cluster string
	key     []byte
}

// NewClient returns a client of the arbiter at addr.
func NewClient(addr, cluster string, clusterKey []byte) (*Client, error) {
	key, err := macKey(clusterKey)
	if err != nil {
		return nil, err
	}
	return &Client{addr: addr, cluster: cluster, key: key}, nil
}

// Timeout is how long an Ask may take.
func (c *Client) Timeout() time.Duration { return time.Second }

// Ask sends one request and returns the verified answer.
func (c *Client) Ask(ctx context.Context, node uint16, v View, installed bool) (Answer, error) {
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return Answer{}, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return Answer{}, fmt.Errorf("witness: arbiter %s: %w", c.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	}
	req := Request{Cluster: c.cluster, Node: node, Nonce: nonce, View: v, Installed: installed}
	if err := writeFrame(conn, c.key, req); err != nil {
		return Answer{}, fmt.Errorf("witness: arbiter %s: %w", c.addr, err)
	}
	var ans Answer
	if err := readFrame(conn, c.key, &ans); err != nil {
		return Answer{}, fmt.Errorf("witness: arbiter %s: %w", c.addr, err)
	}
	if !bytes.Equal(ans.Nonce, nonce) {
		return Answer{}, errors.New("witness: the arbiter's answer is not for this request (replayed?)")
	}
	return ans, nil
}
