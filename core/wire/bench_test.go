package wire

import (
	"strconv"
	"testing"
)

var benchSizes = []int{64, 1024}

func benchName(n int) string {
	if n%1024 == 0 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// BenchmarkSealEncode measures Encode of a Ping with an n-byte payload plus
// Seal; bytes are payload bytes.
func BenchmarkSealEncode(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			a := newEndpoint(b, testConfig(1, 1))
			ping := &Ping{Payload: payload(n, 1)}
			buf := make([]byte, 0, n+32)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := range b.N {
				ping.Seq = uint64(i)
				if _, err := a.Seal(Dest{ID: 2}, AppendMessage(buf[:0], ping)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenDecode measures Open plus Decode of a sealed Ping with an
// n-byte payload. Packets are sealed in batches outside the timer, so
// that every Open sees a fresh counter.
func BenchmarkOpenDecode(b *testing.B) {
	const batch = 4096
	for _, n := range benchSizes {
		b.Run(benchName(n), func(b *testing.B) {
			a, r := pair(b)
			ping := &Ping{Payload: payload(n, 1)}
			pkts := make([][]byte, 0, batch)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for i := range b.N {
				if i%batch == 0 {
					b.StopTimer()
					pkts = pkts[:0]
					for j := range min(batch, b.N-i) {
						ping.Seq = uint64(i + j)
						pkts = append(pkts, seal1(b, a, Encode(ping)))
					}
					b.StartTimer()
				}
				d, err := r.Open(0, pkts[i%batch])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := Decode(d.Msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
