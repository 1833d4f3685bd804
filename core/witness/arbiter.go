package witness

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// DefaultLease is how long a grant holds unless the arbiter is told
// otherwise: several node lease periods, so renewals have slack.
const DefaultLease = 2 * time.Second

// state is what the arbiter persists.
type state struct {
	LP         *View    `json:"lp,omitempty"`
	Grant      []uint16 `json:"grant,omitempty"`       // member set holding the vote
	GrantUntil int64    `json:"grant_until,omitempty"` // unix ms, the arbiter's wall clock: for people only
}

// Arbiter is the network witness.
type Arbiter struct {
	cluster string
	key     []byte
	path    string
	lease   time.Duration
	log     *slog.Logger
	now     func() time.Time     // wall clock: deadlines on the connection, GrantUntil for people
	mono    func() time.Duration // monotonic clock: when the grant ends

	mu sync.Mutex
	st state
	// until is when the grant in st ends, by mono. Decisions never use
	// the wall clock: a step of it (NTP, an operator) must not end a
	// grant early, or a second partition would get the vote while the
	// first still counts on it. A grant read from disk at start is held
	// for a whole lease from the first request (restored), whatever
	// GrantUntil says.
	until    time.Duration
	restored bool
}

// Config configures an arbiter.
type Config struct {
	Cluster string // when set, only this cluster's nodes are answered
	Key     []byte // the cluster key
	Dir     string // where arbiter.json lives
	Lease   time.Duration
	Logger  *slog.Logger
}

// NewArbiter loads the arbiter's state from cfg.Dir.
func NewArbiter(cfg Config) (*Arbiter, error) {
	key, err := macKey(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.Lease == 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("witness: data dir: %w", err)
	}
	start := time.Now()
	a := &Arbiter{cluster: cfg.Cluster, key: key, path: filepath.Join(cfg.Dir, "arbiter.json"), lease: cfg.Lease,
		log: cfg.Logger, now: time.Now, mono: func() time.Duration { return time.Since(start) }}
	b, err := os.ReadFile(a.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("witness: %w", err)
	default:
		if err := json.Unmarshal(b, &a.st); err != nil {
			return nil, fmt.Errorf("witness: %s: %w", a.path, err)
		}
		a.restored = a.st.Grant != nil
	}
	return a, nil
}

// Serve answers requests on l until it is closed.
func (a *Arbiter) Serve(l net.Listener) error {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go a.handle(c)
	}
}

func (a *Arbiter) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(a.now().Add(5 * time.Second))
	var req Request
	if err := readFrame(c, a.key, &req); err != nil {
		a.log.Warn("arbiter: bad request", "from", c.RemoteAddr(), "err", err)
		return
	}
	ans := a.Decide(req)
	if err := writeFrame(c, a.key, ans); err != nil {
		a.log.Warn("arbiter: answer", "to", c.RemoteAddr(), "err", err)
	}
}

// Decide applies the grant rule to one request, persisting what changes
// before it returns.
func (a *Arbiter) Decide(req Request) Answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	ans := Answer{Nonce: req.Nonce, LP: a.st.LP}
	members := slices.Clone(req.View.Members)
	slices.Sort(members)
	now, mono := a.now(), a.mono()
	if a.restored {
		a.until, a.restored = mono+a.lease, false
	}
	switch {
	case a.cluster != "" && req.Cluster != a.cluster:
		ans.Reason = fmt.Sprintf("arbiter serves cluster %q, not %q", a.cluster, req.Cluster)
		return ans
	case !slices.Contains(members, req.Node):
		ans.Reason = "the requester is not a member of the view"
		return ans
	case a.st.LP != nil && !intersects(members, a.st.LP.Members):
		ans.Reason = fmt.Sprintf("no member of the last primary view %d/%d %v", a.st.LP.Epoch, a.st.LP.Coord, a.st.LP.Members)
		return ans
	case a.st.Grant != nil && mono < a.until && !slices.Equal(a.st.Grant, members):
		ans.Reason = fmt.Sprintf("vote held by %v for %v more", a.st.Grant, (a.until - mono).Round(time.Millisecond))
		return ans
	}
	next := a.st
	if !slices.Equal(next.Grant, members) {
		a.log.Info("arbiter: vote granted", "members", members, "view", fmt.Sprintf("%d/%d", req.View.Epoch, req.View.Coord))
	}
	next.Grant = members
	next.GrantUntil = now.Add(a.lease).UnixMilli()
	if req.Installed && (next.LP == nil || newer(req.View, *next.LP)) {
		v := View{Epoch: req.View.Epoch, Coord: req.View.Coord, Members: members}
		next.LP = &v
	}
	if err := a.save(next); err != nil {
		a.log.Error("arbiter: cannot persist the grant; refusing", "err", err)
		ans.Reason = "arbiter cannot persist its state"
		return ans
	}
	a.st, a.until = next, mono+a.lease
	ans.Granted, ans.LeaseMS, ans.LP = true, a.lease.Milliseconds(), a.st.LP
	return ans
}

func newer(a, b View) bool {
	return a.Epoch > b.Epoch || (a.Epoch == b.Epoch && a.Coord > b.Coord)
}

func intersects(a, b []uint16) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// save writes the state and syncs it (write to a temp file, fsync, rename,
// fsync the directory).
func (a *Arbiter) save(st state) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := a.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, a.path); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(a.path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
