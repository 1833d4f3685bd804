package node

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/corral-ha/corral/core/disk"
)

// This file is the served disk's backing store on the serving node: the
// open file that holds the OFD write lock on the header block, the header
// this process wrote (its epoch), and the block I/O at the data offset
// (design 2: the built-in agent's start, monitor and stop; design 3: the
// fast path and Ready.DiskIO run on it).

// errDiskConfig wraps a start's failure that is the configuration's (a
// store of another cluster, disk or size; bad parameters): the agent
// reports it as a configuration error, never the node's.
var errDiskConfig = errors.New("disk configuration")

// errStoreLocked: another open file (another server process, or one that
// is paused) holds the header block's lock.
var errStoreLocked = errors.New("the backing store is locked by another server: a stale server still runs; fence it or stop it")

// errRange: a request beyond the disk's size.
var errRange = errors.New("request beyond the end of the disk")

// diskStore is one backing store this process serves from.
type diskStore struct {
	path string
	f    *os.File
	hdr  disk.Header // as this process wrote it (its epoch)
}

// headerLock is the OFD write lock on the header block (l_type set by
// the caller).
func headerLock(typ int16) unix.Flock_t {
	return unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: 0, Len: disk.HeaderSize}
}

// openDiskStore opens (creating it sparse if missing) the backing store
// at path for disk name of cluster, takes the OFD write lock on its
// header block (non-blocking), reads the header (initialising a new
// store), extends a store that is too small (sparse), writes the header
// back with Epoch+1, this node's name and boot id, and syncs it. The
// store is then this process's until close.
func openDiskStore(path, cluster, name string, size uint64, self string, boot uint32) (*diskStore, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("backing store %s: %w: create its folder, or fix the disk's backing path", path, err)
	}
	s := &diskStore{path: path, f: f}
	lk := headerLock(unix.F_WRLCK)
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		_ = f.Close()
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("backing store %s: %w", path, errStoreLocked)
		}
		return nil, fmt.Errorf("backing store %s: cannot lock its header block (%w): put the store on a file system with OFD locks (a local one, or a block device)", path, err)
	}
	fail := func(err error) (*diskStore, error) {
		s.unlockClose()
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Errorf("backing store %s: %w", path, err))
	}
	blk := make([]byte, disk.HeaderSize)
	if _, err := f.ReadAt(blk, 0); err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("backing store %s: reading the header: %w: check the device", path, err))
	}
	h, err := disk.ParseHeader(blk)
	switch {
	case errors.Is(err, disk.ErrNoHeader):
		if fi.Size() > 0 && !bytes.Equal(blk, make([]byte, disk.HeaderSize)) {
			return fail(fmt.Errorf("backing store %s holds data but no corral header: it is not this disk's store (a corral store starts with a header block); give the disk a new or zeroed backing path: %w", path, errDiskConfig))
		}
		h = disk.Header{Cluster: cluster, Disk: name, DataOffset: disk.HeaderSize, Size: size}
	case err != nil:
		return fail(fmt.Errorf("backing store %s: %w: restore it from a backup or give the disk a new backing path: %w", path, err, errDiskConfig))
	case h.Cluster != cluster || h.Disk != name:
		return fail(fmt.Errorf("backing store %s belongs to disk %s of cluster %s, not %s of %s: give the disk its own backing path: %w", path, h.Disk, h.Cluster, name, cluster, errDiskConfig))
	case h.Size != size:
		return fail(fmt.Errorf("backing store %s holds a disk of %d bytes, not %d: set the disk's size to %d (a disk is not resized): %w", path, h.Size, size, h.Size, errDiskConfig))
	case h.DataOffset < disk.HeaderSize:
		return fail(fmt.Errorf("backing store %s: header's data offset %d is inside the header: restore it or give a new path: %w", path, h.DataOffset, errDiskConfig))
	}
	if end := int64(h.DataOffset + h.Size); fi.Size() < end {
		if err := f.Truncate(end); err != nil { // sparse
			return fail(fmt.Errorf("backing store %s: extending it to %d bytes: %w: free space or fix the backing path", path, end, err))
		}
	}
	h.Epoch++
	h.Server, h.Boot = self, boot
	if _, err := f.WriteAt(h.Marshal(), 0); err != nil {
		return fail(fmt.Errorf("backing store %s: writing the header: %w: check the device", path, err))
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fail(fmt.Errorf("backing store %s: syncing the header: %w: check the device", path, err))
	}
	s.hdr = h
	return s, nil
}

// check is the monitor's test: the lock is still this file's (taking it
// again on the same open file description succeeds only then) and the
// header still carries this process's epoch and name.
func (s *diskStore) check() error {
	lk := headerLock(unix.F_WRLCK)
	if err := unix.FcntlFlock(s.f.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		return fmt.Errorf("backing store %s: the header lock is no longer this server's (%w): another server may write; fence this node or stop it", s.path, err)
	}
	h, err := s.readHeader()
	if err != nil {
		return err
	}
	if h.Epoch != s.hdr.Epoch || h.Server != s.hdr.Server || h.Boot != s.hdr.Boot {
		return fmt.Errorf("backing store %s: the header is at epoch %d of %s, this server wrote epoch %d: a newer server took the disk; this node stopped serving it", s.path, h.Epoch, h.Server, s.hdr.Epoch)
	}
	return nil
}

