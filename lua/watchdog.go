package lua

import (
	"runtime/debug"
	"runtime/metrics"
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
// (runtime/metrics, no stop-the-world) while any call runs and blames the
// calls that were running before the growth began: a memory bomb is always
// among them, and a VM it stops is thrown away with what it built.
type watchdog struct {
	h      *Host
	active atomic.Int64
	wake   chan struct{}
	sample []metrics.Sample
}

func newWatchdog(h *Host) *watchdog {
	return &watchdog{h: h, wake: make(chan struct{}, 1), sample: []metrics.Sample{{Name: heapMetric}}}
}

func (w *watchdog) enter() {
	if w.active.Add(1) == 1 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *watchdog) leave() { w.active.Add(-1) }

func (w *watchdog) heap() uint64 {
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
	heap := w.heap()
	limit := uint64(w.h.memLimit)
	stopped := false
	w.h.mu.Lock()
	for v := range w.h.vms {
		v.mu.Lock()
		if v.cancel != nil {
			switch {
			case v.base == 0:
				v.base = heap
			case heap > v.base && heap-v.base > limit:
				v.cancel(errMemory{grew: heap - v.base, limit: limit})
				v.cancel = nil
				stopped = true
			}
		}
		v.mu.Unlock()
	}
	w.h.mu.Unlock()
	if stopped {
		// Give the memory back once the stopped VMs are gone.
		go func() {
			time.Sleep(50 * time.Millisecond)
			debug.FreeOSMemory()
		}()
	}
}
