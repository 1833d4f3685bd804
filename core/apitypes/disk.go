package apitypes

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DiskStatus is one served disk as `disks --json` prints it (GET
// /v1/disks): what the config DB defines (size, backing, group) and what
// this node knows of its server and its own requests.
type DiskStatus struct {
	Name string `json:"name"`
	// Server is the node that serves it, null while none does (as far as
	// this node knows).
	Server *string `json:"server"`
	Epoch  uint64  `json:"epoch"` // the server's epoch (0 while none)
	// State: "serving", "recovering" (requests wait for a server),
	// "stopped" (none serves), or the group's state (failed, blocked,
	// starting, stopping) while the resource manager has not started it.
	State   string   `json:"state"`
	Reason  string   `json:"reason,omitempty"` // the group's reason when it is not online
	Clients []string `json:"clients"`          // the server's clients in this epoch, as it announced them
	Size    uint64   `json:"size"`             // data bytes
	Backing string   `json:"backing"`
	Group   string   `json:"group"`
	Serving bool     `json:"serving"` // this node serves it
	// This node's requests: not yet answered, and answered OK by kind.
	Pending int    `json:"pending"`
	Reads   uint64 `json:"reads"`
	Writes  uint64 `json:"writes"`
	Flushes uint64 `json:"flushes"`
	// Requests this node served for remote clients.
	ServedReads  uint64 `json:"served_reads"`
	ServedWrites uint64 `json:"served_writes"`
	// This node's export: requests by path (local: the fast path on the
	// server; remote: shipped to the server), bytes and errors.
	Local        uint64 `json:"local"`
	Remote       uint64 `json:"remote"`
	BytesRead    uint64 `json:"bytes_read"`
	BytesWritten uint64 `json:"bytes_written"`
	Errors       uint64 `json:"errors"`
}

// DiskAddRequest is the body of POST /v1/disks: a disk NAME of Size data
// bytes on the backing store Backing (an absolute path, the same on every
// server), served by one of Servers (configured node names), in a group
// of its own named as the disk, or at the head of the existing group
// Group.
type DiskAddRequest struct {
	Name    string   `json:"name"`
	Backing string   `json:"backing"`
	Size    Size     `json:"size"`
	Servers []string `json:"servers,omitempty"`
	Group   string   `json:"group,omitempty"`
}

// DiskResult answers POST /v1/disks and DELETE /v1/disks/NAME.
type DiskResult struct {
	Disk  string `json:"disk"`
	Op    string `json:"op"` // add, delete
	Group string `json:"group"`
	// GroupOp says what happened to the group: "created", "joined" (the
	// disk went to the head of an existing group), "deleted" (it held
	// nothing else), "kept".
	GroupOp  string `json:"group_op"`
	Size     uint64 `json:"size,omitempty"`
	Revision uint64 `json:"revision"`
}

// Size is a size in bytes that JSON gives as a number (bytes) or a
// string ParseSize reads ("256MiB").
type Size uint64

// UnmarshalJSON reads a number of bytes or a size string.
func (s *Size) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case float64:
		n, err := ParseSize(string(b))
		if err != nil {
			return fmt.Errorf("size %v: %w", v, err)
		}
		*s = Size(n)
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*s = Size(n)
	default:
		return fmt.Errorf("size: give bytes (a number) or a string such as \"256MiB\"")
	}
	return nil
}

// ErrSize is the error of ParseSize (errors.Is).
var ErrSize = errors.New("bad size")

// sizeUnits are the suffixes ParseSize takes: binary multiples, as
// qemu-img and dd read K, M, G and T.
var sizeUnits = []struct {
	suffix string
	mult   uint64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40},
	{"B", 1},
}

// ParseSize reads a size in bytes: a whole number, optionally followed by
// B, K/KiB, M/MiB, G/GiB or T/TiB (binary multiples: 256MiB, 1G). It is
// the one parser of sizes the API and the shell share.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	mult := uint64(1)
	num := t
	for _, u := range sizeUnits {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	if num != "" && strings.ContainsAny(num[len(num)-1:], "kKmMgGtT") {
		return 0, fmt.Errorf("size %q: %w: units are binary: write KiB, MiB, GiB or TiB (or K, M, G, T), e.g. 256MiB", s, ErrSize)
	}
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w: give bytes or a whole number with a unit, e.g. 268435456 or 256MiB", s, ErrSize)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("size %q: %w: too large", s, ErrSize)
	}
	return n * mult, nil
}

// FormatSize writes a size in bytes the way people read it: the largest
// binary unit that divides it (256MiB), else bytes.
func FormatSize(n uint64) string {
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatUint(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatUint(n, 10)
}
