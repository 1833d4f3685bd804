package wire

// Replay window, as in WireGuard and RFC 6479: a ring of bitmap words that
// covers the latest counters seen. Only the highest counter and one bit per
// counter of the window are kept.
const (
	windowWords = 64                      // 4096 bits, 512 bytes per peer
	windowBits  = windowWords * 64        // bits in the ring
	windowSize  = windowBits - 64         // counters the window always covers
	wordMask    = uint64(windowWords - 1) // ring index mask (windowWords is a power of two)
)

// window tracks the counters received from one incarnation (sender, boot).
// The zero value has seen nothing.
type window struct {
	top  uint64 // highest counter marked
	bits [windowWords]uint64
}

// fresh reports whether counter c has not been marked and is not too old to
// tell. It does not change the window.
func (w *window) fresh(c uint64) bool {
	if c > w.top {
		return true
	}
	if w.top-c >= windowSize {
		return false
	}
	return w.bits[(c>>6)&wordMask]&(1<<(c&63)) == 0
}

// mark records counter c, which fresh accepted. Call it only for
// authenticated packets, so forgeries cannot move the window.
func (w *window) mark(c uint64) {
	if c > w.top {
		cur, next := w.top>>6, c>>6
		n := next - cur
		if n > windowWords {
			n = windowWords
		}
		for i := uint64(1); i <= n; i++ {
			w.bits[(cur+i)&wordMask] = 0
		}
		w.top = c
	}
	w.bits[(c>>6)&wordMask] |= 1 << (c & 63)
}
