package wal

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// logBuf collects what Open logs.
func logBuf() (*bytes.Buffer, *slog.Logger) {
	var b bytes.Buffer
	return &b, slog.New(slog.NewTextHandler(&b, nil))
}

func open(t *testing.T, dir string, after uint64, seg int64) (*Log, []Record, *bytes.Buffer) {
	t.Helper()
	buf, lg := logBuf()
	l, recs, err := Open(dir, after, Options{SegmentSize: seg, Logger: lg})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l, recs, buf
}

func appendN(t *testing.T, l *Log, from, n int) []int64 {
	t.Helper()
	var offs []int64
	for i := from; i < from+n; i++ {
		offs = append(offs, l.off)
		if _, err := l.Append(fmt.Appendf(nil, "record-%d-%s", i, strings.Repeat("x", 40))); err != nil {
			t.Fatal(err)
		}
	}
	return offs
}

func checkRecs(t *testing.T, recs []Record, first uint64, n int) {
	t.Helper()
	if len(recs) != n {
		t.Fatalf("%d records, want %d", len(recs), n)
	}
	for i, r := range recs {
		lsn := first + uint64(i)
		if r.LSN != lsn || !bytes.HasPrefix(r.Data, fmt.Appendf(nil, "record-%d-", lsn-1)) {
			t.Fatalf("record %d: lsn %d data %q", i, r.LSN, r.Data)
		}
	}
}

func TestAppendReopen(t *testing.T) {
	dir := t.TempDir()
	l, recs, _ := open(t, dir, 0, 0)
	if len(recs) != 0 || l.Next() != 1 {
		t.Fatalf("new log: %d records, next %d", len(recs), l.Next())
	}
	appendN(t, l, 0, 3)
	l.Close()
	l, recs, _ = open(t, dir, 0, 0)
	checkRecs(t, recs, 1, 3)
	appendN(t, l, 3, 2)
	l.Close()
	l, recs, _ = open(t, dir, 2, 0)
	defer l.Close()
	checkRecs(t, recs, 3, 3)
	if l.Next() != 6 {
		t.Fatalf("next %d, want 6", l.Next())
	}
}

// TestTornTail: the last record cut short (the file truncated in the
// middle of it), or with a sector of it never written (still zeros), or
// with its header zeroed: Open cuts it off, says so, and the log goes on
// at its LSN. The same record written whole with a flipped byte was
// damaged after its sync: Open refuses it (ErrCorrupt naming the file
// and offset) and leaves the file alone.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tear    func(path string, off int64) error
		refused bool
	}{
		{"truncated", func(path string, off int64) error { return os.Truncate(path, off+20) }, false},
		{"sector unwritten", func(path string, off int64) error {
			return zero(path, (off+recHeader+sector)/sector*sector, sector)
		}, false},
		{"header zeroed", func(path string, off int64) error { return zero(path, off, recHeader) }, false},
		{"flipped", func(path string, off int64) error { return flip(path, off+recHeader+3) }, true},
		// a flipped length reaches into the zeros after the record, or
		// past the file's end: the checksum holds for the length with the
		// bit back, so the record was written whole
		{"length flipped into zeros", func(path string, off int64) error { return flipBit(path, off+1, 0x10) }, true},
		{"length flipped past the end", func(path string, off int64) error { return flipBit(path, off, 0x40) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _, _ := open(t, dir, 0, 0)
			appendN(t, l, 0, 2)
			off := l.off // the last record spans at least 3 sectors
			if _, err := l.Append(fmt.Appendf(nil, "record-2-%s", strings.Repeat("y", 3*sector))); err != nil {
				t.Fatal(err)
			}
			path := l.Segments()[0]
			l.Close()
			if err := tc.tear(path, off); err != nil {
				t.Fatal(err)
			}
			if tc.refused {
				before, _ := os.ReadFile(path)
				_, _, err := Open(dir, 0, Options{})
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprint("offset ", off)) {
					t.Fatalf("open: %v, want ErrCorrupt naming %s offset %d", err, path, off)
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
					t.Fatal("a refused open changed the file")
				}
				return
			}
			l, recs, logged := open(t, dir, 0, 0)
			checkRecs(t, recs, 1, 2)
			if !strings.Contains(logged.String(), "cut a torn record") || !strings.Contains(logged.String(), path) {
				t.Fatalf("no log line naming the cut: %s", logged)
			}
			appendN(t, l, 2, 2)
			l.Close()
			l, recs, _ = open(t, dir, 0, 0)
			defer l.Close()
			checkRecs(t, recs, 1, 4)
		})
	}
}

// TestCorruptMiddleRefused: a damaged record with valid ones after it is
// not a torn write: Open refuses with ErrCorrupt naming the file, and
// leaves the file as it was.
func TestCorruptMiddleRefused(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	offs := appendN(t, l, 0, 3)
	path := l.Segments()[0]
	l.Close()
	if err := flip(path, offs[1]+recHeader+1); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, _, err := Open(dir, 0, Options{})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("open: %v, want ErrCorrupt naming %s record 2", err, path)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("a refused open changed the file")
	}
}

