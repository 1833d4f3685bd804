package disk

import (
	"math/rand/v2"
	"testing"
)

// TestDirtyProperty checks Dirty against a model: the set of acknowledged
// unflushed writes (number → epoch). A flush sent at mark and answered at
// epoch covers the writes numbered up to mark still in the set: EIO iff
// one of them has another epoch; they leave the set. Flushes are answered
// in any order (marks taken earlier may come back later).
func TestDirtyProperty(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		r := rand.New(rand.NewPCG(seed, 7))
		var d Dirty
		model := map[uint64]uint64{}
		var n uint64
		var marks []uint64
		epoch := uint64(1)
		for step := 0; step < 200; step++ {
			switch x := r.IntN(10); {
			case x < 5:
				n++
				d.Wrote(epoch)
				model[n] = epoch
			case x < 7:
				m := d.Mark()
				if m != n {
					t.Fatalf("seed %d: Mark = %d, want %d", seed, m, n)
				}
				marks = append(marks, m)
			case x < 9 && len(marks) > 0:
				i := r.IntN(len(marks))
				m := marks[i]
				marks = append(marks[:i], marks[i+1:]...)
				fe := epoch
				if r.IntN(4) == 0 {
					fe = epoch + 1
				}
				want := OK
				for k, e := range model {
					if k <= m {
						if e != fe {
							want = EIO
						}
						delete(model, k)
					}
				}
				if got := d.Flush(m, fe); got != want {
					t.Fatalf("seed %d step %d: Flush(%d, %d) = %v, want %v", seed, step, m, fe, got, want)
				}
			default:
				epoch++
			}
			if d.Unflushed() != len(model) {
				t.Fatalf("seed %d step %d: Unflushed = %d, want %d", seed, step, d.Unflushed(), len(model))
			}
		}
	}
}
