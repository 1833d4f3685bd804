package shell

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
)

// LockConn is a lock session over a node's admin socket (GET
// /v1/dlm/session upgraded to newline-delimited JSON, core/apitypes):
// `corral lock`, the shell's lock and unlock. The session is one lock
// owner; when the connection closes, the node releases its locks.
type LockConn struct {
	conn  net.Conn
	owner string // "NODE:ID"
	node  string

	wmu sync.Mutex
	w   *bufio.Writer

	mu      sync.Mutex
	nextTag uint64
	waits   map[uint64]chan apitypes.LockMsg // a request's first answer
	queue   []apitypes.LockMsg               // the rest, for Events
	kick    chan struct{}
	done    chan struct{} // closed when the connection ends
	err     error         // why it ended
}

// ErrLockSessionEnded is returned once the session's connection has ended
// (the node closed it, stopped, or died): its locks are lost.
var ErrLockSessionEnded = errors.New("the node closed the lock session")

// DialLock opens a lock session on the admin socket; owner "NODE:ID" (from
// $CORRAL_LOCK_OWNER) joins that owner, "" takes a fresh one.
func DialLock(ctx context.Context, socket, owner string) (*LockConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, &UnreachableError{Socket: socket, Err: err}
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	} else {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	}
	rd := bufio.NewReader(conn)
	c := &LockConn{conn: conn, w: bufio.NewWriter(conn), waits: map[uint64]chan apitypes.LockMsg{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	fmt.Fprintf(c.w, "GET %s HTTP/1.1\r\nHost: corral\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", apitypes.LockSessionPath, apitypes.LockSessionProto)
	hello, _ := json.Marshal(apitypes.LockOp{Op: apitypes.LockOpHello, Owner: owner})
	_, _ = c.w.Write(append(hello, '\n'))
	if err := c.w.Flush(); err != nil {
		conn.Close()
		return nil, &UnreachableError{Socket: socket, Err: err}
	}
	resp, err := http.ReadResponse(rd, nil)
	if err != nil {
		conn.Close()
		return nil, &UnreachableError{Socket: socket, Err: err}
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer conn.Close()
		var body [64 << 10]byte
		n, _ := resp.Body.Read(body[:])
		return nil, apiError(resp, body[:n], http.MethodGet, apitypes.LockSessionPath)
	}
	line, err := rd.ReadBytes('\n')
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock session: no hello from the node: %w", err)
	}
	var m apitypes.LockMsg
	if err := json.Unmarshal(line, &m); err != nil {
		conn.Close()
		return nil, fmt.Errorf("lock session: bad hello %q: %w", line, err)
	}
	if m.Type == apitypes.LockMsgError {
		conn.Close()
		return nil, &APIError{Status: http.StatusConflict, Body: apitypes.Error{Error: m.Error, Hint: m.Hint}}
	}
	if m.Type != apitypes.LockMsgHello {
		conn.Close()
		return nil, fmt.Errorf("lock session: the node said %q before its hello", line)
	}
	_ = conn.SetDeadline(time.Time{})
	c.owner, c.node = m.Owner, m.Node
	go c.read(rd)
	return c, nil
}

// Owner is the session's owner, "NODE:ID" (what $CORRAL_LOCK_OWNER
// passes to a nested corral lock).
func (c *LockConn) Owner() string { return c.owner }

// Node is the name of the node the session is on.
func (c *LockConn) Node() string { return c.node }

// Done is closed when the session has ended.
func (c *LockConn) Done() <-chan struct{} { return c.done }

// Close ends the session: the node releases its locks.
func (c *LockConn) Close() error {
	return c.conn.Close()
}

func (c *LockConn) read(rd *bufio.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 4096), 1<<20)
	var err error
	for sc.Scan() {
		var m apitypes.LockMsg
		if e := json.Unmarshal(sc.Bytes(), &m); e != nil {
			err = fmt.Errorf("bad line from the node %q: %w", sc.Text(), e)
			break
		}
		c.mu.Lock()
		if ch, ok := c.waits[m.Tag]; ok && m.Tag != 0 && m.Type != apitypes.LockMsgBlocking && m.Type != apitypes.LockMsgLost {
			delete(c.waits, m.Tag)
			ch <- m
		} else {
			c.queue = append(c.queue, m)
			select {
			case c.kick <- struct{}{}:
			default:
			}
		}
		c.mu.Unlock()
	}
	if err == nil {
		err = sc.Err()
	}
	if err == nil {
		err = ErrLockSessionEnded
	}
	c.mu.Lock()
	c.err = err
	for tag, ch := range c.waits {
		delete(c.waits, tag)
		close(ch)
	}
	c.mu.Unlock()
	close(c.done)
	_ = c.conn.Close()
}

