package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Version is the segment format this package writes and reads.
const Version = 1

// DefaultSegmentSize is a segment's preallocated size.
const DefaultSegmentSize = 16 << 20

var (
	// ErrCorrupt is returned when the log holds a bad record that is not a torn last
	// write, or records are missing; Open will not cut acknowledged
	// records.
	ErrCorrupt = errors.New("write-ahead log is corrupt")
	// ErrVersion is returned for a segment of a format version this code does not read.
	ErrVersion = errors.New("write-ahead log of an unknown format version")
	// ErrBroken is returned when an earlier write or sync failed; the log takes no more
	// appends (what the file holds is unknown until Open reads it again).
	ErrBroken = errors.New("write-ahead log: an earlier write failed")
)

var magic = []byte("CORRALWL")

// fdatasync syncs an appended record; tests replace it (a disk that
// fails the sync).
var fdatasync = unix.Fdatasync

const (
	segHeader = 16 // magic, version, reserved
	recHeader = 16 // length, crc, lsn
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Options tune a Log.
type Options struct {
	SegmentSize int64        // 0: DefaultSegmentSize
	Logger      *slog.Logger // nil: slog.Default()
}

// Record is one record read back by Open.
type Record struct {
	LSN  uint64
	Data []byte
}

// Log is an open write-ahead log.
type Log struct {
	mu   sync.Mutex
	dir  string
	opt  Options
	f    *os.File // the current segment (the last of segs)
	off  int64    // where the next record goes in f
	next uint64   // the next record's LSN
	segs []uint64 // first LSNs of the segments on disk, ascending
	buf  []byte
	err  error // set when a write failed (ErrBroken)
}

func segName(first uint64) string { return fmt.Sprintf("%016x.wal", first) }

// Open opens (creating) the log in dir and returns the records with LSN
// above after (the caller has the others applied), in order. A torn last
// record is cut off and logged; any other damage is ErrCorrupt or
// ErrVersion, naming the file.
func Open(dir string, after uint64, opt Options) (*Log, []Record, error) {
	if opt.SegmentSize == 0 {
		opt.SegmentSize = DefaultSegmentSize
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("write-ahead log: %w", err)
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return nil, nil, err
		}
	}
	l := &Log{dir: dir, opt: opt}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("write-ahead log: %w", err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".wal"+tmpSuffix) {
			// a segment whose creation a crash interrupted before its rename
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return nil, nil, fmt.Errorf("write-ahead log: %w", err)
			}
			continue
		}
		name, ok := strings.CutSuffix(e.Name(), ".wal")
		if !ok || len(name) != 16 {
			continue
		}
		first, err := strconv.ParseUint(name, 16, 64)
		if err != nil {
			continue
		}
		l.segs = append(l.segs, first)
	}
	slices.Sort(l.segs)
	// Segments that hold only applied records are not needed; one that
	// Release deleted may be back (a crash before the directory's sync
	// kept its deletion), leaving a gap below the applied records.
	if err := l.release(after); err != nil {
		return nil, nil, err
	}
	var recs []Record
	next := uint64(0) // 0: no record read yet
	for i, first := range l.segs {
		path := filepath.Join(dir, segName(first))
		last := i == len(l.segs)-1
		if next != 0 && first != next {
			return nil, nil, fmt.Errorf("%w: %s starts at record %d, the segment before it ends at %d (records are missing)", ErrCorrupt, path, first, next-1)
		}
		if next == 0 && first > after+1 {
			return nil, nil, fmt.Errorf("%w: %s starts at record %d but the store has applied only up to %d (records are missing)", ErrCorrupt, path, first, after)
		}
		rs, end, err := l.readSegment(path, first, last)
		if err != nil {
			return nil, nil, err
		}
		next = first + uint64(len(rs))
		for _, r := range rs {
			if r.LSN > after {
				recs = append(recs, r)
			}
		}
		if last {
			if l.f, err = os.OpenFile(path, os.O_RDWR, 0); err != nil {
				return nil, nil, fmt.Errorf("write-ahead log: %w", err)
			}
			l.off = end
		}
	}
	l.next = next
	if l.f == nil || l.next <= after {
		// no log yet, or every record is applied already (a log written
		// before the store's last checkpoint was removed): start at after+1
		if l.f != nil {
			_ = l.f.Close()
			l.f = nil
		}
		l.next = after + 1
		if err := l.cut(); err != nil {
			return nil, nil, err
		}
		if err := l.release(after); err != nil {
			_ = l.f.Close()
			return nil, nil, err
		}
	}
	return l, recs, nil
}