// TestCorruptOlderSegmentRefused: a damaged last record of a segment that
// is not the last one is refused too (later segments hold valid records).
func TestCorruptOlderSegmentRefused(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 256)
	offs := appendN(t, l, 0, 10)
	segs := l.Segments()
	l.Close()
	if len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	// records of 60 bytes + 16: 3 a segment; record 3 ends the first
	if err := flip(segs[0], offs[2]+recHeader+1); err != nil {
		t.Fatal(err)
	}
	_, _, err := Open(dir, 0, Options{SegmentSize: 256})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), segs[0]) {
		t.Fatalf("open: %v, want ErrCorrupt naming %s", err, segs[0])
	}
}

// TestRelease: segments whose records are all applied are deleted; the
// current one stays; a reopen returns the records after the applied one.
func TestRelease(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 256)
	appendN(t, l, 0, 10)
	n := len(l.Segments())
	if err := l.Release(7); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) >= n || len(segs) == 0 {
		t.Fatalf("%d segments after release, %d before", len(segs), n)
	}
	l.Close()
	ents, _ := os.ReadDir(dir)
	if len(ents) != len(segs) {
		t.Fatalf("%d files, %d segments", len(ents), len(segs))
	}
	l, recs, _ := open(t, dir, 7, 256)
	defer l.Close()
	checkRecs(t, recs, 8, 3)
	// records before the applied one are gone: an open that needs them
	// refuses
	l.Close()
	if _, _, err := Open(dir, 1, Options{SegmentSize: 256}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("open after 1 with records 2.. released: %v, want ErrCorrupt", err)
	}
}

// TestAppliedBeyondLog: every record is applied (and the log older than
// that): the log starts again at the next LSN.
func TestAppliedBeyondLog(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	appendN(t, l, 0, 2)
	l.Close()
	l, recs, _ := open(t, dir, 5, 0)
	defer l.Close()
	if len(recs) != 0 || l.Next() != 6 || len(l.Segments()) != 1 {
		t.Fatalf("records %d next %d segments %v", len(recs), l.Next(), l.Segments())
	}
}

func TestVersionRefused(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	appendN(t, l, 0, 1)
	path := l.Segments()[0]
	l.Close()
	if err := flip(path, 11); err != nil { // the version's low byte
		t.Fatal(err)
	}
	_, _, err := Open(dir, 0, Options{})
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "run the newer corral") {
		t.Fatalf("open: %v, want ErrVersion naming %s", err, path)
	}
}

func flip(path string, off int64) error { return flipBit(path, off, 0x40) }

func flipBit(path string, off int64, mask byte) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		return err
	}
	b[0] ^= mask
	_, err = f.WriteAt(b, off)
	return err
}

func zero(path string, off int64, n int) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteAt(make([]byte, n), off)
	return err
}

// TestInterruptedSegmentCreation: a crash while a new segment was being
// created leaves it empty (or with part of its header): Open writes the
// header again and the log goes on there.
func TestInterruptedSegmentCreation(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	appendN(t, l, 0, 2)
	l.Close()
	empty := dir + "/" + segName(3)
	if err := os.WriteFile(empty, magic[:3], 0o600); err != nil {
		t.Fatal(err)
	}
	l, recs, logged := open(t, dir, 0, 0)
	checkRecs(t, recs, 1, 2)
	if !strings.Contains(logged.String(), "rewrote the header") {
		t.Fatalf("no log line: %s", logged)
	}
	appendN(t, l, 2, 1)
	l.Close()
	l, recs, _ = open(t, dir, 0, 0)
	defer l.Close()
	checkRecs(t, recs, 1, 3)
}

// TestTempSegmentRemoved: a segment whose creation a crash interrupted
// before its rename (still under its temporary name) is removed at Open
// and the log goes on.
func TestTempSegmentRemoved(t *testing.T) {
	dir := t.TempDir()
	l, _, _ := open(t, dir, 0, 0)
	appendN(t, l, 0, 2)
	l.Close()
	tmp := filepath.Join(dir, segName(3)+tmpSuffix)
	if err := os.WriteFile(tmp, []byte("CORRAL"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, recs, _ := open(t, dir, 0, 0)
	defer l.Close()
	checkRecs(t, recs, 1, 2)
	if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary segment is still there: %v", err)
	}
}

// TestSyncFailureBreaks: every Append syncs (fdatasync) once before it
// returns; a failed sync (EIO: the page cache may no longer match the
// disk, fsyncgate) fails that Append and every later one with ErrBroken,
// without syncing again. Mutation caught: the sync skipped.
func TestSyncFailureBreaks(t *testing.T) {
	var syncs int
	var fail bool
	defer setFdatasync(func(int) error {
		syncs++
		if fail {
			return unix.EIO
		}
		return nil
	})()
	l, _, _ := open(t, t.TempDir(), 0, 0)
	defer l.Close()
	appendN(t, l, 0, 2)
	if syncs != 2 {
		t.Fatalf("%d syncs for 2 appends, want 2", syncs)
	}
	fail = true
	if _, err := l.Append([]byte("x")); !errors.Is(err, ErrBroken) || !errors.Is(err, unix.EIO) {
		t.Fatalf("append with a failing sync: %v, want ErrBroken and EIO", err)
	}
	fail = false
	for range 2 {
		if _, err := l.Append([]byte("y")); !errors.Is(err, ErrBroken) {
			t.Fatalf("append after a failed sync: %v, want ErrBroken", err)
		}
	}
	if syncs != 3 {
		t.Fatalf("%d syncs, want 3 (none after the failure)", syncs)
	}
}
