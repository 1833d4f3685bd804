package nbd

import (
	"testing"
)

func benchIO(b *testing.B, size int, write bool, o ClientOptions) {
	exps, _ := oneExport("d", 64<<20)
	ts := startServer(b, exps)
	cl, err := Dial("unix", ts.sock, "d", o)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cl.Close() }()
	b.SetBytes(int64(size))
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		p := make([]byte, size)
		var off uint64
		for pb.Next() {
			off = (off + uint64(size)) % (64<<20 - uint64(size))
			var err error
			if write {
				err = cl.WriteAt(p, off, false)
			} else {
				err = cl.ReadAt(p, off)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkRead4K(b *testing.B) { benchIO(b, 4096, false, ClientOptions{}) }
func BenchmarkRead4KStructured(b *testing.B) {
	benchIO(b, 4096, false, ClientOptions{Structured: true})
}
func BenchmarkWrite4K(b *testing.B) { benchIO(b, 4096, true, ClientOptions{}) }
func BenchmarkRead1M(b *testing.B)  { benchIO(b, 1<<20, false, ClientOptions{}) }
func BenchmarkWrite1M(b *testing.B) { benchIO(b, 1<<20, true, ClientOptions{}) }
