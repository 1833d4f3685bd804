package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/corral-ha/corral/core/apitypes"
	"github.com/corral-ha/corral/core/apitypes/locknames"
	"github.com/corral-ha/corral/core/dlm"
	"github.com/corral-ha/corral/core/node"
	"github.com/corral-ha/corral/core/wire"
	"github.com/corral-ha/corral/lua"
)

// LockNode is what the lock endpoints need beyond Node (*node.Node has
// it); a Node without it answers them with 501.
type LockNode interface {
	// OpenLockSession opens a lock session: a fresh owner when owner is
	// 0, else that owner of this node is joined.
	OpenLockSession(owner uint64) (lua.LockSession, error)
	// LockTable gathers the cluster-wide lock table ("" for every
	// lockspace), and the members that did not answer.
	LockTable(ctx context.Context, lockspace string) ([]dlm.ResourceInfo, []wire.NodeID, error)
}

var _ LockNode = (*node.Node)(nil)

// The lock session's documents are defined in core/apitypes.
type (
	// LockOp is apitypes.LockOp.
	LockOp = apitypes.LockOp
	// LockMsg is apitypes.LockMsg.
	LockMsg = apitypes.LockMsg
	// LocksDoc is apitypes.LocksDoc.
	LocksDoc = apitypes.LocksDoc
)

// Limits of a lock session.
const (
	// maxLockLine bounds one request line.
	maxLockLine = 64 << 10
	// lockWriteTimeout drops a session whose client does not read what
	// the node writes (its locks go with it).
	lockWriteTimeout = 10 * time.Second
	// locksTimeout bounds gathering the lock table.
	locksTimeout = 5 * time.Second
)

func (h *Handler) addDLM() {
	h.add(apitypes.LockSessionPath, "GET "+apitypes.LockSessionPath+" (Upgrade: "+apitypes.LockSessionProto+": a lock session)",
		map[string]http.HandlerFunc{http.MethodGet: h.lockSession})
	h.add("/v1/locks", "GET /v1/locks[?lockspace=LS]", map[string]http.HandlerFunc{http.MethodGet: h.lockTable})
}

// lockNode returns the node's lock manager, or answers 501.
func (h *Handler) lockNode(w http.ResponseWriter) (LockNode, bool) {
	ln, ok := h.n.(LockNode)
	if !ok {
		WriteError(w, http.StatusNotImplemented, "this node has no lock manager", "run a corral agent built with the DLM")
		return nil, false
	}
	return ln, true
}

// names maps node ids to names (the status document's), and gives this
// node's name.
func (h *Handler) names() (map[wire.NodeID]string, string) {
	out := map[wire.NodeID]string{}
	st, err := h.n.StatusDoc()
	if err != nil {
		return out, ""
	}
	for _, n := range st.Nodes {
		out[wire.NodeID(n.ID)] = n.Name
	}
	return out, st.Node
}

func nodeName(names map[wire.NodeID]string, id wire.NodeID) string {
	if n, ok := names[id]; ok {
		return n
	}
	return strconv.Itoa(int(id))
}