// readSegment reads one segment's records (the first has LSN first) and
// returns where the next record goes. In the last segment a torn last
// record is cut off.
func (l *Log) readSegment(path string, first uint64, last bool) ([]Record, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("write-ahead log: %w", err)
	}
	if len(data) < segHeader || allZero(data) {
		if last && (allZero(data) || bytes.HasPrefix(magic, data[:min(len(data), len(magic))])) {
			// a segment whose creation a crash interrupted: write it again
			if err := l.writeHeader(path); err != nil {
				return nil, 0, err
			}
			l.opt.Logger.Warn("write-ahead log: rewrote the header of a segment whose creation a crash interrupted", "file", path)
			return nil, segHeader, nil
		}
		return nil, 0, fmt.Errorf("%w: %s: a segment of %d bytes, shorter than its header", ErrCorrupt, path, len(data))
	}
	if !bytes.Equal(data[:len(magic)], magic) {
		return nil, 0, fmt.Errorf("%w: %s is not a write-ahead log segment (bad magic)", ErrCorrupt, path)
	}
	if v := binary.BigEndian.Uint32(data[8:]); v != Version {
		return nil, 0, fmt.Errorf("%w: %s is of version %d, this corral reads version %d: run the newer corral that wrote it", ErrVersion, path, v, Version)
	}
	var recs []Record
	off := segHeader
	lsn := first
	for {
		r, n, ok := parse(data[off:], lsn)
		if ok {
			recs = append(recs, Record{LSN: lsn, Data: r})
			off += n
			lsn++
			continue
		}
		if allZero(data[off:]) {
			return recs, int64(off), nil // the end of the records
		}
		// a bad record: torn only if it is the last thing written
		if !last {
			return nil, 0, fmt.Errorf("%w: %s: record %d at offset %d is damaged (checksum or length), and it is not in the last segment", ErrCorrupt, path, lsn, off)
		}
		if validAfter(data, off+1, lsn) {
			return nil, 0, fmt.Errorf("%w: %s: record %d at offset %d is damaged (checksum or length) and valid records follow it", ErrCorrupt, path, lsn, off)
		}
		if !torn(data, off) || lengthFlipped(data[off:], lsn) {
			return nil, 0, fmt.Errorf("%w: %s: the last record (%d) at offset %d is damaged (checksum) but was written whole (no unwritten sector, or only a bit of its length is wrong): the disk changed it after it was synced, it is not a torn write", ErrCorrupt, path, lsn, off)
		}
		if err := l.cutTail(path, int64(off)); err != nil {
			return nil, 0, err
		}
		l.opt.Logger.Warn("write-ahead log: cut a torn record at the end of the log (a crash during its write; it was never acknowledged)",
			"file", path, "offset", off, "bytes", len(data)-off, "record", lsn)
		return recs, int64(off), nil
	}
}

// parse reads the record at the start of b, which should have LSN lsn:
// its data and size, or ok false.
func parse(b []byte, lsn uint64) (data []byte, n int, ok bool) {
	if len(b) < recHeader {
		return nil, 0, false
	}
	length := binary.BigEndian.Uint32(b)
	sum := binary.BigEndian.Uint32(b[4:])
	if length == 0 && sum == 0 || uint64(length) > uint64(len(b)-recHeader) {
		return nil, 0, false
	}
	if binary.BigEndian.Uint64(b[8:]) != lsn {
		return nil, 0, false
	}
	body := b[8 : recHeader+int(length)]
	if checksum(b[:4], body) != sum {
		return nil, 0, false
	}
	return body[8:], recHeader + int(length), true
}

// checksum is a record's CRC-32C: of its length field, then its LSN and
// data.
func checksum(length, body []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, crcTable), crcTable, body)
}

// validAfter reports whether a valid record numbered lsn or above starts
// anywhere in data from offset from on (then the bad record before it is
// not a torn last write: records written after it are on disk). It scans
// only up to the last non-zero byte (the preallocated rest is zeros), and
// only for LSNs a record there could have.
func validAfter(data []byte, from int, lsn uint64) bool {
	end := len(data)
	for end > from && data[end-1] == 0 {
		end--
	}
	maxLSN := lsn + uint64(end-from)/recHeader
	for i := from; i+recHeader <= end; i++ {
		got := binary.BigEndian.Uint64(data[i+8:])
		if got < lsn || got > maxLSN {
			continue
		}
		if _, _, ok := parse(data[i:], got); ok {
			return true
		}
	}
	return false
}

// sector is the unit a disk writes whole or not at all (or at least
// the smallest one).
const sector = 512

// torn reports whether the bad record at data[off:] can be a write a
// crash interrupted: it is shorter than its header or length says (the
// file ends first), or some sector of it is still all zeros (the
// preallocated space it was written into). A record written whole that
// then fails its checksum was damaged after it was synced. This is
// etcd's rule (its WAL decoder's isTornEntry).
func torn(data []byte, off int) bool {
	b := data[off:]
	if len(b) < recHeader {
		return true
	}
	length := binary.BigEndian.Uint32(b)
	if uint64(length) > uint64(len(b)-recHeader) {
		return true
	}
	end := off + recHeader + int(length)
	for s := off; s < end; {
		e := min((s/sector+1)*sector, end)
		if allZero(data[s:e]) {
			return true
		}
		s = e
	}
	return false
}

