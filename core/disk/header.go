package disk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of the header block at the start of a backing
// store; the data starts at Header.DataOffset (HeaderSize for a store
// corral created).
const HeaderSize = 4096

// headerMagic opens every header block.
var headerMagic = [8]byte{'C', 'O', 'R', 'R', 'A', 'L', 'D', 'K'}

// headerVersion is the header block's format.
const headerVersion = 1

// maxHeaderName bounds the cluster, disk and server names in a header.
const maxHeaderName = 255

// Errors of ParseHeader.
var (
	// ErrNoHeader: the block does not start with the magic (a new, zeroed
	// store, or not corral's).
	ErrNoHeader = errors.New("disk: no corral header in the backing store")
	// ErrBadHeader: the magic is there but the block is corrupt or of an
	// unknown version.
	ErrBadHeader = errors.New("disk: corrupt or unknown header block")
)

// Header is the backing store's header block: which cluster and disk it
// belongs to, the epoch of the last server that took it, and where the
// data lives. A server takes the store's lock, reads the header, writes
// it back with Epoch+1 and its own name and boot id, syncs, and only then
// serves (G6).
type Header struct {
	Cluster    string
	Disk       string
	Epoch      uint64
	Server     string // the node name of the server that wrote Epoch
	Boot       uint32 // its boot id
	DataOffset uint64 // where block 0 of the disk is in the store
	Size       uint64 // the disk's data size in bytes
}

// Marshal encodes h as a HeaderSize block: magic, version, the fields,
// and a CRC-32C of everything before it.
func (h Header) Marshal() []byte {
	b := make([]byte, HeaderSize)
	copy(b, headerMagic[:])
	binary.BigEndian.PutUint32(b[8:], headerVersion)
	o := 12
	put := func(s string) {
		if len(s) > maxHeaderName {
			s = s[:maxHeaderName]
		}
		b[o] = byte(len(s))
		copy(b[o+1:], s)
		o += 1 + len(s)
	}
	put(h.Cluster)
	put(h.Disk)
	put(h.Server)
	binary.BigEndian.PutUint64(b[o:], h.Epoch)
	binary.BigEndian.PutUint32(b[o+8:], h.Boot)
	binary.BigEndian.PutUint64(b[o+12:], h.DataOffset)
	binary.BigEndian.PutUint64(b[o+20:], h.Size)
	o += 28
	binary.BigEndian.PutUint32(b[o:], crc32.Checksum(b[:o], crcTable))
	return b
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ParseHeader decodes a header block (at least the bytes Marshal wrote).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < 12 || [8]byte(b[:8]) != headerMagic {
		return h, ErrNoHeader
	}
	if v := binary.BigEndian.Uint32(b[8:]); v != headerVersion {
		return h, fmt.Errorf("version %d: %w", v, ErrBadHeader)
	}
	o := 12
	get := func() (string, bool) {
		if o >= len(b) || o+1+int(b[o]) > len(b) {
			return "", false
		}
		s := string(b[o+1 : o+1+int(b[o])])
		o += 1 + int(b[o])
		return s, true
	}
	var ok1, ok2, ok3 bool
	h.Cluster, ok1 = get()
	h.Disk, ok2 = get()
	h.Server, ok3 = get()
	if !ok1 || !ok2 || !ok3 || o+32 > len(b) {
		return Header{}, fmt.Errorf("truncated: %w", ErrBadHeader)
	}
	h.Epoch = binary.BigEndian.Uint64(b[o:])
	h.Boot = binary.BigEndian.Uint32(b[o+8:])
	h.DataOffset = binary.BigEndian.Uint64(b[o+12:])
	h.Size = binary.BigEndian.Uint64(b[o+20:])
	o += 28
	if got, want := binary.BigEndian.Uint32(b[o:]), crc32.Checksum(b[:o], crcTable); got != want {
		return Header{}, fmt.Errorf("checksum %08x, want %08x: %w", got, want, ErrBadHeader)
	}
	return h, nil
}