// Request sends op (with a fresh tag) and returns the node's first answer
// to it: queued (a lock or convert accepted: its completion comes from
// Next), completion (an unlock), done (a cancel) or error.
func (c *LockConn) Request(ctx context.Context, op apitypes.LockOp) (apitypes.LockMsg, error) {
	ch := make(chan apitypes.LockMsg, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return apitypes.LockMsg{}, err
	}
	c.nextTag++
	op.ID = c.nextTag
	c.waits[op.ID] = ch
	c.mu.Unlock()
	b, _ := json.Marshal(op)
	c.wmu.Lock()
	_, err := c.w.Write(append(b, '\n'))
	if err == nil {
		err = c.w.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		return apitypes.LockMsg{}, fmt.Errorf("%w: %v", ErrLockSessionEnded, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return apitypes.LockMsg{}, c.endErr()
		}
		return m, nil
	case <-ctx.Done():
		return apitypes.LockMsg{}, ctx.Err()
	}
}

func (c *LockConn) endErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrLockSessionEnded
	}
	return c.err
}

// Next returns the next message that answers no request directly: a
// completion of a queued lock or convert, a blocking notice, a lost lock.
// It returns ErrLockSessionEnded (or why) once the session has ended and
// nothing is left.
func (c *LockConn) Next(ctx context.Context) (apitypes.LockMsg, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m, nil
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return apitypes.LockMsg{}, err
		}
		select {
		case <-c.kick:
		case <-c.done:
		case <-ctx.Done():
			return apitypes.LockMsg{}, ctx.Err()
		}
	}
}

// Pending returns the messages Next would return now, without waiting.
func (c *LockConn) Pending() []apitypes.LockMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.queue
	c.queue = nil
	return out
}

// LockResult is how a lock request ended.
type LockResult struct {
	Lock   uint64
	Status string // ok, EAGAIN, EDEADLK, ETIMEDOUT, ECANCEL, lost
	Mode   string
	LVB    []byte
	SB     []string
	// Other messages that came while waiting (blocking notices of other
	// locks, lost locks), in order.
	Other []apitypes.LockMsg
}

// Lock asks for a lock and waits for its completion. When ctx ends first
// the request is cancelled and Lock returns ctx's error once the node
// answered the cancel (a grant that raced it is unlocked again).
func (c *LockConn) Lock(ctx context.Context, op apitypes.LockOp) (LockResult, error) {
	if op.Op == "" {
		op.Op = apitypes.LockOpLock
	}
	q, err := c.Request(context.Background(), op)
	if err != nil {
		return LockResult{}, err
	}
	if q.Type == apitypes.LockMsgError {
		return LockResult{}, lockMsgError(q)
	}
	res := LockResult{Lock: q.Lock}
	cancelled := false
	wait := ctx
	for {
		m, err := c.Next(wait)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				if !cancelled {
					cancelled = true
					wait = context.Background()
					if _, err := c.Request(context.Background(), apitypes.LockOp{Op: apitypes.LockOpCancel, Lock: q.Lock}); err != nil {
						return res, err
					}
					continue
				}
			}
			return res, err
		}
		if m.Type == apitypes.LockMsgCompletion && m.Tag == q.Tag {
			res.Status, res.Mode, res.LVB, res.SB = m.Status, m.Mode, m.LVB, m.SB
			if cancelled {
				if m.Status == "ok" && op.Op == apitypes.LockOpLock {
					_, _ = c.Request(context.Background(), apitypes.LockOp{Op: apitypes.LockOpUnlock, Lock: q.Lock})
				}
				return res, ctx.Err()
			}
			return res, nil
		}
		if m.Type == apitypes.LockMsgLost && (m.Lock == q.Lock || m.Lock == 0) {
			res.Status = apitypes.LockStatusLost
			res.Other = append(res.Other, m)
			return res, nil
		}
		res.Other = append(res.Other, m)
	}
}

// lockMsgError is an error line as an error.
func lockMsgError(m apitypes.LockMsg) error {
	return &LockError{Status: m.Status, Msg: m.Error, Hint: m.Hint}
}

// LockError is a request the node refused (EINVAL, EBUSY, ENOENT, ...).
type LockError struct {
	Status, Msg, Hint string
}

func (e *LockError) Error() string {
	if e.Hint == "" {
		return e.Msg
	}
	return e.Msg + " (" + e.Hint + ")"
}

// Unlock releases a lock and waits for the node's answer.
func (c *LockConn) Unlock(ctx context.Context, lock uint64, flags []string, lvb []byte) error {
	m, err := c.Request(ctx, apitypes.LockOp{Op: apitypes.LockOpUnlock, Lock: lock, Flags: flags, LVB: lvb})
	if err != nil {
		return err
	}
	if m.Type == apitypes.LockMsgError {
		return lockMsgError(m)
	}
	return nil
}
