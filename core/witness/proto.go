package witness

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxFrame bounds one request or answer.
const maxFrame = 64 << 10

// ErrAuth means a frame's HMAC did not verify: wrong cluster key, or
// tampering.
var ErrAuth = errors.New("witness: authentication failed (is the arbiter using this cluster's key?)")

// View is a view as the arbiter sees it.
type View struct {
	Epoch   uint64   `json:"epoch"`
	Coord   uint16   `json:"coord"`
	Members []uint16 `json:"members"`
}

// Request asks for the arbiter's vote for a view's member set.
type Request struct {
	Cluster   string `json:"cluster"`
	Node      uint16 `json:"node"`
	Nonce     []byte `json:"nonce"`
	View      View   `json:"view"`      // the view (proposed or installed)
	Installed bool   `json:"installed"` // View is installed and primary: record it as LP
}

// Answer is the arbiter's reply.
type Answer struct {
	Nonce   []byte `json:"nonce"`
	Granted bool   `json:"granted"`
	LeaseMS int64  `json:"lease_ms"` // how long the vote holds, from when the request was sent
	Reason  string `json:"reason,omitempty"`
	LP      *View  `json:"lp,omitempty"`
}

// macKey derives the HMAC key from the cluster key (the key alone: an
// arbiter need not be told the cluster's name).
func macKey(clusterKey []byte) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, clusterKey, nil, "corral arbiter v1", 32)
	if err != nil {
		return nil, fmt.Errorf("witness: derive key: %w", err)
	}
	return k, nil
}

// writeFrame writes len | json | hmac.
func writeFrame(w io.Writer, key []byte, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	m := hmac.New(sha256.New, key)
	m.Write(body)
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	buf = append(buf, body...)
	buf = m.Sum(buf)
	_, err = w.Write(buf)
	return err
}

// readFrame reads and verifies a frame into v.
func readFrame(r io.Reader, key []byte, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("witness: frame of %d bytes is over the %d limit", n, maxFrame)
	}
	buf := make([]byte, n+sha256.Size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return err
	}
	body, sum := buf[:n], buf[n:]
	m := hmac.New(sha256.New, key)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), sum) {
		return ErrAuth
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("witness: bad frame: %w", err)
	}
	return nil
}
