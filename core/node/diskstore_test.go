package node

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/corral-ha/corral/core/disk"
)

// holdLock opens path as another server process would and takes the OFD
// write lock on its header block; the returned function lets go.
func holdLock(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	lk := headerLock(unix.F_WRLCK)
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatalf("taking the header lock: %v", err)
	}
	return func() { _ = f.Close() }
}

func readHeaderFile(t *testing.T, path string) disk.Header {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := disk.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestDiskStoreStart: a new store is created sparse with a header at
// epoch 1; each start bumps the epoch and names the server; a store held
// by another open file, of another disk or size, or holding data without
// a header refuses the start, saying what to do.
func TestDiskStoreStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "d1.img")
	s, err := openDiskStore(path, "test", "d1", 1<<20, "n1", 7)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != disk.HeaderSize+1<<20 {
		t.Fatalf("store size %d", fi.Size())
	}
	want := disk.Header{Cluster: "test", Disk: "d1", Epoch: 1, Server: "n1", Boot: 7, DataOffset: disk.HeaderSize, Size: 1 << 20}
	if h := readHeaderFile(t, path); h != want {
		t.Fatalf("header %+v, want %+v", h, want)
	}
	if _, err := openDiskStore(path, "test", "d1", 1<<20, "n2", 9); !errors.Is(err, errStoreLocked) || !strings.Contains(err.Error(), "fence it or stop it") {
		t.Fatalf("second start while the first holds the lock: %v", err)
	}
	if err := s.check(); err != nil {
		t.Fatalf("monitor: %v", err)
	}
	data := bytes.Repeat([]byte("abcdefgh"), 512)
	if err := s.writeAt(data, 4096, false); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := s.readAt(got, 4096); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if err := s.zero(4096, 100, true, false); err != nil {
		t.Fatal(err)
	}
	if err := s.zero(4196, 100, false, true); err != nil {
		t.Fatal(err)
	}
	if err := s.readAt(got, 4096); err != nil || !bytes.Equal(got[:200], make([]byte, 200)) || !bytes.Equal(got[200:], data[200:]) {
		t.Fatalf("after zero: %v %q", err, got[:210])
	}
	if err := s.trim(0, 1<<20, true); err != nil {
		t.Fatal(err)
	}
	if d := s.do(disk.IO{Op: disk.OpRead, Off: 1<<20 - 10, Len: 11}); d.Err != disk.EINVAL {
		t.Fatalf("read past the end: %v", d.Err)
	}
	if d := s.do(disk.IO{Op: disk.OpWrite, Off: 10, Len: 3, Data: []byte("xyz"), FUA: true}); d.Err != disk.OK {
		t.Fatalf("write: %v", d.Err)
	}
	if d := s.do(disk.IO{Op: disk.OpRead, Off: 10, Len: 3}); d.Err != disk.OK || string(d.Data) != "xyz" {
		t.Fatalf("read: %v %q", d.Err, d.Data)
	}

	// a newer server's header (a raw device shared without OFD locks):
	// the monitor fails
	h := s.hdr
	h.Epoch, h.Server = 5, "n3"
	if _, err := s.f.WriteAt(h.Marshal(), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.check(); err == nil || !strings.Contains(err.Error(), "a newer server took the disk") {
		t.Fatalf("monitor after a newer epoch: %v", err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}

	s, err = openDiskStore(path, "test", "d1", 1<<20, "n2", 9)
	if err != nil {
		t.Fatal(err)
	}
	if s.hdr.Epoch != 6 || readHeaderFile(t, path).Epoch != 6 {
		t.Fatalf("restart: epoch %d, want 6", s.hdr.Epoch)
	}
	_ = s.close()

	release := holdLock(t, path)
	if _, err := openDiskStore(path, "test", "d1", 1<<20, "n1", 8); !errors.Is(err, errStoreLocked) {
		t.Fatalf("start against a held lock: %v", err)
	}
	release()

	for _, tc := range []struct {
		name, cluster, disk string
		size                uint64
		want                string
	}{
		{"other cluster", "prod", "d1", 1 << 20, "belongs to disk d1 of cluster test"},
		{"other disk", "test", "d2", 1 << 20, "belongs to disk d1 of cluster test"},
		{"other size", "test", "d1", 2 << 20, "set the disk's size to 1048576"},
	} {
		if _, err := openDiskStore(path, tc.cluster, tc.disk, tc.size, "n1", 8); !errors.Is(err, errDiskConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a configuration error saying %q", tc.name, err, tc.want)
		}
	}
	foreign := filepath.Join(dir, "foreign.img")
	if err := os.WriteFile(foreign, []byte("someone's file system"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openDiskStore(foreign, "test", "d1", 1<<20, "n1", 8); !errors.Is(err, errDiskConfig) || !strings.Contains(err.Error(), "holds data but no corral header") {
		t.Fatalf("a store with data and no header: %v", err)
	}
	if b, _ := os.ReadFile(foreign); string(b) != "someone's file system" {
		t.Fatalf("the foreign file was changed: %q", b)
	}
	// an existing zeroed store that is too small is extended
	small := filepath.Join(dir, "small.img")
	if err := os.WriteFile(small, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = openDiskStore(small, "test", "d3", 1<<20, "n1", 8)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.close()
	if fi, _ := os.Stat(small); fi.Size() != disk.HeaderSize+1<<20 {
		t.Fatalf("small store size %d", fi.Size())
	}
}