func (h *Handler) lockTable(w http.ResponseWriter, r *http.Request) {
	ln, ok := h.lockNode(w)
	if !ok {
		return
	}
	for k := range r.URL.Query() {
		if k != "lockspace" {
			errorf(w, http.StatusBadRequest, "use ?lockspace=LS (or nothing: every lockspace)", "unknown query parameter %q", k)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), locksTimeout)
	defer cancel()
	rs, missing, err := ln.LockTable(ctx, r.URL.Query().Get("lockspace"))
	if err != nil {
		nodeError(w, "locks", err)
		return
	}
	names, _ := h.names()
	doc := LocksDoc{Resources: []apitypes.LockResource{}}
	for _, m := range missing {
		doc.Missing = append(doc.Missing, nodeName(names, m))
	}
	entries := func(ls []dlm.LockInfo) []apitypes.LockEntry {
		out := []apitypes.LockEntry{}
		for _, l := range ls {
			e := apitypes.LockEntry{Node: nodeName(names, l.Node), ID: uint64(l.ID),
				Owner:   apitypes.FormatOwner(nodeName(names, l.Owner.Node), l.Owner.ID),
				Granted: locknames.Mode(l.Granted), Flags: locknames.Flags(l.Flags), Orphan: l.Orphan}
			if l.Wanted != l.Granted && l.Wanted != dlm.IV {
				e.Wanted = locknames.Mode(l.Wanted)
			}
			out = append(out, e)
		}
		return out
	}
	for _, ri := range rs {
		ls := ri.Lockspace
		if ls == "" {
			ls = "default"
		}
		doc.Resources = append(doc.Resources, apitypes.LockResource{Lockspace: ls, Name: ri.Name,
			Master: nodeName(names, ri.Master), Directory: nodeName(names, ri.Directory), LVBValid: ri.LVBValid, LVB: ri.LVB,
			Granted: entries(ri.Granted), Converting: entries(ri.Converting), Waiting: entries(ri.Waiting)})
	}
	sort.SliceStable(doc.Resources, func(i, j int) bool {
		a, b := doc.Resources[i], doc.Resources[j]
		if a.Lockspace != b.Lockspace {
			return a.Lockspace < b.Lockspace
		}
		return a.Name < b.Name
	})
	WriteJSON(w, http.StatusOK, doc)
}

// lockSession serves GET /v1/dlm/session: the HTTP upgrade to a lock
// session (apitypes.LockOp lines in, apitypes.LockMsg lines out).
func (h *Handler) lockSession(w http.ResponseWriter, r *http.Request) {
	ln, ok := h.lockNode(w)
	if !ok {
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), apitypes.LockSessionProto) ||
		!strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		w.Header().Set("Upgrade", apitypes.LockSessionProto)
		WriteError(w, http.StatusUpgradeRequired, "a lock session is an HTTP upgrade",
			"send Connection: Upgrade and Upgrade: "+apitypes.LockSessionProto+", then newline-delimited JSON (corral lock and the shell's lock do)")
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		WriteError(w, http.StatusInternalServerError, "this connection cannot be upgraded", "use the admin socket")
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		WriteError(w, http.StatusInternalServerError, "upgrade: "+err.Error(), "try again")
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{})
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + apitypes.LockSessionProto + "\r\n\r\n")
	if brw.Flush() != nil {
		return
	}
	h.lockSessions.Add(1)
	defer h.lockSessions.Add(-1)
	ls := &lockConn{h: h, ln: ln, conn: conn, w: brw.Writer, pending: map[dlm.LockID]*lockPending{},
		known: map[dlm.LockID]*lockRef{}, early: map[dlm.LockID][]lua.LockNotice{}}
	ls.names, ls.self = h.names()
	ls.run(brw.Reader)
}

// lockConn is one lock session's connection.
type lockConn struct {
	h     *Handler
	ln    LockNode
	conn  net.Conn
	names map[wire.NodeID]string
	self  string

	// mu orders what is written: a queued line before its completion.
	mu      sync.Mutex
	w       *bufio.Writer
	broken  bool
	sess    lua.LockSession
	pending map[dlm.LockID]*lockPending     // lock or convert in flight
	known   map[dlm.LockID]*lockRef         // this session's locks (gone: unlocked or never granted)
	early   map[dlm.LockID][]lua.LockNotice // notices that came before LockAsync returned
}

type lockRef struct {
	lockspace, name string
	gone            bool
}

type lockPending struct {
	tag      uint64
	timedOut bool
	timer    *time.Timer
}

// write sends one line; mu is held. A write that fails or stalls ends the
// session.
func (c *lockConn) write(m LockMsg) {
	if c.broken {
		return
	}
	b, _ := json.Marshal(m)
	_ = c.conn.SetWriteDeadline(time.Now().Add(lockWriteTimeout))
	_, err := c.w.Write(append(b, '\n'))
	if err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		c.broken = true
		_ = c.conn.Close()
	}
}

func (c *lockConn) writeLocked(m LockMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.write(m)
}

