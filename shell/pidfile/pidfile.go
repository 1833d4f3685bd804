// Package pidfile reads the pid files the agent writes (pid_file): the
// agent's own checks and `corral demo` read them back.
package pidfile

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Read reads a pid file's number.
func Read(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s does not hold a process id", path)
	}
	return pid, nil
}
