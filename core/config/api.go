package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// minTokenLen is the shortest bearer token accepted for the TCP listener.
const minTokenLen = 16

// LoadAPIToken reads the admin API's bearer token from api.token_file:
// the file's contents without surrounding blanks, at least 16 characters.
func (c *Config) LoadAPIToken() (string, error) {
	if c.API.TokenFile == "" {
		return "", c.problem("api.token_file", "not set: a TCP listener needs a token file (e.g. 'corral keygen api.token')")
	}
	data, err := os.ReadFile(c.API.TokenFile)
	if err != nil {
		return "", c.problem("api.token_file", fmt.Sprintf("cannot read the API token: %v; create one with 'corral keygen %s'", errors.Unwrap(err), c.API.TokenFile))
	}
	tok := strings.TrimSpace(string(data))
	if len(tok) < minTokenLen || strings.ContainsAny(tok, " \t\r\n") {
		return "", c.problem("api.token_file", fmt.Sprintf("%s: the token must be one word of at least %d characters: make one with 'corral keygen %s'", c.API.TokenFile, minTokenLen, c.API.TokenFile))
	}
	return tok, nil
}
