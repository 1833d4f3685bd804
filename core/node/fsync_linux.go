package node

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its timestamps (the journal's
// blocks are preallocated: no metadata needs writing).
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