// readHeader reads the header block again.
func (s *diskStore) readHeader() (disk.Header, error) {
	blk := make([]byte, disk.HeaderSize)
	if _, err := s.f.ReadAt(blk, 0); err != nil && !errors.Is(err, io.EOF) {
		return disk.Header{}, fmt.Errorf("backing store %s: reading the header: %w: check the device", s.path, err)
	}
	h, err := disk.ParseHeader(blk)
	if err != nil {
		return disk.Header{}, fmt.Errorf("backing store %s: the header is gone or corrupt (%w): something else wrote it; fence or stop it", s.path, err)
	}
	return h, nil
}

// close syncs, unlocks and closes the store (the fast path and the
// store's I/O have stopped).
func (s *diskStore) close() error {
	err := unix.Fdatasync(int(s.f.Fd()))
	s.unlockClose()
	if err != nil {
		return fmt.Errorf("backing store %s: final sync: %w", s.path, err)
	}
	return nil
}

func (s *diskStore) unlockClose() {
	lk := headerLock(unix.F_UNLCK)
	_ = unix.FcntlFlock(s.f.Fd(), unix.F_OFD_SETLK, &lk)
	_ = s.f.Close() // (closing drops the lock anyway)
}

// pos turns a data-space range into a file offset, refusing one beyond
// the disk.
func (s *diskStore) pos(off uint64, n uint64) (int64, error) {
	if off > s.hdr.Size || n > s.hdr.Size-off {
		return 0, fmt.Errorf("%d bytes at %d of %d: %w", n, off, s.hdr.Size, errRange)
	}
	return int64(s.hdr.DataOffset + off), nil
}

func (s *diskStore) sync() error { return unix.Fdatasync(int(s.f.Fd())) }

// readAt reads len(p) bytes at off of the data space.
func (s *diskStore) readAt(p []byte, off uint64) error {
	pos, err := s.pos(off, uint64(len(p)))
	if err != nil {
		return err
	}
	n, err := s.f.ReadAt(p, pos)
	if errors.Is(err, io.EOF) { // (the store was extended: a hole reads zeroes)
		clear(p[n:])
		err = nil
	}
	return err
}

// writeAt writes p at off; fua: synced before it returns.
func (s *diskStore) writeAt(p []byte, off uint64, fua bool) error {
	pos, err := s.pos(off, uint64(len(p)))
	if err != nil {
		return err
	}
	if _, err := s.f.WriteAt(p, pos); err != nil {
		return err
	}
	if fua {
		return s.sync()
	}
	return nil
}

// trim punches a hole (advisory: a file system without holes keeps the
// data, which NBD allows).
func (s *diskStore) trim(off uint64, n uint32, fua bool) error {
	pos, err := s.pos(off, uint64(n))
	if err != nil || n == 0 {
		return err
	}
	err = unix.Fallocate(int(s.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, pos, int64(n))
	if err != nil && !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return err
	}
	if fua {
		return s.sync()
	}
	return nil
}

// zeroChunk bounds the buffer of zeroes written when the file system
// cannot zero a range itself.
const zeroChunk = 1 << 20

// zero writes zeroes: a punched hole unless noHole, else an allocated
// zeroed range; written zeroes when the file system does neither.
func (s *diskStore) zero(off uint64, n uint32, fua, noHole bool) error {
	pos, err := s.pos(off, uint64(n))
	if err != nil || n == 0 {
		return err
	}
	fd := int(s.f.Fd())
	mode := uint32(unix.FALLOC_FL_ZERO_RANGE | unix.FALLOC_FL_KEEP_SIZE)
	if !noHole {
		mode = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE
	}
	if err = unix.Fallocate(fd, mode, pos, int64(n)); err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EINVAL) {
			return err
		}
		buf := make([]byte, min(int(n), zeroChunk))
		for left := int64(n); left > 0; {
			k := min(left, int64(len(buf)))
			if _, err := s.f.WriteAt(buf[:k], pos); err != nil {
				return err
			}
			pos += k
			left -= k
		}
	}
	if fua {
		return s.sync()
	}
	return nil
}

// errnoOf is the disk result of a store operation's error.
func errnoOf(err error) disk.Errno {
	switch {
	case err == nil:
		return disk.OK
	case errors.Is(err, errRange):
		return disk.EINVAL
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EDQUOT):
		return disk.ENOSPC
	}
	return disk.EIO
}

// do carries out one disk.IO (a remote client's request, Ready.DiskIO).
func (s *diskStore) do(io disk.IO) disk.IODone {
	d := disk.IODone{ID: io.ID}
	var err error
	switch io.Op {
	case disk.OpRead:
		d.Data = make([]byte, io.Len)
		if err = s.readAt(d.Data, io.Off); err != nil {
			d.Data = nil
		}
	case disk.OpWrite:
		if uint32(len(io.Data)) != io.Len {
			err = fmt.Errorf("write of %d bytes carries %d: %w", io.Len, len(io.Data), errRange)
			break
		}
		err = s.writeAt(io.Data, io.Off, io.FUA)
	case disk.OpFlush:
		err = s.sync()
	case disk.OpTrim:
		err = s.trim(io.Off, io.Len, io.FUA)
	case disk.OpZero:
		err = s.zero(io.Off, io.Len, io.FUA, io.NoHole)
	default:
		err = fmt.Errorf("op %d: %w", io.Op, errRange)
	}
	d.Err = errnoOf(err)
	return d
}