// lengthFlipped reports whether the bad record at the start of b is a
// whole record whose length field has one bit flipped (a wrong length
// reaches into the zeros after it, or past the file's end, and would
// look torn): its checksum holds for the length with that bit back.
func lengthFlipped(b []byte, lsn uint64) bool {
	if len(b) < recHeader {
		return false
	}
	if binary.BigEndian.Uint64(b[8:]) != lsn {
		return false
	}
	length, sum := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	h := make([]byte, 4)
	for bit := range 32 {
		l := length ^ 1<<bit
		if l == 0 || uint64(l) > uint64(len(b)-recHeader) {
			continue
		}
		binary.BigEndian.PutUint32(h, l)
		if checksum(h, b[8:recHeader+int(l)]) == sum {
			return true
		}
	}
	return false
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// cutTail cuts path at off, preallocates it again (zeros) and syncs it.
func (l *Log) cutTail(path string, off int64) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("write-ahead log: repair %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("write-ahead log: repair %s: %w", path, err)
	}
	l.preallocate(f)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write-ahead log: repair %s: %w", path, err)
	}
	return nil
}

func (l *Log) preallocate(f *os.File) {
	// Best effort: without it every append also syncs the file's size.
	_ = unix.Fallocate(int(f.Fd()), 0, 0, l.opt.SegmentSize)
}

// tmpSuffix names a segment being created (renamed once its header is
// synced).
const tmpSuffix = ".tmp"

// writeHeader creates the segment path with its header: under a
// temporary name, written, preallocated and synced, then renamed and
// the directory synced (as etcd does), so that a segment under its
// name always has its header on disk.
func (l *Log) writeHeader(path string) error {
	tmp := path + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	defer f.Close()
	h := append(append([]byte{}, magic...), 0, 0, 0, 0, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(h[8:], Version)
	if _, err := f.WriteAt(h, 0); err != nil {
		return fmt.Errorf("write-ahead log: %s: %w", tmp, err)
	}
	l.preallocate(f)
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write-ahead log: %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	return syncDir(l.dir)
}

// cut starts a new segment at l.next and makes it current.
func (l *Log) cut() error {
	path := filepath.Join(l.dir, segName(l.next))
	if err := l.writeHeader(path); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	if l.f != nil {
		_ = l.f.Close()
	}
	l.f, l.off = f, segHeader
	if len(l.segs) == 0 || l.segs[len(l.segs)-1] != l.next {
		l.segs = append(l.segs, l.next)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write-ahead log: sync %s: %w", dir, err)
	}
	return nil
}

// Append writes one record holding data and syncs it (fdatasync); it
// returns the record's LSN once the record is durable.
func (l *Log) Append(data []byte) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	if l.off > segHeader && l.off+recHeader+int64(len(data)) > l.opt.SegmentSize {
		if err := l.cut(); err != nil {
			return 0, err
		}
	}
	lsn := l.next
	b := l.buf[:0]
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, lsn)
	b = append(b, data...)
	binary.BigEndian.PutUint32(b[4:], checksum(b[:4], b[8:]))
	l.buf = b
	if _, err := l.f.WriteAt(b, l.off); err != nil {
		l.err = fmt.Errorf("%w: %s: %w", ErrBroken, l.f.Name(), err)
		return 0, l.err
	}
	if err := fdatasync(int(l.f.Fd())); err != nil {
		l.err = fmt.Errorf("%w: sync %s: %w", ErrBroken, l.f.Name(), err)
		return 0, l.err
	}
	l.off += int64(len(b))
	l.next++
	if cap(l.buf) > 1<<20 {
		l.buf = nil // a large record's buffer is not kept
	}
	return lsn, nil
}

// Next is the LSN the next Append will get.
func (l *Log) Next() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// Release deletes the segments whose records all have LSN <= upto.
func (l *Log) Release(upto uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.release(upto)
}

func (l *Log) release(upto uint64) error {
	var errs []error
	removed := false
	for len(l.segs) > 1 && l.segs[1]-1 <= upto {
		path := filepath.Join(l.dir, segName(l.segs[0]))
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			break
		}
		l.segs = l.segs[1:]
		removed = true
	}
	if removed {
		if err := syncDir(l.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("write-ahead log: release: %w", errors.Join(errs...))
	}
	return nil
}

// Segments returns the paths of the segments on disk, oldest first.
func (l *Log) Segments() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.segs {
		out = append(out, filepath.Join(l.dir, segName(s)))
	}
	return out
}

// Close closes the current segment.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if l.err == nil {
		l.err = ErrBroken
	}
	if err != nil {
		return fmt.Errorf("write-ahead log: %w", err)
	}
	return nil
}
