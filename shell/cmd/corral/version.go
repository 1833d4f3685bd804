package main

import (
	"fmt"
	"io"
	"runtime"
)

func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "corral version: takes no arguments")
		return 2
	}
	fmt.Fprintf(stdout, "corral %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return 0
}
