package apitypes

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestParseSize: bytes, binary units (with or without "iB"), and clear
// refusals of decimal units, fractions, signs and overflow.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"1048576": 1 << 20, "256MiB": 256 << 20, "256M": 256 << 20, "1GiB": 1 << 30, "1G": 1 << 30,
		"4KiB": 4096, "4K": 4096, "2TiB": 2 << 40, "512B": 512, " 8MiB ": 8 << 20, "0": 0,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "256MB", "1kB", "1k", "1.5G", "-1", "+1", "MiB", "1 XiB", "99999999999TiB"} {
		if got, err := ParseSize(in); !errors.Is(err, ErrSize) {
			t.Errorf("ParseSize(%q) = %d, %v; want ErrSize", in, got, err)
		}
	}
	for n, want := range map[uint64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1536: "1536", 3 << 10: "3KiB", 0: "0"} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
	var r DiskAddRequest
	if err := json.Unmarshal([]byte(`{"name": "d", "size": "16MiB"}`), &r); err != nil || r.Size != 16<<20 {
		t.Errorf("size as a string: %+v %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"name": "d", "size": 1048576}`), &r); err != nil || r.Size != 1<<20 {
		t.Errorf("size as a number: %+v %v", r, err)
	}
	for _, bad := range []string{`{"size": 1.5}`, `{"size": -512}`, `{"size": true}`, `{"size": "1MB"}`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s: accepted as %d", bad, r.Size)
		}
	}
}
