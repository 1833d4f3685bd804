package node

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrDiskFull means the file system under the data directory is (nearly)
// full. A config DB write is refused before it is proposed (nothing is
// written anywhere); a write the node must make that fails with ENOSPC
// stops the node, its data intact, and says so.
var ErrDiskFull = errors.New("disk full")

// minFreeBytes is the space the data directory's file system must have
// free for the node to propose a config DB write: a write is small, but
// the store may grow its file, and the node's own state (promises,
// lineage) must still fit after it. Below it, writes are refused with
// ErrDiskFull until space returns.
const minFreeBytes = 4 << 20

// checkSpace refuses a write when the data directory's file system has
// less than n.minFree bytes free for unprivileged use (what statfs calls
// available).
func (n *Node) checkSpace() error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(n.cfg.DataDir, &fs); err != nil {
		return nil // unknown: the write itself will say
	}
	free := fs.Bavail * uint64(fs.Bsize)
	if free >= uint64(n.minFree) {
		return nil
	}
	return fmt.Errorf("%w under %s (%d bytes free, a write needs %d): nothing was written; free space there (the node keeps running and takes writes again when there is)",
		ErrDiskFull, n.cfg.DataDir, free, n.minFree)
}

// diskFull names the data directory in a failed write that ran out of
// space (ENOSPC), with what to do; other errors are returned as they are.
func (n *Node) diskFull(err error) error {
	if err == nil || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return fmt.Errorf("%w under %s: %w: free space there and start the node again: its data is intact (a write that failed was never acknowledged)",
		ErrDiskFull, n.cfg.DataDir, err)
}
