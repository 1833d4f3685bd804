package dlm

import "testing"

// BenchmarkEngineLockUnlock is one locally granted lock and its unlock on
// a resource another client holds in a compatible mode (the engine's
// share of a locally mastered lock+unlock).
func BenchmarkEngineLockUnlock(b *testing.B) {
	r := newRSB("", "R", DefaultLVB)
	r.request(0, &lkb{key: lkey{Node: 1, ID: 1}}, CR, 0, nil)
	var id LockID = 1
	b.ReportAllocs()
	for b.Loop() {
		id++
		k := lkey{Node: 1, ID: id}
		if effs := r.request(0, &lkb{key: k}, PR, ValBlk, nil); len(effs) != 1 || effs[0].status != OK {
			b.Fatalf("request: %+v", effs)
		}
		if _, err := r.unlock(k, 0, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEngineContended is a waiter queued behind a holder and granted
// when the holder converts down and back up (notices, a queued grant).
func BenchmarkEngineContended(b *testing.B) {
	r := newRSB("", "R", DefaultLVB)
	h := lkey{Node: 1, ID: 1}
	r.request(0, &lkb{key: h}, EX, 0, nil)
	var id LockID = 1
	b.ReportAllocs()
	for b.Loop() {
		id++
		k := lkey{Node: 2, ID: id}
		r.request(0, &lkb{key: k}, PR, 0, nil)
		if _, err := r.convert(0, h, NL, Convert, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := r.unlock(k, 0, nil); err != nil {
			b.Fatal(err)
		}
		if effs, err := r.convert(0, h, EX, Convert, nil); err != nil || len(effs) == 0 || effs[0].status != OK {
			b.Fatalf("convert: %+v %v", effs, err)
		}
	}
}
