package config

import (
	"fmt"
	"os"
)

// SecretFiles are the files of this configuration that hold secrets: the
// cluster key, and the API's token and TLS private key when set.
func (c *Config) SecretFiles() []struct{ Key, Path string } {
	out := []struct{ Key, Path string }{{"key_file", c.KeyFile}}
	if c.API.TokenFile != "" {
		out = append(out, struct{ Key, Path string }{"api.token_file", c.API.TokenFile})
	}
	if c.API.TLSKey != "" {
		out = append(out, struct{ Key, Path string }{"api.tls_key", c.API.TLSKey})
	}
	return out
}

// CheckSecretModes reports every secret file (SecretFiles) that its group
// or others may read or write: the agent refuses to start with one, and
// check-config names it. Files that cannot be stat'ed are left to the
// code that reads them.
func (c *Config) CheckSecretModes() error {
	var ps Problems
	for _, f := range c.SecretFiles() {
		if err := SecretMode(f.Path); err != nil {
			ps = append(ps, c.problem(f.Key, err.Error()))
		}
	}
	if len(ps) > 0 {
		return ps
	}
	return nil
}

// SecretMode returns an error naming path and the fix when the file is
// open to its group or to others (any of the mode bits 0077).
func SecretMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%s holds a secret and is open to its group or others (mode %04o): restrict it with 'chmod 600 %s'", path, m, path)
	}
	return nil
}
