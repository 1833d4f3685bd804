package disk

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func randName(r *rand.Rand, max int) string {
	b := make([]byte, r.IntN(max+1))
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return string(b)
}

// TestHeaderProperty: Marshal then ParseHeader gives the header back (names
// longer than maxHeaderName cut to it); flipping any byte of the encoded
// part is detected (no header, or a bad one), never a different header.
func TestHeaderProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		h := Header{Cluster: randName(r, 300), Disk: randName(r, 40), Epoch: r.Uint64(), Server: randName(r, 20),
			Boot: r.Uint32(), DataOffset: r.Uint64(), Size: r.Uint64()}
		b := h.Marshal()
		if len(b) != HeaderSize {
			t.Fatalf("Marshal: %d bytes", len(b))
		}
		got, err := ParseHeader(b)
		if err != nil {
			t.Fatalf("ParseHeader: %v", err)
		}
		want := h
		if len(want.Cluster) > maxHeaderName {
			want.Cluster = want.Cluster[:maxHeaderName]
		}
		if got != want {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
		used := 12 + 3 + len(want.Cluster) + len(want.Disk) + len(want.Server) + 28 + 4
		k := r.IntN(used)
		b[k] ^= byte(1 + r.IntN(255))
		if got, err := ParseHeader(b); err == nil {
			t.Fatalf("byte %d flipped, parsed as %+v", k, got)
		} else if !errors.Is(err, ErrNoHeader) && !errors.Is(err, ErrBadHeader) {
			t.Fatalf("byte %d flipped: %v", k, err)
		}
	}
	if _, err := ParseHeader(make([]byte, HeaderSize)); !errors.Is(err, ErrNoHeader) {
		t.Fatalf("zeroed block: %v", err)
	}
	b := Header{Cluster: strings.Repeat("c", 10)}.Marshal()
	b[8+3] = 2
	if _, err := ParseHeader(b); !errors.Is(err, ErrBadHeader) {
		t.Fatalf("version 2: %v", err)
	}
}

// FuzzParseHeader: never panics; what parses re-marshals to a block that
// parses to the same header.
func FuzzParseHeader(f *testing.F) {
	f.Add(Header{Cluster: "c", Disk: "drd1", Epoch: 3, Server: "n1", Boot: 7, DataOffset: HeaderSize, Size: 1 << 28}.Marshal())
	f.Add(make([]byte, 16))
	f.Add([]byte("CORRALDK\x00\x00\x00\x01\x03abc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			if !errors.Is(err, ErrNoHeader) && !errors.Is(err, ErrBadHeader) {
				t.Fatalf("error: %v", err)
			}
			return
		}
		h2, err := ParseHeader(h.Marshal())
		if err != nil || h2 != h {
			t.Fatalf("re-marshal: %+v %v, want %+v", h2, err, h)
		}
	})
}