func (c *lockConn) errorLine(tag uint64, status, msg, hint string) {
	c.h.countLock("error_" + status)
	c.writeLocked(LockMsg{Type: apitypes.LockMsgError, Tag: tag, Status: status, Error: msg, Hint: hint})
}

func (c *lockConn) run(rd *bufio.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 4096), maxLockLine)
	first := true
	var firstOp *LockOp
	for first {
		if !sc.Scan() {
			return
		}
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		first = false
		op, err := decodeOp(line)
		if err != nil {
			c.errorLine(0, apitypes.LockErrProto, err.Error(), lockOpHint)
			op = nil
		}
		var owner uint64
		if op != nil && op.Op == apitypes.LockOpHello {
			if op.Owner != "" {
				node, id, err := apitypes.ParseOwner(op.Owner)
				switch {
				case err != nil:
					c.errorLine(op.ID, apitypes.LockErrInvalid, err.Error(), "unset "+apitypes.LockOwnerEnv+" or give NODE:ID")
					return
				case c.self != "" && node != c.self:
					c.errorLine(op.ID, apitypes.LockErrInvalid, fmt.Sprintf("owner %s is on node %s, this is %s", op.Owner, node, c.self),
						"a nested lock joins its owner on the same node: use the same admin socket (unset "+apitypes.LockOwnerEnv+" for a lock of its own)")
					return
				}
				owner = id
			}
			op = nil
		}
		sess, err := c.ln.OpenLockSession(owner)
		if err != nil {
			st := locknames.ErrName(err)
			c.errorLine(0, st, "cannot open a lock session: "+err.Error(), "is the node running and in the cluster? see status")
			return
		}
		c.sess = sess
		firstOp = op
	}
	defer c.closeSession()
	own := c.sess.Owner()
	c.writeLocked(LockMsg{Type: apitypes.LockMsgHello, Owner: apitypes.FormatOwner(nodeName(c.names, own.Node), own.ID), Node: c.self})
	pumpDone := make(chan struct{})
	go c.pump(pumpDone)
	end := make(chan struct{})
	defer close(end)
	go func() {
		select {
		case <-c.h.done: // the handler closed: the agent is stopping
			_ = c.conn.Close()
		case <-end:
		}
	}()
	if firstOp != nil {
		c.handle(firstOp)
	}
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		op, err := decodeOp(line)
		if err != nil {
			c.errorLine(op.ID, apitypes.LockErrProto, err.Error(), lockOpHint)
			continue
		}
		c.handle(op)
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		c.errorLine(0, apitypes.LockErrProto, fmt.Sprintf("a line longer than %d bytes", maxLockLine), "send one JSON object per line")
	}
}

const lockOpHint = `send one JSON object per line: {"op":"lock","id":1,"name":"R","mode":"EX"}, {"op":"convert","id":2,"lock":L,"mode":"NL"}, {"op":"unlock","id":3,"lock":L}, {"op":"cancel","id":4,"lock":L}`

// decodeOp decodes a line strictly; on a decoding error it returns what
// it could read of the tag.
func decodeOp(line string) (*LockOp, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.DisallowUnknownFields()
	var op LockOp
	if err := dec.Decode(&op); err != nil {
		var loose struct {
			ID uint64 `json:"id"`
		}
		_ = json.Unmarshal([]byte(line), &loose)
		return &LockOp{ID: loose.ID}, fmt.Errorf("bad request line: %w", err)
	}
	if dec.More() {
		return &op, errors.New("bad request line: more than one JSON value")
	}
	return &op, nil
}

// closeSession ends the session (the node unlocks its locks) and stops
// the timers.
func (c *lockConn) closeSession() {
	_ = c.sess.Close()
	c.mu.Lock()
	for _, p := range c.pending {
		if p.timer != nil {
			p.timer.Stop()
		}
	}
	c.mu.Unlock()
}

