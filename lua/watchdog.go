package lua

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// watchInterval is how often the watchdog samples the heap while calls run:
// a script doubling a string every few milliseconds is stopped within a
// couple of doublings past the limit.
const watchInterval = 5 * time.Millisecond

const heapMetric = "/memory/classes/heap/objects:bytes"

// watchdog stops calls during which the Go heap grew by more than the
// memory limit. gopher-lua has no allocation hook, so it samples the heap
// (runtime/metrics, no stop-the-world) while any call runs and stops, of
// the calls the growth happened during, an ungranted one first, then the
// one that started last; a VM it stops is thrown away with what it built.
type watchdog struct {
	h      *Host
	active atomic.Int64
	wake   chan struct{}
	last   atomic.Uint64 // the heap at the last sample
	seq    atomic.Uint64 // call starts, for "started last"
	mu     sync.Mutex    // guards sample
	sample []metrics.Sample

	// The call last stopped, until it has returned (only the watchdog's
	// goroutine uses these).
	victim    *vm
	victimSeq uint64
	victimAt  time.Time
}

func newWatchdog(h *Host) *watchdog {
	return &watchdog{h: h, wake: make(chan struct{}, 1), sample: []metrics.Sample{{Name: heapMetric}}}
}

// enter counts a call in and returns its start number and the heap it
// starts from: the last sample, or a fresh one when no call was running
// (the watchdog was asleep and its sample may be old).
func (w *watchdog) enter() (seq, base uint64) {
	if w.active.Add(1) == 1 {
		w.last.Store(w.heap())
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	return w.seq.Add(1), w.last.Load()
}

func (w *watchdog) leave() { w.active.Add(-1) }

func (w *watchdog) heap() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	metrics.Read(w.sample)
	if w.sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return w.sample[0].Value.Uint64()
}

func (w *watchdog) run() {
	if w.h.memLimit < 0 {
		return
	}
	t := time.NewTimer(watchInterval)
	defer t.Stop()
	for {
		if w.active.Load() == 0 {
			select {
			case <-w.wake:
			case <-w.h.done:
				return
			}
		}
		t.Reset(watchInterval)
		select {
		case <-t.C:
		case <-w.h.done:
			return
		}
		w.check()
	}
}

func (w *watchdog) check() {
	if w.victim != nil {
		// Judge nothing until the stopped call has returned (its last
		// instruction may still be allocating) and its garbage is
		// collected; then measure every running call from there.
		v := w.victim
		v.mu.Lock()
		running := v.cancel != nil && v.seq == w.victimSeq
		v.mu.Unlock()
		if running && time.Since(w.victimAt) < 5*time.Second {
			return
		}
		w.victim = nil
		debug.FreeOSMemory()
		heap := w.heap()
		w.last.Store(heap)
		w.rebase(heap)
		return
	}
	heap := w.heap()
	w.last.Store(heap)
	limit := uint64(w.h.memLimit)
	// Of the calls during which the heap grew by more than the limit, stop
	// an ungranted one if there is one (else an ungranted handler growing
	// the heap gets a shipped agent's monitor stopped: a failed monitor,
	// a restart or failover it may not ask for), and of those the one that
	// started last: the growth began after the others had started, and a
	// bomb grows fast. If the heap goes on growing after that, the next
	// one goes.
	var victim *vm
	var victimSeq, victimBase uint64
	victimTrusted := false
	for _, v := range w.running() {
		v.mu.Lock()
		if v.cancel != nil && heap > v.base && heap-v.base > limit {
			better := victim == nil || (victimTrusted && !v.trusted) || (victimTrusted == v.trusted && v.seq > victimSeq)
			if better {
				victim, victimSeq, victimBase, victimTrusted = v, v.seq, v.base, v.trusted
			}
		}
		v.mu.Unlock()
	}
	if victim == nil {
		return
	}
	victim.mu.Lock()
	if victim.cancel != nil && victim.seq == victimSeq {
		victim.cancel(errMemory{grew: heap - victimBase, limit: limit})
		w.victim, w.victimSeq, w.victimAt = victim, victimSeq, time.Now()
	}
	victim.mu.Unlock()
}

func (w *watchdog) running() []*vm {
	w.h.mu.Lock()
	defer w.h.mu.Unlock()
	vms := make([]*vm, 0, len(w.h.vms))
	for v := range w.h.vms {
		vms = append(vms, v)
	}
	return vms
}

// rebase measures every running call from heap on.
func (w *watchdog) rebase(heap uint64) {
	for _, v := range w.running() {
		v.mu.Lock()
		if v.cancel != nil {
			v.base = heap
		}
		v.mu.Unlock()
	}
}
