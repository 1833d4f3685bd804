package disk

import "time"

// Defaults of Config.
const (
	// DefaultWindow: pieces in flight from one client to a server per
	// disk (8 × MaxPiece = 2 MiB: enough for a sequential copy to keep
	// the circuit busy, small enough to bound the replay after failover).
	// It was 64 (16 MiB): four times conn's 4 MiB window per peer and
	// the 4 MiB socket buffers, so a bulk copy through a non-serving
	// node kept megabytes queued ahead of heartbeats; measured on the
	// 3-node demo (nbdcopy 256 MiB), 8 copies as fast (~17-22 MiB/s).
	DefaultWindow = 8
	// DefaultRetry: how long a request waits for a server (the failover
	// goal is about a second; a fenced takeover with a slow device takes
	// longer; after this the request fails with EIO as a disk's would).
	// Counted per piece from when it began to wait for a server (or its
	// copy sent last was settled: refused, or its server gone for good);
	// a piece in flight at a server that may still apply it is never
	// failed by it (doc.go, "Retry": a Done means no copy lands later).
	DefaultRetry = 2 * time.Minute
	// DefaultDupCache: answered writes (write, trim, zero, flush) kept
	// per client incarnation and disk for retries (a client never has
	// more than Window pieces unanswered, so four windows outlast any
	// retry; reads are not kept: a retry reads again).
	DefaultDupCache = 4 * DefaultWindow
)

func (c Config) withDefaults() Config {
	if c.Window <= 0 {
		c.Window = DefaultWindow
	}
	if c.Retry <= 0 {
		c.Retry = DefaultRetry
	}
	if c.DupCache <= 0 {
		c.DupCache = DefaultDupCache
	}
	return c
}
