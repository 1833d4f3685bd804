package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/corral-ha/corral/core/config"
)

// runKeygen is `corral keygen [FILE]`: a new random key, base64, printed
// or written to FILE with mode 0600 (a new file only: an existing key is
// never overwritten).
func runKeygen(args []string, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprintln(stderr, "corral keygen: give at most one file: corral keygen cluster.key (written with mode 0600)")
		return 2
	}
	key := make([]byte, config.KeySize)
	if _, err := rand.Read(key); err != nil {
		fmt.Fprintf(stderr, "corral keygen: %v\n", err)
		return 1
	}
	text := base64.StdEncoding.EncodeToString(key) + "\n"
	if len(args) == 0 {
		fmt.Fprint(stdout, text)
		return 0
	}
	if err := writeSecretFile(args[0], []byte(text)); err != nil {
		fmt.Fprintf(stderr, "corral keygen: %v\n", err)
		return 1
	}
	return 0
}

// writeSecretFile creates path with mode 0600 (whatever the umask), never
// following a symlink and never replacing an existing file.
func writeSecretFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists: a key is never overwritten; remove it first if you mean to replace it (every node needs the new one)", path)
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
