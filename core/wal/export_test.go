package wal

// setFdatasync replaces the sync of appends until the test ends.
func setFdatasync(f func(fd int) error) (restore func()) {
	old := fdatasync
	fdatasync = f
	return func() { fdatasync = old }
}
