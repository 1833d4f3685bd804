package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"

	"github.com/corral-ha/corral/core/config"
)

func runKeygen(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "corral keygen: takes no arguments; redirect the output to a file: corral keygen > cluster.key")
		return 2
	}
	key := make([]byte, config.KeySize)
	if _, err := rand.Read(key); err != nil {
		fmt.Fprintf(stderr, "corral keygen: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(key))
	return 0
}
