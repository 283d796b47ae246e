package relaistest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RunWithRelais builds ./cmd/relais into a temporary directory (go build
// with buildFlags, e.g. "-race"), stores the binary's path in *bin, runs
// the tests and returns their exit code for os.Exit. The binary is removed
// once the tests are done; a failed build fails the whole package.
func RunWithRelais(m *testing.M, bin *string, buildFlags ...string) int {
	tmp, err := os.MkdirTemp("", "relais-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := ModuleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*bin = filepath.Join(tmp, "relais")
	args := append([]string{"build", "-buildvcs=false", "-o", *bin}, buildFlags...)
	build := exec.Command("go", append(args, "./cmd/relais")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/relais: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// ModuleRoot walks up from the test's directory to go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// CleanEnv is the environment without RELAIS_* variables, so a developer's
// settings cannot leak into the processes under test.
func CleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAIS_") {
			env = append(env, kv)
		}
	}
	return env
}