// pump writes the session's notices until the session ends. If the node
// ended it (its channel closed while the client is still there), the
// client is told its locks are lost and the connection closes.
func (c *lockConn) pump(done chan struct{}) {
	defer close(done)
	for n := range c.sess.Notices() {
		c.mu.Lock()
		c.notice(n)
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.write(LockMsg{Type: apitypes.LockMsgLost, Error: "the node ended the session: every lock of it is lost",
		Hint: "the node is stopping or left the cluster; take the locks again on a running node"})
	c.broken = true
	_ = c.conn.Close()
	c.mu.Unlock()
}

// notice writes one notice; mu is held.
func (c *lockConn) notice(n lua.LockNotice) {
	var id dlm.LockID
	switch {
	case n.Completion != nil:
		id = n.Completion.ID
	case n.Blocking != nil:
		id = n.Blocking.ID
	default:
		return
	}
	ref, ok := c.known[id]
	if !ok {
		c.early[id] = append(c.early[id], n)
		return
	}
	if ref.gone && (n.Completion == nil || n.Completion.Status != dlm.Lost) {
		return // already answered (an unlock's completion also on the channel)
	}
	if n.Blocking != nil {
		c.write(LockMsg{Type: apitypes.LockMsgBlocking, Lock: uint64(id), Mode: locknames.Mode(n.Blocking.Mode)})
		return
	}
	c.complete(*n.Completion, 0)
}

// complete writes a completion for the op pending on its lock (tag when
// no op is pending: an unlock's); mu is held.
func (c *lockConn) complete(cp dlm.Completion, tag uint64) {
	id := cp.ID
	p := c.pending[id]
	if p != nil {
		tag = p.tag
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(c.pending, id)
	}
	if cp.Status == dlm.Lost {
		c.h.countLock("completion_lost")
		c.write(LockMsg{Type: apitypes.LockMsgLost, Tag: tag, Lock: uint64(id), Status: locknames.Lost,
			Error: "the lock is lost: this node lost its hold on the cluster", Hint: "act as if it had never been held; take it again"})
		if ref := c.known[id]; ref != nil {
			ref.gone = true
		}
		return
	}
	if p == nil && tag == 0 {
		return // a completion no request of this session waits for (already answered)
	}
	st := locknames.Status(cp.Status)
	if p != nil && p.timedOut && cp.Status == dlm.ECANCEL {
		st = apitypes.LockStatusTimedOut
	}
	c.h.countLock("completion_" + st)
	c.write(LockMsg{Type: apitypes.LockMsgCompletion, Tag: tag, Lock: uint64(id), Status: st, Mode: locknames.Mode(cp.Mode),
		SB: locknames.SB(cp.SB), LVB: cp.LVB})
	if ref := c.known[id]; ref != nil && cp.Mode == dlm.IV {
		ref.gone = true
	}
}

// handle runs one request.
func (c *lockConn) handle(op *LockOp) {
	c.h.countLock("op_" + op.Op)
	switch op.Op {
	case apitypes.LockOpLock, apitypes.LockOpConvert:
		c.lock(op)
	case apitypes.LockOpUnlock, apitypes.LockOpCancel:
		c.unlock(op)
	case apitypes.LockOpHello:
		c.errorLine(op.ID, apitypes.LockErrProto, "hello comes first or not at all", "open a new session to join another owner")
	default:
		c.errorLine(op.ID, apitypes.LockErrProto, fmt.Sprintf("unknown op %q", op.Op), lockOpHint)
	}
}

func (c *lockConn) lock(op *LockOp) {
	mode, err := locknames.ParseMode(op.Mode)
	if err != nil {
		c.errorLine(op.ID, apitypes.LockErrInvalid, err.Error(), "give \"mode\": one of NL, CR, CW, PR, PW, EX")
		return
	}
	flags, err := locknames.ParseFlags(op.Flags)
	if err != nil {
		c.errorLine(op.ID, apitypes.LockErrInvalid, err.Error(), "give flags by name, e.g. [\"noqueue\", \"valblk\"]")
		return
	}
	var timeout time.Duration
	if op.Timeout != "" {
		timeout, err = time.ParseDuration(op.Timeout)
		if err != nil || timeout <= 0 {
			c.errorLine(op.ID, apitypes.LockErrInvalid, fmt.Sprintf("timeout %q is not a positive duration", op.Timeout), "say \"timeout\":\"5s\"")
			return
		}
	}
	if flags&(dlm.Cancel|dlm.ForceUnlock) != 0 {
		c.errorLine(op.ID, apitypes.LockErrInvalid, "cancel and forceunlock are unlock flags", "send {\"op\":\"cancel\"} or {\"op\":\"unlock\",\"flags\":[\"forceunlock\"]}")
		return
	}
	r := dlm.Request{Mode: mode, Flags: flags, Owner: c.sess.Owner(), LVB: op.LVB}
	if op.Op == apitypes.LockOpConvert {
		c.mu.Lock()
		ref, ok := c.known[dlm.LockID(op.Lock)]
		ok = ok && !ref.gone
		var lsName, name string
		if ok {
			lsName, name = ref.lockspace, ref.name
		}
		c.mu.Unlock()
		if !ok {
			c.errorLine(op.ID, apitypes.LockErrNotFound, fmt.Sprintf("no lock %d in this session", op.Lock), "convert a lock this session took: the \"lock\" of its queued line")
			return
		}
		r.Flags |= dlm.Convert
		r.ID, r.Lockspace, r.Name = dlm.LockID(op.Lock), lsName, name
	} else {
		if flags&dlm.Convert != 0 {
			c.errorLine(op.ID, apitypes.LockErrInvalid, "the convert flag belongs to op convert", "send {\"op\":\"convert\",\"lock\":L,\"mode\":M}")
			return
		}
		if op.Name == "" {
			c.errorLine(op.ID, apitypes.LockErrInvalid, "a lock needs a name", "send {\"op\":\"lock\",\"id\":1,\"name\":\"R\",\"mode\":\"EX\"}")
			return
		}
		r.Lockspace, r.Name = op.Lockspace, op.Name
	}
	id, err := c.sess.LockAsync(r)
	if err != nil {
		c.errorLine(op.ID, locknames.ErrName(err), err.Error(), "see the dlm semantics (flags and modes); the session goes on")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known[id] == nil {
		c.known[id] = &lockRef{lockspace: r.Lockspace, name: r.Name}
	}
	p := &lockPending{tag: op.ID}
	c.pending[id] = p
	c.write(LockMsg{Type: apitypes.LockMsgQueued, Tag: op.ID, Lock: uint64(id)})
	if timeout > 0 {
		p.timer = time.AfterFunc(timeout, func() { c.timeout(id, p) })
	}
	evs := c.early[id]
	delete(c.early, id)
	for _, n := range evs {
		c.notice(n)
	}
}

// timeout cancels a request that has not completed in time.
func (c *lockConn) timeout(id dlm.LockID, p *lockPending) {
	c.mu.Lock()
	if c.pending[id] != p {
		c.mu.Unlock()
		return
	}
	p.timedOut = true
	c.mu.Unlock()
	cp, err := c.sess.Unlock(id, dlm.Cancel, nil)
	switch {
	case errors.Is(err, dlm.ErrBusy): // a reply from the master is on the way: ask again
		c.mu.Lock()
		if c.pending[id] == p {
			p.timer = time.AfterFunc(cancelRetry, func() { c.timeout(id, p) })
		}
		c.mu.Unlock()
	case err == nil && cp.ID != 0:
		c.mu.Lock()
		c.complete(cp, 0)
		c.mu.Unlock()
	}
}

// cancelRetry is how soon a timed-out request's cancel is asked again
// after a busy refusal.
const cancelRetry = 20 * time.Millisecond

func (c *lockConn) unlock(op *LockOp) {
	flags, err := locknames.ParseFlags(op.Flags)
	if err != nil {
		c.errorLine(op.ID, apitypes.LockErrInvalid, err.Error(), "unlock takes forceunlock, valblk, ivvalblk")
		return
	}
	if op.Op == apitypes.LockOpCancel {
		flags |= dlm.Cancel
	}
	if op.LVB != nil {
		flags |= dlm.ValBlk
	}
	id := dlm.LockID(op.Lock)
	c.mu.Lock()
	ref, ok := c.known[id]
	ok = ok && !ref.gone
	c.mu.Unlock()
	if !ok {
		c.errorLine(op.ID, apitypes.LockErrNotFound, fmt.Sprintf("no lock %d in this session", op.Lock), "name a lock this session took: the \"lock\" of its queued line")
		return
	}
	cp, err := c.sess.Unlock(id, flags, op.LVB)
	if err != nil {
		c.errorLine(op.ID, locknames.ErrName(err), err.Error(), "the session goes on")
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp.ID == 0 {
		c.write(LockMsg{Type: apitypes.LockMsgDone, Tag: op.ID, Lock: op.Lock})
		return
	}
	if op.Op == apitypes.LockOpCancel {
		c.complete(cp, 0) // the cancelled request's completion, under its tag
		c.write(LockMsg{Type: apitypes.LockMsgDone, Tag: op.ID, Lock: op.Lock})
		return
	}
	if p := c.pending[id]; p != nil { // a forced unlock ends what was in flight
		if p.timer != nil {
			p.timer.Stop()
		}
		delete(c.pending, id)
	}
	c.complete(cp, op.ID)
}

// countLock counts a lock session's request, completion or error for
// /metrics.
func (h *Handler) countLock(key string) {
	h.mu.Lock()
	h.lockCount[key]++
	h.mu.Unlock()
}

// dlmMetrics writes the lock manager's families: the sessions of this
// node's admin socket, their requests, completions and refusals, and the
// recoveries this node saw.
func (h *Handler) dlmMetrics(p promWriter) {
	h.mu.Lock()
	counts := make(map[string]uint64, len(h.lockCount))
	maps.Copy(counts, h.lockCount)
	recoveries := h.eventKind["dlm_recovered"]
	last := h.lastRecovery
	h.mu.Unlock()
	p.one("corral_dlm_sessions", "gauge", "Lock sessions open on the admin socket (corral lock, the shell's lock).", float64(h.lockSessions.Load()))
	keys := slices.Sorted(maps.Keys(counts))
	fam := func(prefix, name, label, help string) {
		p.family(name, "counter", help)
		for _, k := range keys {
			if v, ok := strings.CutPrefix(k, prefix); ok {
				p.sample(name, float64(counts[k]), label, v)
			}
		}
	}
	fam("op_", "corral_dlm_session_requests_total", "op", "Lock session requests, by op (lock, convert, unlock, cancel).")
	fam("completion_", "corral_dlm_session_completions_total", "status", "Lock session completions, by status (ok, EAGAIN, EDEADLK, ECANCEL, EUNLOCK, ETIMEDOUT, lost).")
	fam("error_", "corral_dlm_session_errors_total", "status", "Lock session requests refused, by status (EINVAL, EBUSY, ENOENT, EPROTO, ESTOPPED).")
	p.one("corral_dlm_recoveries_total", "counter", "Lock manager recoveries this node finished since the agent started (dlm_recovered).", float64(recoveries))
	var took float64
	if d, err := time.ParseDuration(last); err == nil {
		took = d.Seconds()
	}
	p.one("corral_dlm_last_recovery_seconds", "gauge", "How long the newest lock manager recovery took (0 before the first).", took)
	if ds, ok := h.n.(interface{ DLMStats() node.DLMStats }); ok {
		st := ds.DLMStats()
		p.one("corral_dlm_locks_held", "gauge", "Locks granted to this node's lock sessions now.", float64(st.LocksHeld))
		p.one("corral_dlm_node_sessions", "gauge", "Lock sessions open on this node (the admin socket's, Lua's, in-process).", float64(st.Sessions))
		p.family("corral_dlm_operations_total", "counter", "This node's lock manager operations, by kind.")
		for _, s := range []labelled{{"request", st.Requests}, {"grant", st.Grants}, {"blocking", st.Blocking}, {"lost", st.Lost}} {
			p.sample("corral_dlm_operations_total", float64(s.v), "kind", s.label)
		}
	}
}
