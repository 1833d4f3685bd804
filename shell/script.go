package shell

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// Script runs commands from r, one per line: blank lines and lines whose
// first word starts with # are skipped. It stops at the first failing line
// (reported as NAME:LINE: error) unless keepGoing, and returns the exit
// status: 0 if every line succeeded, else that of the first failure.
func (s *Shell) Script(r io.Reader, name string, keepGoing bool, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	status, lineNo := 0, 0
	s.session = true
	defer func() { s.session = false }()
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		err := s.Exec(ctx, line)
		if errors.Is(err, errExit) {
			return status
		}
		if err == nil {
			continue
		}
		code := exitStatus(err)
		if s.json {
			reportJSONAt(stderr, err, fmt.Sprintf("%s:%d", name, lineNo))
		} else {
			fmt.Fprintf(stderr, "corral shell: %s:%d: %s: %v\n", name, lineNo, line, err)
		}
		if status == 0 {
			status = code
		}
		if ctx.Err() != nil {
			return status
		}
		if !keepGoing {
			if s.json {
				return status // the JSON error's "where" names the line
			}
			fmt.Fprintf(stderr, "corral shell: stopped at %s:%d (--keep-going runs the remaining lines)\n", name, lineNo)
			return status
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(stderr, "corral shell: reading %s: %v\n", name, err)
		return 1
	}
	if st := s.stage; st != nil {
		s.stage = nil
		fmt.Fprintf(stderr, "corral shell: %s ends with a staged session open (%d change(s) not committed): end it with commit or abort\n", name, len(st.changes()))
		if status == 0 {
			status = 1
		}
	}
	return status
}
