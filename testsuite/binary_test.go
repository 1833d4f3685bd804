package testsuite

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// corralBin returns the binary under test: $CORRAL_BIN, or one built once
// for this test process.
func corralBin(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("CORRAL_BIN"); b != "" {
		return b
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "corral-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "corral")
		cmd := exec.Command("go", "build", "-o", builtBin, "../shell/cmd/corral")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = err
			builtBin = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("building corral: %v\n%s", buildErr, builtBin)
	}
	return builtBin
}

// result is what one run of the binary printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// corral runs the binary with args in dir and returns its output.
func corral(t testing.TB, dir string, args ...string) result {
	t.Helper()
	cmd := exec.Command(corralBin(t), args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running corral %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}
